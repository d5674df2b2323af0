package lifecycle

import (
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
)

func TestKeepAliveRace(t *testing.T) {
	// reuse after idle: first GET, idle, second GET at 'at' ms; then close as told
	race := func(at float64, serverClose func(lc *analyzetest.Conn)) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			lc := k.Open(cli, srv, 0, 1)
			lc.Get("/tiny.txt", 2, 1, "Keep-Alive", "timeout=1")
			serverClose(lc)
			q := lc.Request("GET", "/tiny.txt", at, 0)
			if lc.C.Halves[s2c].FIN == nil && lc.C.Halves[s2c].RST == nil {
				lc.RST(s2c, at+0.3)
			} else {
				lc.RST(s2c, at+0.1)
			}
			lc.Settle(q, nil)
			lc.End(reassembly.EndRST)
		}
	}
	runLC(t, "keepalive-race", []lcCase{
		{name: "request after the server's FIN", want: 1,
			attrs: map[string]any{"idle_ms": 1010.0, "race": "closed-before-request", "server_close": "FIN", "announced_timeout_s": 1, "lost_requests": 1},
			check: wantTx(2),
			build: race(1013, func(lc *analyzetest.Conn) { lc.FIN(s2c, 1003) })},
		{name: "request answered by RST without a response", want: 1,
			attrs: map[string]any{"idle_ms": 990.0, "race": "answered-by-close", "server_close": "RST"},
			check: wantTx(2),
			build: race(993, func(*analyzetest.Conn) {})},
		{name: "request answered by FIN without a response", want: 1,
			attrs: map[string]any{"race": "answered-by-close", "server_close": "FIN"},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				q := lc.Request("GET", "/", 5000, 0)
				lc.FIN(s2c, 5000.4)
				lc.FIN(c2s, 5001)
				lc.Settle(q, nil)
				lc.End(reassembly.EndFIN)
			}},
		{name: "control: reuse well within the timeout is answered", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				lc.Get("/", 900, 1)
				lc.CloseFIN(c2s, 950)
			}},
		{name: "first request on a new connection is no race", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q := lc.Request("GET", "/", 2, 0)
				lc.RST(s2c, 2.2)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "after the server's Connection: close it is request-after-close", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Connection", "close")
				lc.FIN(s2c, 3.2)
				q := lc.Request("GET", "/", 5, 0)
				lc.RST(s2c, 5.1)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "server that takes the request and fails much later is no race", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				q := lc.Request("GET", "/slow", 500, 0)
				lc.Ack(s2c, 500.5)
				lc.FIN(s2c, 30500)
				lc.Settle(q, nil)
				lc.End(reassembly.EndFIN)
			}},
		{name: "capture gap before the request", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				lc.C.Gaps = append(lc.C.Gaps, reassembly.Gap{Dir: s2c, Offset: 10, Bytes: 10, After: k.Pos(4)})
				lc.FIN(s2c, 1003)
				q := lc.Request("GET", "/", 1010, 0)
				lc.RST(s2c, 1010.1)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
	})
}
