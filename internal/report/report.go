// Package report writes the HTML report: one self-contained page (inline
// CSS and SVG, no script, no network fetch) that draws each finding as a
// ladder diagram of its evidence segments, each connection's transactions as
// a waterfall, and the connections of each client→server pair on a timeline.
//
// Use:
//
//	in := &report.Input{Inputs: paths, Summary: sum, Conns: conns, Findings: findings}
//	report.CollectEvidence(in, paths, fileOpts, asmOpts, evidence.Limits{}) // second pass
//	report.Write(w, in)
//
// The page stays bounded whatever the capture: at most
// Options.MaxDiagramsPerRule diagrams per rule (worst first, "and K more"),
// at most MaxConnSections connection waterfalls, the connections without
// findings collapsed and capped, and each timeline capped.
package report

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/docs"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/reassembly"
)

// Options bound the page; zero values take the defaults.
type Options struct {
	MaxDiagramsPerRule int // default 5
	MaxConnSections    int // connections with findings that get a waterfall (default 100)
	MaxCleanConns      int // rows in the collapsed table of connections without findings (default 200)
	MaxTimelinePairs   int // client→server pairs drawn on timelines (default 4)
	MaxTimelineConns   int // connections (bars) per timeline (default 300)
	MaxTxRows          int // transactions per waterfall (default 40)
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxDiagramsPerRule, 5)
	def(&o.MaxConnSections, 100)
	def(&o.MaxCleanConns, 200)
	def(&o.MaxTimelinePairs, 4)
	def(&o.MaxTimelineConns, 300)
	def(&o.MaxTxRows, 40)
	return o
}

// Input is what the page shows.
type Input struct {
	Inputs  []string // the capture files, in the analysis' input order
	Summary *analyze.Summary
	// Conns are the connection reports (analyze.Sink.Connection), any order.
	Conns []*analyze.ConnReport
	// Findings are every finding (analyze.Sink.Finding): per connection
	// and cross-connection (Across) alike.
	Findings []*analyze.Finding

	// A Collector fills the fields below, when Conns and Findings hold only
	// what the page draws out of a larger run; nil and zero otherwise.

	// Tally counts every finding per rule when Findings holds only the
	// worst of each rule.
	Tally map[string]RuleTally
	// ConnsWithFindings and CleanConns count all connections with and
	// without findings when Conns is a sample.
	ConnsWithFindings, CleanConns int
	// ConnFirst holds the first packet of connections that drawn findings
	// name but Conns lacks (the second pass matches on it).
	ConnFirst map[uint64]analyze.Point
	// pairs holds the sampled timeline bars per client→server pair.
	pairs map[pairKey]*pairBars
	// Evidence holds the segments of the findings that get a ladder
	// diagram (CollectEvidence fills it); a drawn finding without evidence
	// says so instead of a diagram.
	Evidence map[*analyze.Finding]*evidence.Evidence
	// EvidenceErr is the error of the second pass, shown on the page.
	EvidenceErr error
	// ReadErr is the damage met reading the inputs in the analysis, shown on the page.
	ReadErr error
	// RulePage returns a rule's Markdown page; nil means docs.RulePage.
	RulePage func(id string) (string, error)
	Options  Options
}

// RuleTally counts one rule's findings.
type RuleTally struct {
	Count    int
	Severity analyze.Severity // the worst
	Lost     time.Duration    // sum of Duration, for timeLostRules
}

// timelineRules are about a population of connections: their diagram is
// the client→server timeline, not a ladder.
var timelineRules = map[string]bool{
	"port-churn":           true,
	"parallel-connections": true,
	"no-connection-reuse":  true,
}

// timeLostRules are the rules whose Duration is time an exchange lost (a
// stall, a hang, handshakes that reuse would have saved); the others
// measure something else (an idle period, a projection to port exhaustion).
var timeLostRules = map[string]bool{
	"delayed-ack-stall":            true,
	"nagle-delayed-ack":            true,
	"handshake-overhead":           true,
	"slow-start-fresh-connection":  true,
	"dumb-proxy-keepalive":         true,
	"no-connection-reuse":          true,
	"unframed-persistent-response": true,
}

// maxLadderConns: a ladder has two columns per connection at most three
// columns in all; findings about more connections get a timeline.
const maxLadderConns = 2

// conns returns the connections a finding is about.
func conns(f *analyze.Finding) []analyze.ConnRef {
	if f.Conn.ID != 0 {
		return []analyze.ConnRef{f.Conn}
	}
	return f.Related
}

// IsLadder says whether a finding is drawn as a ladder diagram (else as a
// timeline of its client→server pair).
func IsLadder(f *analyze.Finding) bool {
	c := conns(f)
	return !timelineRules[f.Rule] && len(c) >= 1 && len(c) <= maxLadderConns
}

