package sniff

import (
	"encoding/json"
	"os"
	"path/filepath"
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

// fileLive feeds a capture file to Run in place of an interface.
type fileLive struct{ capture.Source }

func (fileLive) Interrupt()        {}
func (fileLive) Listening() string { return "listening on test" }
func (f fileLive) Files() []string { return nil }

// runSniff runs `connlint sniff ARGS` over the lab Nagle capture (11
// nagle-delayed-ack findings on 198.18.2.2:80) and returns stdout, the
// NDJSON findings and the summary record.
func runSniff(t *testing.T, args ...string) (stdout string, findings []map[string]any, sum map[string]any) {
	t.Helper()
	ios, _, out, stderr := iostreams.Test()
	cmd := NewCmdSniff(&cli.Factory{IO: ios, Version: "v9.9.9"}, func(o *Options) error {
		o.Open = func(capture.LiveOptions) (capture.LiveSource, error) {
			src, err := capture.OpenFiles([]string{"../../../testdata/lab/nagle-delayed-ack.pcap"}, capture.FileOptions{})
			return fileLive{src}, err
		}
		return Run(o)
	})
	cmd.SetArgs(append([]string{"-i", "lo"}, args...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			continue // text
		}
		if rec["type"] == "summary" {
			sum = rec
		} else {
			findings = append(findings, rec)
		}
	}
	return out.String(), findings, sum
}

// sniff goes through the same gate as analyze: a config suppression hides
// its findings (counted in the summary's run, an unused one named), a
// baseline written by one sniff hides the same findings in the next, and
// the summary names the version.
func TestSniffGate(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.json")
	_, fs, sum := runSniff(t, "--config", "", "--format", "ndjson", "--write-baseline", base)
	if len(fs) != 11 || sum == nil || sum["connlint"] != "v9.9.9" {
		t.Fatalf("plain run: %d findings, summary %v", len(fs), sum)
	}

	_, fs, sum = runSniff(t, "--config", "", "--format", "ndjson", "--baseline", base)
	run, _ := sum["run"].(map[string]any)
	bl, _ := run["baseline"].(map[string]any)
	if len(fs) != 0 || bl["hidden"] != 11.0 || bl["gone"] != 0.0 {
		t.Errorf("with its own baseline: %d findings, run %v", len(fs), run)
	}
	if bs := sum["findings_by_severity"].(map[string]any); len(bs) != 0 {
		t.Errorf("summary still counts hidden findings: %v", bs)
	}

	cfg := filepath.Join(dir, "connlint.yaml")
	os.WriteFile(cfg, []byte(`suppressions:
  - rule: nagle-delayed-ack
    server: 198.18.2.2:80
    reason: lab capture, on purpose
  - rule: pipelining
    reason: never seen here
`), 0o644)
	_, fs, sum = runSniff(t, "--config", cfg, "--format", "ndjson")
	run, _ = sum["run"].(map[string]any)
	if len(fs) != 0 || run["suppressed"] != 11.0 || run["config"] != cfg || len(run["unused_suppressions"].([]any)) != 1 {
		t.Errorf("suppressed: %d findings, run %v", len(fs), run)
	}

	out, _, _ := runSniff(t, "--config", cfg, "--format", "text")
	for _, want := range []string{"11 findings suppressed by " + cfg, "suppression #2 (rule=pipelining) matched no finding"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	// The rule's name appears once: in the input's file name.
	if strings.Count(out, "nagle-delayed-ack") != 1 || !strings.Contains(out, "no findings") {
		t.Errorf("text shows a suppressed finding:\n%s", out)
	}

	report := filepath.Join(dir, "report.json")
	if out, _, _ := runSniff(t, "--config", "", "--format", "json", "-o", report); out != "" {
		t.Errorf("-o: stdout %q", out)
	}
	var doc struct {
		Connlint string `json:"connlint"`
		Findings []any  `json:"findings"`
	}
	b, _ := os.ReadFile(report)
	if err := json.Unmarshal(b, &doc); err != nil || doc.Connlint != "v9.9.9" || len(doc.Findings) != 11 {
		t.Errorf("-o JSON: %v, version %q, %d findings", err, doc.Connlint, len(doc.Findings))
	}
}
