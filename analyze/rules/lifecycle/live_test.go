package lifecycle

import (
	"fmt"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
)

// Issue 13: in a live capture (the engine is ticked: Engine.Advance) the
// cross-connection rules report a finding once it is true, then at most one
// update per CrossWindow, and never repeat it at the end unless it grew
// (earlyReport). Reading a file (no tick) reports once, at the end.

// at is the capture time ms after T0.
func at(ms float64) time.Time {
	return analyzetest.T0.Add(time.Duration(ms * float64(time.Millisecond)))
}

// liveCase plays a capture with ticks; before lists, per checkpoint (a
// tick), how many findings of rule must have been reported by then; after
// is the count after Close, and conns the "connections" attribute of each
// finding in order (nil: not checked).
type liveCase struct {
	name  string
	rule  string
	cfg   func(*analyze.Config)
	play  func(k *analyzetest.Capture, tick func(ms float64, want int))
	after int
	attr  string
	vals  []int
}

func TestLiveCrossReports(t *testing.T) {
	min3 := func(c *analyze.Config) { c.NoReuseMin = 3 }
	cases := []liveCase{
		{name: "no-reuse: first crossing reported before the end, not repeated", rule: "no-connection-reuse", cfg: min3,
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				for i := range 3 {
					oneShot(k, 40000+i, float64(i)*10, c2s)
				}
				tick(500, 0)  // the feed still holds the last ones (crossReorder)
				tick(1100, 1) // released: three connections, reported now
				tick(4000, 1)
			}, after: 1, attr: "connections", vals: []int{3}},
		{name: "no-reuse: grown run reported once more at its end", rule: "no-connection-reuse", cfg: min3,
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				for i := range 3 {
					oneShot(k, 40000+i, float64(i)*10, c2s)
				}
				tick(1100, 1)
				for i := 3; i < 5; i++ {
					oneShot(k, 40000+i, 1200+float64(i)*10, c2s)
				}
				tick(3000, 1) // grown, but within the window: no update yet
			}, after: 2, attr: "connections", vals: []int{3, 5}},
		{name: "no-reuse: one update per window while the run goes on", rule: "no-connection-reuse",
			cfg: func(c *analyze.Config) { c.NoReuseMin, c.CrossWindow = 3, 5*time.Second },
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				want := []int{0, 0, 1, 1, 1, 1, 1, 2, 2} // the update comes with the connection ending 5 s after the first report
				for i := range 9 {
					oneShot(k, 40000+i, float64(i)*1000, c2s)
					tick(float64(i)*1000+1100, want[i])
				}
				// the ninth grew the run after the update: its end (here the
				// end of the capture) reports the final tally
			}, after: 3, attr: "connections", vals: []int{3, 8, 9}},
		{name: "parallel: reported at the crossing, not again at the end", rule: "parallel-connections",
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				var lcs []*analyzetest.Conn
				for i := range 10 {
					lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i), 1)
					lc.Get("/", 2+float64(i), 400)
					lcs = append(lcs, lc)
				}
				for i, lc := range lcs {
					lc.CloseFIN(c2s, 410+float64(i))
				}
				tick(1500, 1)
			}, after: 1, attr: "peak", vals: []int{10}},
		{name: "port-churn: reported once the rate projects exhaustion, not again at the end", rule: "port-churn",
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				for i := range 1200 {
					oneShot(k, 40000+i%500, float64(i)*1000/600, c2s)
				}
				tick(3500, 1)
			}, after: 1},
		{name: "tls-full-handshake-repeated: reported at the threshold", rule: "tls-full-handshake-repeated",
			play: func(k *analyzetest.Capture, tick func(float64, int)) {
				tick(0, 0)
				n := analyze.DefaultConfig().TLSFullHandshakeMin + 1 // the first one offers
				for i := range n {
					tlsOneShot(k, 40000+i, float64(i)*20, tls12("example.test"), s2c)
				}
				tick(float64(n)*20+1500, 1)
			}, after: 1, attr: "full_handshakes", vals: []int{3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := analyze.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			k := newCapture(t, cfg, tc.rule)
			tc.play(k, func(ms float64, want int) {
				t.Helper()
				k.E.Advance(at(ms))
				if got := len(k.Rec.ByRule(tc.rule)); got != want {
					t.Fatalf("at %v ms: %d findings, want %d", ms, got, want)
				}
			})
			got := k.Close().ByRule(tc.rule)
			if len(got) != tc.after {
				for _, f := range got {
					t.Logf("finding: %s", f.Message)
				}
				t.Fatalf("after the end: %d findings, want %d", len(got), tc.after)
			}
			for i, v := range tc.vals {
				if got[i].Attrs[tc.attr] != v {
					t.Errorf("finding %d: %s = %v, want %d", i, tc.attr, got[i].Attrs[tc.attr], v)
				}
			}
		})
	}
}

// Without ticks (a file) the same runs are reported once, at their end,
// with everything they held.
func TestFileCrossReportsAtEnd(t *testing.T) {
	cfg := analyze.DefaultConfig()
	cfg.NoReuseMin = 3
	k := newCapture(t, cfg, "no-connection-reuse")
	for i := range 5 {
		oneShot(k, 40000+i, float64(i)*10, c2s)
	}
	if n := len(k.Rec.ByRule("no-connection-reuse")); n != 0 {
		t.Fatalf("%d findings before the end of a file", n)
	}
	got := k.Close().ByRule("no-connection-reuse")
	if len(got) != 1 || got[0].Attrs["connections"] != 5 {
		t.Fatalf("%d findings (%v), want one of 5 connections", len(got), got)
	}
}