// worse orders findings worst first: severity, then the longer Duration,
// then capture order.
func worse(a, b *analyze.Finding) int {
	if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Duration, a.Duration); c != 0 {
		return c
	}
	return a.Time.Compare(b.Time)
}

// ruleGroup is one rule's findings, worst first.
type ruleGroup struct {
	Rule     string
	Severity analyze.Severity
	All      []*analyze.Finding
	Count    int // all findings of the rule (len(All), or the Tally's count)
	Drawn    []*analyze.Finding
	More     int
	Lost     time.Duration
}

func groups(in *Input) []*ruleGroup {
	o := in.Options.withDefaults()
	by := map[string]*ruleGroup{}
	var out []*ruleGroup
	for _, f := range in.Findings {
		g := by[f.Rule]
		if g == nil {
			g = &ruleGroup{Rule: f.Rule}
			by[f.Rule] = g
			out = append(out, g)
		}
		g.All = append(g.All, f)
		g.Severity = max(g.Severity, f.Severity)
		if timeLostRules[f.Rule] {
			g.Lost += f.Duration
		}
	}
	for id, t := range in.Tally {
		if by[id] == nil && t.Count > 0 {
			by[id] = &ruleGroup{Rule: id}
			out = append(out, by[id])
		}
	}
	for _, g := range out {
		s := slices.Clone(g.All)
		slices.SortStableFunc(s, worse)
		g.Drawn = s[:min(len(s), o.MaxDiagramsPerRule)]
		g.Count = len(s)
		if t, ok := in.Tally[g.Rule]; ok {
			g.Count, g.Severity, g.Lost = max(t.Count, g.Count), max(t.Severity, g.Severity), t.Lost
		}
		g.More = g.Count - len(g.Drawn)
	}
	slices.SortStableFunc(out, func(a, b *ruleGroup) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return cmp.Compare(a.Rule, b.Rule)
	})
	return out
}

// Drawn returns the findings that get a diagram, rule by rule, worst first.
func Drawn(in *Input) []*analyze.Finding {
	var out []*analyze.Finding
	for _, g := range groups(in) {
		out = append(out, g.Drawn...)
	}
	return out
}

// Requests returns the evidence requests of the drawn ladder findings, and
// the finding each request is for.
func Requests(in *Input) ([]evidence.Request, []*analyze.Finding) {
	first := map[uint64]evidence.Frame{}
	for id, p := range in.ConnFirst {
		first[id] = evidence.Frame{Input: p.Input, Frame: p.Frame}
	}
	for _, c := range in.Conns {
		first[c.Conn.ID] = evidence.Frame{Input: c.Conn.First.Input, Frame: c.Conn.First.Frame}
	}
	var reqs []evidence.Request
	var fs []*analyze.Finding
	for _, f := range Drawn(in) {
		if !IsLadder(f) {
			continue
		}
		var r evidence.Request
		for _, c := range conns(f) {
			r.Conns = append(r.Conns, evidence.ConnKey{ID: c.ID, Client: c.Client, Server: c.Server, First: first[c.ID]})
		}
		for _, fr := range f.Frames {
			r.Frames = append(r.Frames, evidence.Frame{Input: fr.Input, Frame: fr.Frame})
		}
		reqs = append(reqs, r)
		fs = append(fs, f)
	}
	return reqs, fs
}

// CollectEvidence runs the second pass over the capture files (with the
// analysis' filter and reassembly options) and fills in.Evidence for the
// drawn ladder findings. Its error is also kept in in.EvidenceErr, so the
// page can still be written (without those diagrams).
func CollectEvidence(in *Input, paths []string, fopts capture.FileOptions, aopts reassembly.Options, lim evidence.Limits) (evidence.Stats, error) {
	reqs, fs := Requests(in)
	if len(reqs) == 0 {
		return evidence.Stats{}, nil
	}
	lim.MaxRequests = max(lim.MaxRequests, len(reqs))
	evs, st, err := evidence.Collect(paths, fopts, aopts, reqs, lim)
	in.EvidenceErr = err
	if in.Evidence == nil {
		in.Evidence = map[*analyze.Finding]*evidence.Evidence{}
	}
	for i, ev := range evs {
		if ev != nil {
			in.Evidence[fs[i]] = ev
		}
	}
	return st, err
}

func (in *Input) rulePage(id string) (string, error) {
	if in.RulePage != nil {
		return in.RulePage(id)
	}
	return docs.RulePage(id)
}

// pairKey is a client IP → server ip:port pair.
type pairKey struct {
	client netip.Addr
	server netip.AddrPort
}
