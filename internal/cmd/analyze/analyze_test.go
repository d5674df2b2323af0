package analyze

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/reassembly"
)

const labNagle = "../../../testdata/lab/nagle-delayed-ack.pcap"

func runAnalyze(t *testing.T, ios *iostreams.IOStreams, args ...string) error {
	t.Helper()
	cmd := NewCmdAnalyze(&cli.Factory{IO: ios}, nil)
	cmd.SetArgs(append([]string{"--config", ""}, args...))
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.Execute()
}

// Colour is on only on a terminal, off with NO_COLOR, and --color wins.
func TestColorFollowsTTY(t *testing.T) {
	cases := []struct {
		tty, noColor bool
		flag         string
		want         bool
	}{
		{true, false, "auto", true},
		{false, false, "auto", false},
		{true, true, "auto", false},
		{false, false, "always", true},
		{true, false, "never", false},
	}
	for _, c := range cases {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(c.tty)
		ios.SetNoColor(c.noColor)
		if err := runAnalyze(t, ios, "--color", c.flag, labNagle); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(out.String(), "\x1b["); got != c.want {
			t.Errorf("tty %t NO_COLOR %t --color %s: colour %t, want %t", c.tty, c.noColor, c.flag, got, c.want)
		}
	}
}

// Flag defaults are the packages' defaults, not copies of them.
func TestFlagDefaults(t *testing.T) {
	ios, _, _, _ := iostreams.Test()
	var got *Options
	cmd := NewCmdAnalyze(&cli.Factory{IO: ios}, func(o *Options) error { got = o; return nil })
	cmd.SetArgs([]string{"--config", "", "x.pcap"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	a := got.Flags.AssemblerOptions()
	want := reassembly.Options{MaxConns: reassembly.DefaultMaxConns, MaxOutOfOrderBytes: reassembly.DefaultMaxOutOfOrderBytes,
		MaxOutOfOrderTotal: reassembly.DefaultMaxOutOfOrderTotal, IdleTimeout: reassembly.DefaultIdleTimeout}
	if a != want {
		t.Errorf("assembler options %+v, want %+v", a, want)
	}
	if got.Flags.Format != "text" || got.Paths[0] != "x.pcap" || !got.Progress {
		t.Errorf("options %+v", got)
	}
}

// failWriter fails every write, like stdout on a full disk.
type failWriter struct{ writes int }

var errFull = errors.New("write /dev/stdout: no space left on device")

func (w *failWriter) Write([]byte) (int, error) { w.writes++; return 0, errFull }

// A write error is not lost: the run stops and exits 2 naming it.
func TestWriteErrorExits2(t *testing.T) {
	for _, format := range []string{"text", "json", "ndjson"} {
		ios, _, _, errOut := iostreams.Test()
		w := &failWriter{}
		ios.Out = w
		err := runAnalyze(t, ios, "--format", format, labNagle)
		if !errors.Is(err, errFull) || cli.Exit(err, ios.ErrOut) != cli.ExitBadInput {
			t.Errorf("%s: error %v, want exit 2 wrapping the write error", format, err)
		}
		if got := errOut.String(); got != "connlint: writing output: write /dev/stdout: no space left on device\n" {
			t.Errorf("%s: stderr %q", format, got)
		}
		if w.writes > 1 {
			t.Errorf("%s: %d writes after the first failed", format, w.writes-1)
		}
	}
}

// fakeSource reports a fixed number of bytes read.
type fakeSource struct{ n int64 }

func (f *fakeSource) BytesRead() int64 { return f.n }

// Issue 18: the progress bar's first sample showed "(188 GB/s)": a whole
// first buffered read divided by microseconds. No rate is shown before a
// second has passed, and then it is bytes over the whole elapsed time.
func TestProgressRate(t *testing.T) {
	ios, _, _, errOut := iostreams.Test()
	ios.SetStderrTTY(true)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start.Add(3 * time.Millisecond)
	src := &fakeSource{n: 8 << 20} // the first read: 8 MiB after 3 ms
	p := &progress{bar: progressbar.NewOptions64(400<<20, progressbar.OptionSetWriter(errOut)), src: src, size: 400 << 20,
		start: start, now: func() time.Time { return clock }}
	p.tick()
	if strings.Contains(errOut.String(), "/s") {
		t.Errorf("a rate after 3 ms: %q", errOut.String())
	}
	if !strings.Contains(errOut.String(), "reading 8.4 MB of 419.4 MB") {
		t.Errorf("bytes not shown: %q", errOut.String())
	}
	errOut.Reset()
	clock, src.n = start.Add(2*time.Second), 100e6
	p.tick()
	if !strings.Contains(errOut.String(), "(50.0 MB/s)") || strings.Contains(errOut.String(), "GB/s") {
		t.Errorf("after 2 s and 100 MB: %q, want 50.0 MB/s", errOut.String())
	}
}

// Issue 18 item 8: on a terminal text is wrapped to its width; piped it is not.
func TestWrapToTerminalWidth(t *testing.T) {
	ios, _, out, _ := iostreams.Test()
	if err := runAnalyze(t, ios, labNagle); err != nil {
		t.Fatal(err)
	}
	longest := 0
	for _, l := range strings.Split(out.String(), "\n") {
		longest = max(longest, len([]rune(l)))
	}
	if longest <= 100 {
		t.Fatalf("piped: longest line %d columns; the test needs long lines", longest)
	}
	ios, _, out, _ = iostreams.Test()
	ios.SetStdoutTTY(true)
	ios.SetTerminalWidth(100)
	if err := runAnalyze(t, ios, "--color", "never", labNagle); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if len([]rune(l)) > 100 {
			t.Errorf("line of %d columns on a 100-column terminal: %q", len([]rune(l)), l)
		}
	}
	if !strings.Contains(out.String(), "\n          ") {
		t.Error("no continuation line indented under its paragraph")
	}
}
