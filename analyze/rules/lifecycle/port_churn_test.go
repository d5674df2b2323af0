package lifecycle

import (
	"fmt"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

func TestPortChurn(t *testing.T) {
	churn := func(n int, perSec float64, ports int, closer flow.Dir) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			for i := 0; i < n; i++ {
				oneShot(k, 40000+i%ports, float64(i)*1000/perSec, closer)
			}
		}
	}
	runLC(t, "port-churn", []lcCase{
		{name: "600 connections per second from a 500-port range", want: 1, build: churn(1200, 600, 500, c2s),
			attrs: map[string]any{"connections": 1200, "time_wait_by_client": 1200, "time_wait_by_server": 0, "reused_4tuples": 700},
			check: func(t *testing.T, f *analyze.Finding) {
				// 1200 closes in 2.00 s: 600/s, exhausting 28 232 ports in 47.x s
				if r, _ := f.Attrs["rate_per_s"].(float64); r < 599.5 || r > 600.5 {
					t.Errorf("rate_per_s %v", f.Attrs["rate_per_s"])
				}
				if e, _ := f.Attrs["exhaustion_ms"].(float64); e < 47000 || e >= 48000 {
					t.Errorf("exhaustion_ms %v", f.Attrs["exhaustion_ms"])
				}
			}},
		// issue 12 item 3 (ab → nginx, HTTP/1.0: ab-nginx-churn): the server
		// closes first and holds every TIME_WAIT; the client's ports are
		// free at once, and no 4-tuple is reused: nothing to report
		{name: "server holds TIME_WAIT, no reuse", want: 0, build: churn(1200, 600, 28000, s2c)},
		{name: "server closes first on all but 2 of 1502", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 1502; i++ {
				closer := s2c
				if i == 700 || i == 1400 {
					closer = c2s
				}
				oneShot(k, 33000+i, float64(i)*1344.0/1502, closer)
			}
		}},
		// a tenth of the closes are the client's: 60/s × 60 s = 3600 ports
		{name: "client holds TIME_WAIT on a tenth only", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 1200; i++ {
				closer := s2c
				if i%10 == 0 {
					closer = c2s
				}
				oneShot(k, 30000+i, float64(i)*1000/600, closer)
			}
		}},
		// near miss: the server holds TIME_WAIT and the client reuses its
		// 4-tuples within 2×MSL (a 100-port range): the reuse is what
		// matters, said as the server's, with no exhaustion projected
		{name: "server holds TIME_WAIT and 4-tuples are reused", want: 1, build: churn(1200, 600, 100, s2c),
			attrs: map[string]any{"time_wait_by_client": 0, "time_wait_by_server": 1200, "reused_4tuples": 1100, "reused_4tuples_server_time_wait": 1100},
			check: func(t *testing.T, f *analyze.Finding) {
				if f.Attrs["exhaustion_ms"] != nil || f.Attrs["projected_time_wait"] != 0.0 ||
					!strings.Contains(f.Message, "ports are free again") || !strings.Contains(f.Message, "1100 while the server did") {
					t.Errorf("finding: %s %v", f.Message, f.Attrs)
				}
			}},
		// item 17: only the client's direction captured: who closed first
		// is unknown (the server's FIN may have come first, unseen)
		{name: "one direction missing", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 1200; i++ {
				ms := float64(i) * 1000 / 600
				lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i%500), srv, ms, 1)
				lc.C.SYNACK, lc.C.Halves[s2c].Segments = flow.Pos{}, 0 // no packet from the server
				lc.Request("GET", "/", ms+1.5, 0)
				lc.Close(ms + 3)
			}
		}},
		{name: "slow churn (10/s) is fine", want: 0, build: churn(300, 10, 28000, c2s)},
		{name: "a short burst is no rate", want: 0, build: churn(99, 1000, 28000, c2s)},
		{name: "small range configured: reuse fires it", want: 1, build: churn(400, 5, 100, c2s),
			check: func(t *testing.T, f *analyze.Finding) {
				if n, _ := f.Attrs["reused_4tuples"].(int); n == 0 {
					t.Errorf("reused_4tuples %v", f.Attrs["reused_4tuples"])
				}
			}},
		{name: "reset connections leave no TIME_WAIT", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 1200; i++ {
				lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i%500), srv, float64(i)*1000/600, 1)
				lc.Get("/", float64(i)*1000/600+1.5, 1)
				lc.RST(c2s, float64(i)*1000/600+3)
				lc.End(reassembly.EndRST)
			}
		}},
	})
}

// crossScenario builds connections whose ends tie, ending them in the order
// perm gives, and returns the cross-rule findings in a canonical text form.
