// Package gate stands between the analysis and the renderers of the
// analysing commands (analyze, lint, run, sniff): it hides the findings that
// config suppressions and a --baseline accept, counts what is left by
// severity (the --fail-on gate and lint's closing line), records the run
// for --write-baseline and tells the renderers (render.Info) what it hid
// and which suppressions matched nothing.
package gate

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci/baseline"
	"github.com/connlint/connlint/internal/ci/suppress"
	"github.com/connlint/connlint/internal/render"
)

// Options configure a Gate.
type Options struct {
	ConfigFile    string        // the settings file read ("" none), for render.Info
	Suppress      *suppress.Set // nil: no suppressions
	Baseline      string        // --baseline FILE: report only findings not in it
	WriteBaseline string        // --write-baseline FILE: record this run's findings
}

// Gate filters one run (one analysis, or every file of a lint run).
type Gate struct {
	o     Options
	base  *baseline.Matcher
	Info  *render.Info
	shown map[analyze.Severity]int
	// kept are the findings no suppression covered, for --write-baseline:
	// a baseline records what the team has not accepted with a reason,
	// whatever an older baseline hid.
	kept []*analyze.Finding
}

// New reads the baseline, if any. A baseline that cannot be read is an
// error: silently reporting everything (or nothing) would mislead a gate.
func New(o Options) (*Gate, error) {
	g := &Gate{o: o, Info: &render.Info{ConfigFile: o.ConfigFile, Baseline: o.Baseline}, shown: map[analyze.Severity]int{}}
	if o.Baseline != "" {
		f, err := os.Open(o.Baseline)
		if err != nil {
			return nil, fmt.Errorf("--baseline: %w", err)
		}
		defer f.Close()
		b, err := baseline.Read(f)
		if err != nil {
			return nil, fmt.Errorf("--baseline %s: %w", o.Baseline, err)
		}
		g.base = b.Matcher()
	}
	return g, nil
}

// hide decides one finding.
func (g *Gate) hide(f *analyze.Finding) bool {
	if g.o.Suppress != nil {
		if _, ok := g.o.Suppress.Match(f); ok {
			g.Info.Suppressed++
			return true
		}
	}
	g.kept = append(g.kept, f)
	if g.base != nil && g.base.Hide(f) {
		g.Info.BaselineHidden++
		return true
	}
	g.shown[f.Severity]++
	return false
}

// Shown counts the findings of a severity that were reported.
func (g *Gate) Shown(s analyze.Severity) int { return g.shown[s] }

// Failing counts the reported findings at or above threshold; a zero
// threshold (--fail-on none) fails on nothing.
func (g *Gate) Failing(threshold analyze.Severity) int {
	if threshold == 0 {
		return 0
	}
	n := 0
	for s, c := range g.shown {
		if s >= threshold {
			n += c
		}
	}
	return n
}

// Finish completes Info (unused suppressions, baseline entries gone) and
// writes --write-baseline. Call it after the last analysis and before the
// renderers' Finish/Close, so that they report it.
func (g *Gate) Finish() error {
	if g.o.Suppress != nil {
		g.Info.Unused = nil
		for _, u := range g.o.Suppress.Unused() {
			g.Info.Unused = append(g.Info.Unused, u.String())
		}
	}
	if g.base != nil {
		g.Info.BaselineGone = 0
		for _, e := range g.base.Gone() {
			g.Info.BaselineGone += e.Count
		}
	}
	if g.o.WriteBaseline == "" {
		return nil
	}
	return writeFile(g.o.WriteBaseline, baseline.New(g.kept))
}

// writeFile writes the baseline through a temporary file and a rename, so
// an interrupted run never leaves half a baseline behind.
func writeFile(path string, b *baseline.Baseline) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".connlint-baseline-*")
	if err != nil {
		return fmt.Errorf("--write-baseline: %w", err)
	}
	err = b.Write(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--write-baseline %s: %w", path, err)
	}
	return nil
}

// Wrap puts the gate in front of a renderer.
func (g *Gate) Wrap(r render.Renderer) render.Renderer {
	return &filter{g: g, next: r, hidden: map[*analyze.Finding]bool{}}
}

// filter passes on what the gate keeps. Renderers also see findings inside
// ConnReport.Findings and count them in the summary, so hidden findings are
// removed there too.
type filter struct {
	g      *Gate
	next   render.Renderer
	hidden map[*analyze.Finding]bool
	bySev  map[string]int
	byRule map[string]int
}

func (f *filter) Finding(x *analyze.Finding) {
	if f.g.hide(x) {
		f.hidden[x] = true
		if f.bySev == nil {
			f.bySev, f.byRule = map[string]int{}, map[string]int{}
		}
		f.bySev[x.Severity.String()]++
		f.byRule[x.Rule]++
		return
	}
	f.next.Finding(x)
}

func (f *filter) Connection(c *analyze.ConnReport) {
	if len(f.hidden) > 0 {
		var keep []*analyze.Finding
		for _, x := range c.Findings {
			if !f.hidden[x] {
				keep = append(keep, x)
			}
		}
		if len(keep) != len(c.Findings) {
			cc := *c
			cc.Findings = keep
			c = &cc
		}
	}
	f.next.Connection(c)
}

func (f *filter) Finish(res *render.Result) error {
	if f.bySev != nil && res.Summary != nil {
		s := *res.Summary
		s.FindingsBySeverity = subtract(s.FindingsBySeverity, f.bySev)
		s.FindingsByRule = subtract(s.FindingsByRule, f.byRule)
		r := *res
		r.Summary = &s
		res = &r
	}
	return f.next.Finish(res)
}

// subtract returns a-b without keys that reach zero (the summary lists
// only keys with a finding).
func subtract(a, b map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range a {
		if v -= b[k]; v > 0 {
			out[k] = v
		}
	}
	return out
}
