package sniff

import (
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/capture"

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

// tcpdump's flags reach the capture options in its units: -B KiB, -C
// millions of bytes, -G seconds.
func TestCaptureFlags(t *testing.T) {
	ios, _, _, stderr := iostreams.Test()
	var got *Options
	cmd := NewCmdSniff(&cli.Factory{IO: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"-i", "lo", "--config", "", "-B", "4096", "-c", "100", "--duration", "90s",
		"-w", "out.pcap", "-G", "60", "-C", "10", "-W", "5", "-s", "10", "--metrics-addr", ":9464"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	l := got.Live
	if l.BufferKiB != 4096 || l.Count != 100 || l.Duration != 90*time.Second || l.WriteFile != "out.pcap" ||
		l.Rotate != (capture.Rotation{Every: time.Minute, FileSize: 10_000_000, MaxFiles: 5}) || l.Immediate {
		t.Errorf("live options %+v", l)
	}
	if got.MetricsAddr != ":9464" {
		t.Errorf("metrics address %q", got.MetricsAddr)
	}
	if !strings.Contains(stderr.String(), "snaplen 10 is shorter than") {
		t.Errorf("no snaplen warning: %q", stderr.String())
	}
}

// Rotation without -w, or negative counts, are usage errors.
func TestCaptureFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"-G", "10"}, {"-W", "3"}, {"-c", "-1"}} {
		ios, _, _, _ := iostreams.Test()
		cmd := NewCmdSniff(&cli.Factory{IO: ios}, func(*Options) error { t.Fatalf("%v ran", args); return nil })
		cmd.SetArgs(append([]string{"-i", "lo", "--config", ""}, args...))
		if err := cmd.Execute(); cli.Exit(err, ios.ErrOut) != cli.ExitBadInput {
			t.Errorf("%v: want exit 2, got %v", args, err)
		}
	}
}
