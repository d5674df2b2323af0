package report_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/report"
	"github.com/connlint/connlint/reassembly"
)

// boundedSink is a Collector that checks its bounds after every call.
type boundedSink struct {
	t   *testing.T
	c   *report.Collector
	o   report.Options
	max report.Retained
	all sink // everything, to compare with
}

func (s *boundedSink) check() {
	r := s.c.Retained()
	s.max = report.Retained{Findings: max(s.max.Findings, r.Findings), Conns: max(s.max.Conns, r.Conns),
		Pairs: max(s.max.Pairs, r.Pairs), Bars: max(s.max.Bars, r.Bars), ConnFirst: max(s.max.ConnFirst, r.ConnFirst)}
}

func (s *boundedSink) Finding(f *analyze.Finding) {
	s.all.Finding(f)
	s.c.Finding(f)
	s.check()
}

func (s *boundedSink) Connection(c *analyze.ConnReport) {
	s.all.Connection(c)
	s.c.Connection(c)
	s.check()
}

func runInto(t *testing.T, path string, sk analyze.Sink) *analyze.Summary {
	t.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	res := pipeline.Run(src, pipeline.Options{Config: analyze.DefaultConfig(), Sink: sk})
	if res.ReadErr != nil {
		t.Fatal(res.ReadErr)
	}
	return res.Summary
}

// TestCollectorBounded runs the port-churn lab capture (hundreds of
// connections and findings) through a Collector with small bounds: what it
// holds stays under them at every step, its tallies count every finding,
// and the page says how many were left out.
func TestCollectorBounded(t *testing.T) {
	o := report.Options{MaxDiagramsPerRule: 2, MaxConnSections: 3, MaxCleanConns: 4, MaxTimelineConns: 10, MaxTxRows: 2}
	s := &boundedSink{t: t, c: report.NewCollector(o), o: o}
	sum := runInto(t, labPath("port-churn"), s)

	rules := map[string]int{}
	with, clean := 0, 0
	for _, f := range s.all.findings {
		rules[f.Rule]++
	}
	for _, c := range s.all.conns {
		if len(c.Findings) > 0 {
			with++
		} else {
			clean++
		}
	}
	if len(s.all.conns) < 100 || len(s.all.findings) < 100 {
		t.Fatalf("the capture should be large for the bounds: %d connections, %d findings", len(s.all.conns), len(s.all.findings))
	}
	// Bounds: findings ≤ rules × 2; conns ≤ 3 + 4; bars ≤ pairs × 2 × 10;
	// first packets ≤ 2 per kept finding.
	if s.max.Findings > len(rules)*2 {
		t.Errorf("held up to %d findings, bound %d (%d rules × 2)", s.max.Findings, len(rules)*2, len(rules))
	}
	if s.max.Conns > 3+4 {
		t.Errorf("held up to %d connection reports, bound 7", s.max.Conns)
	}
	if s.max.Bars > s.max.Pairs*2*10 {
		t.Errorf("held up to %d bars over %d pairs, bound 20 per pair", s.max.Bars, s.max.Pairs)
	}
	if s.max.ConnFirst > 2*s.max.Findings {
		t.Errorf("held up to %d first packets", s.max.ConnFirst)
	}

	in := s.c.Input()
	in.Summary = sum
	for r, n := range rules {
		if in.Tally[r].Count != n {
			t.Errorf("tally %s = %d, want %d", r, in.Tally[r].Count, n)
		}
	}
	if in.ConnsWithFindings != with || in.CleanConns != clean {
		t.Errorf("connection counts %d with, %d clean; want %d, %d", in.ConnsWithFindings, in.CleanConns, with, clean)
	}
	for _, c := range in.Conns {
		if len(c.Transactions) > o.MaxTxRows {
			t.Errorf("connection %d kept %d transactions, bound %d", c.Conn.ID, len(c.Transactions), o.MaxTxRows)
		}
	}
	if _, err := report.CollectEvidence(in, []string{labPath("port-churn")}, capture.FileOptions{}, reassembly.Options{}, evidence.Limits{}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for r, n := range rules {
		if n > 2 {
			if want := fmt.Sprintf("and %d more %s finding(s)", n-2, r); !strings.Contains(page, want) {
				t.Errorf("page lacks %q", want)
			}
		}
	}
	if want := fmt.Sprintf("%d connection(s) without findings", clean); clean > 0 && !strings.Contains(page, want) {
		t.Errorf("page lacks %q", want)
	}
	if got, want := strings.Count(page, `<figure class="diagram"`), len(report.Drawn(in)); got != want {
		t.Errorf("%d diagrams, want %d", got, want)
	}
}

// TestCollectorKeepsTheWorst: the findings a Collector keeps are the ones
// the page would draw from every finding, and so is the page's diagram count.
func TestCollectorKeepsTheWorst(t *testing.T) {
	for _, name := range []string{"nagle-delayed-ack", "dumb-proxy-keepalive", "port-churn"} {
		t.Run(name, func(t *testing.T) {
			o := report.Options{MaxDiagramsPerRule: 3}
			s := &boundedSink{t: t, c: report.NewCollector(o), o: o}
			sum := runInto(t, labPath(name), s)
			full := &report.Input{Summary: sum, Conns: s.all.conns, Findings: s.all.findings, Options: o}
			in := s.c.Input()
			in.Summary = sum
			a, b := report.Drawn(full), report.Drawn(in)
			if len(a) != len(b) {
				t.Fatalf("drawn %d from the Collector, %d from everything", len(b), len(a))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Errorf("drawn #%d: %s %v, want %s %v", i, b[i].Rule, b[i].Frames, a[i].Rule, a[i].Frames)
				}
			}
		})
	}
}
