package lifecycle

import (
	"fmt"
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
)

func TestParallelConnections(t *testing.T) {
	par := func(n int) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			var lcs []*analyzetest.Conn
			for i := 0; i < n; i++ {
				lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i), 1)
				lc.Get("/ok?delay=400", 2+float64(i), 400)
				lcs = append(lcs, lc)
			}
			for i, lc := range lcs {
				lc.CloseFIN(c2s, 410+float64(i))
			}
		}
	}
	runLC(t, "parallel-connections", []lcCase{
		{name: "ten concurrent", want: 1, build: par(10), attrs: map[string]any{"peak": 10, "limit": 6, "connections": 10}},
		{name: "six is the limit (control)", want: 0, build: par(6)},
		{name: "ten sequential", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 10; i++ {
				oneShot(k, 40000+i, float64(i)*10, c2s)
			}
		}},
		{name: "refused attempts do not count", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 10; i++ {
				k.Refused(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i))
			}
		}},
	})
}
