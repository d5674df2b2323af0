package suite

import (
	"fmt"
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// TestCrossRulesIgnoreEvictedConnections: connections connlint evicted
// (table full, idle) ended without a close anyone saw, and may have carried
// more: no-connection-reuse must not call them "sequential one-shot
// connections", unsafe-retry must not call an evicted POST "died without its
// response", port-churn must not count them as closed — and no other rule of
// the suite may find anything either.
func TestCrossRulesIgnoreEvictedConnections(t *testing.T) {
	const srv = "10.0.0.2:80"
	for _, end := range []reassembly.EndReason{reassembly.EndEvicted, reassembly.EndIdle} {
		k := analyzetest.NewCapture(t, nil, Rules)
		for i := 0; i < 10; i++ {
			lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i)*10, 1)
			lc.Get("/tiny.txt", float64(i)*10+1.5, 1)
			lc.End(end)
		}
		lc := k.Open("10.0.0.1:41000", srv, 200, 1)
		lc.Request("POST", "/order", 201.5, 100)
		lc.End(end)
		// the same POST answered on a connection that closed normally
		ok := k.Open("10.0.0.1:41001", srv, 300, 1)
		q := ok.Request("POST", "/die", 301.5, 100)
		ok.Response(q, 200, 303, 10)
		ok.CloseFIN(flow.ClientToServer, 304)
		if fs := k.Close().Findings; len(fs) > 0 {
			for _, f := range fs {
				t.Errorf("connections ended %v: %s: %s", end, f.Rule, f.Message)
			}
		}
	}
}
