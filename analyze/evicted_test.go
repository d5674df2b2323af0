package analyze

import (
	"fmt"

	"testing"

	"github.com/connlint/connlint/reassembly"
)

// TestCrossRulesIgnoreEvictedConnections: connections connlint evicted
// (table full, idle) ended without a close anyone saw, and may have carried
// more: no-connection-reuse must not call them "sequential one-shot
// connections", unsafe-retry must not call an evicted POST "died without its
// response", port-churn must not count them as closed.
func TestCrossRulesIgnoreEvictedConnections(t *testing.T) {
	for _, end := range []reassembly.EndReason{reassembly.EndEvicted, reassembly.EndIdle} {
		k := newLC(nil)
		for i := 0; i < 10; i++ {
			lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i)*10, 1)
			lc.get("/tiny.txt", float64(i)*10+1.5, 1)
			lc.end(end)
		}
		lc := k.open("10.0.0.1:41000", srv, 200, 1)
		lc.request("POST", "/order", 201.5, 100)
		lc.end(end)
		postOK(k, 41001, 300, "POST", 100)
		if fs := k.close().findings; len(fs) > 0 {
			for _, f := range fs {
				t.Errorf("connections ended %v: %s: %s", end, f.Rule, f.Message)
			}
		}
	}
}
