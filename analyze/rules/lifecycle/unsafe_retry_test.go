package lifecycle

import (
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
)

func TestUnsafeRetry(t *testing.T) {
	runLC(t, "unsafe-retry", []lcCase{
		{name: "POST resent after its connection was reset", want: 1,
			attrs: map[string]any{"method": "POST", "target": "/die", "body_bytes": int64(32),
				"first_connection": uint64(1), "first_transaction": 1, "first_close": "RST"},
			check: func(t *testing.T, f *analyze.Finding) {
				if f.Conn.ID != 2 || len(f.Related) != 1 || f.Related[0].ID != 1 {
					t.Errorf("conn %d related %v", f.Conn.ID, f.Related)
				}
			},
			build: func(k *analyzetest.Capture) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 32)
			}},
		{name: "retried GET is idempotent (control)", want: 0,
			build: func(k *analyzetest.Capture) {
				postDies(k, 41951, 0, "GET", 0)
				postOK(k, 41952, 10, "GET", 0)
			}},
		{name: "different body length is a different request", want: 0,
			build: func(k *analyzetest.Capture) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 33)
			}},
		{name: "first copy was answered", want: 0,
			build: func(k *analyzetest.Capture) {
				postOK(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 32)
			}},
		{name: "outside the retry window", want: 0,
			build: func(k *analyzetest.Capture) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 61000, "POST", 32)
			}},
		{name: "first copy's connection still open at capture end", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open("10.0.0.1:41951", srv, 0, 1)
				q := lc.Request("POST", "/die", 1.5, 32)
				postOK(k, 41952, 10, "POST", 32)
				lc.Settle(q, nil)
				lc.End(reassembly.EndOpen)
			}},
		{name: "two retries of one dead POST: reported once, then the second dead copy", want: 2,
			build: func(k *analyzetest.Capture) {
				postDies(k, 41951, 0, "PATCH", 5)
				postDies(k, 41952, 10, "PATCH", 5)
				postOK(k, 41953, 20, "PATCH", 5)
			}},
	})
}
