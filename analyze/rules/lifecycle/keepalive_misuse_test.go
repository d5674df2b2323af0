package lifecycle

import (
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
)

func TestKeepAliveMisuse(t *testing.T) {
	runLC(t, "keepalive-misuse", []lcCase{
		{name: "server closes idle before its announced timeout", want: 1,
			attrs: map[string]any{"kind": "early-close", "announced_timeout_s": 15, "server_close": "RST", "idle_ms": 9100.0},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=15")
				lc.RST(s2c, 9103)
				lc.End(reassembly.EndRST)
			}},
		{name: "server closes idle at its announced timeout", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "Keep-Alive", "Keep-Alive", "timeout=5, max=100")
				lc.CloseFIN(s2c, 5003)
			}},
		{name: "client closes first", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=15")
				lc.CloseFIN(c2s, 500)
			}},
		{name: "client reuses beyond max", want: 1, attrs: map[string]any{"kind": "beyond-max", "max": 0, "announced_in_tx": 2}, check: wantTx(3),
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=5, max=1")
				lc.Get("/", 10, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=5, max=0")
				lc.Get("/", 20, 1)
				lc.CloseFIN(c2s, 30)
			}},
		{name: "Keep-Alive not named by Connection", want: 1, attrs: map[string]any{"kind": "not-hop-by-hop", "connection": "close"},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "close", "Keep-Alive", "timeout=5")
				lc.CloseFIN(s2c, 4)
			}},
		{name: "HTTP/1.0 response without keep-alive, connection reused", want: 1,
			attrs: map[string]any{"kind": "http10-reuse", "response_tx": 1, "status": 200}, check: wantTx(2),
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, ":proto", "HTTP/1.0")
				lc.Get("/", 10, 1, ":proto", "HTTP/1.0")
				lc.CloseFIN(s2c, 12)
			}},
		{name: "ordinary browser headers are no finding", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q := lc.Request("GET", "/", 2, 0, "Connection", "keep-alive", "Keep-Alive", "115")
				lc.Response(q, 200, 3, 10, "Connection", "keep-alive")
				q = lc.Request("GET", "/", 10, 0, "Connection", "keep-alive", "Keep-Alive", "115")
				lc.Response(q, 304, 11, 0, ":proto", "HTTP/1.0", "Connection", "keep-alive")
				q = lc.Request("GET", "/", 20, 0, "Connection", "keep-alive")
				lc.Response(q, 200, 21, 10)
				lc.CloseFIN(c2s, 30)
			}},
	})
}
