package sniff

import (
	"testing"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
)

// sniff's output defaults to text on a terminal and to NDJSON in a pipe;
// an explicit --format wins either way.
func TestDefaultFormatFollowsTTY(t *testing.T) {
	cases := []struct {
		tty  bool
		args []string
		want string
	}{
		{true, nil, "text"},
		{false, nil, "ndjson"},
		{false, []string{"--format", "text"}, "text"},
		{true, []string{"--format", "json"}, "json"},
	}
	for _, c := range cases {
		ios, _, _, _ := iostreams.Test()
		ios.SetStdoutTTY(c.tty)
		var got *Options
		cmd := NewCmdSniff(&cli.Factory{IO: ios}, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(append([]string{"-i", "lo", "--config", "", "tcp", "port", "80"}, c.args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.Flags.Format != c.want {
			t.Errorf("tty %t %v: format %q, want %q", c.tty, c.args, got.Flags.Format, c.want)
		}
		if got.Live.Filter != "tcp port 80" || !got.Live.Promisc || got.Live.Interface != "lo" {
			t.Errorf("live options %+v", got.Live)
		}
	}
}

func TestNeedsInterface(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	cmd := NewCmdSniff(&cli.Factory{IO: ios}, func(*Options) error { t.Fatal("ran without -i"); return nil })
	cmd.SetArgs([]string{"--config", ""})
	err := cmd.Execute()
	if cli.Exit(err, ios.ErrOut) != cli.ExitBadInput {
		t.Fatalf("want exit 2, got %v", err)
	}
}
