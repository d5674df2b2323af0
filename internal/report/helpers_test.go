package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	reportcmd "github.com/connlint/connlint/internal/cmd/report"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/report"
	"github.com/connlint/connlint/reassembly"
)

// sink keeps what the page needs, as a caller of report does.
type sink struct {
	findings []*analyze.Finding
	conns    []*analyze.ConnReport
}

func (s *sink) Finding(f *analyze.Finding)       { s.findings = append(s.findings, f) }
func (s *sink) Connection(c *analyze.ConnReport) { s.conns = append(s.conns, c) }

func labPath(name string) string {
	return filepath.Join("..", "..", "testdata", "lab", name+".pcap")
}

// buildInput runs the real pipeline (internal/pipeline)
// over the files, then the second pass for the diagrams.
func buildInput(t testing.TB, paths ...string) *report.Input {
	t.Helper()
	src, err := capture.OpenFiles(paths, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := &sink{}
	// the same path every command takes (internal/pipeline)
	res := pipeline.Run(src, pipeline.Options{Config: analyze.DefaultConfig(), Sink: s})
	if res.ReadErr != nil {
		t.Fatal(res.ReadErr)
	}
	sum := res.Summary
	in := &report.Input{Inputs: src.Inputs(), Summary: sum, Conns: s.conns, Findings: s.findings}
	st, err := report.CollectEvidence(in, paths, capture.FileOptions{}, reassembly.Options{}, evidence.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Mismatched != 0 || st.NotFound != 0 {
		t.Errorf("second pass disagreed with the first: %+v", st)
	}
	return in
}

// writeReport writes the page to dir/name.html and returns its path.
func writeReport(t testing.TB, in *report.Input, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name+".html")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.Write(f, in); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// commandReport writes the page with the `connlint report` command (its
// bounded Collector and second pass) and returns its path and input.
func commandReport(t testing.TB, capture, out string) (string, *report.Input) {
	t.Helper()
	ios, _, _, errb := iostreams.Test()
	var in *report.Input
	cmd := reportcmd.NewCmdReport(&cli.Factory{IO: ios}, func(o *reportcmd.Options) error {
		o.Stats = func(s reportcmd.Stats) { in = s.Input }
		return reportcmd.Run(o)
	})
	cmd.SetArgs([]string{"--config", "", "-o", out, capture})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err != nil {
		t.Fatalf("connlint report: %v\n%s", err, errb)
	}
	return out, in
}
