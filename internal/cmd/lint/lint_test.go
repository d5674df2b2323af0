package lint

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
)

// --fail-on comes from the flag, else the config file, else "error".
func TestFailOnSources(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("fail-on: warning\n"), 0o644)
	cases := []struct {
		args []string
		want analyze.Severity
	}{
		{[]string{"--config", ""}, analyze.Error},
		{[]string{"--config", cfg}, analyze.Warning},
		{[]string{"--config", cfg, "--fail-on", "info"}, analyze.Info},
	}
	for _, c := range cases {
		ios, _, _, _ := iostreams.Test()
		var got *Options
		cmd := NewCmdLint(&cli.Factory{IO: ios}, func(o *Options) error { got = o; return nil })
		cmd.SetArgs(append(c.args, "x.pcap"))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.FailOn != c.want {
			t.Errorf("%v: fail-on %v, want %v", c.args, got.FailOn, c.want)
		}
	}
}
