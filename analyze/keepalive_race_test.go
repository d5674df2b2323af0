package analyze

import (
	"testing"

	"github.com/connlint/connlint/reassembly"
)

func TestKeepAliveRace(t *testing.T) {
	// reuse after idle: first GET, idle, second GET at 'at' ms; then close as told
	race := func(at float64, serverClose func(lc *lcConn)) func(k *lcCap) {
		return func(k *lcCap) {
			lc := k.open(cli, srv, 0, 1)
			lc.get("/tiny.txt", 2, 1, "Keep-Alive", "timeout=1")
			serverClose(lc)
			q := lc.request("GET", "/tiny.txt", at, 0)
			if lc.c.Halves[s2c].FIN == nil && lc.c.Halves[s2c].RST == nil {
				lc.rst(s2c, at+0.3)
			} else {
				lc.rst(s2c, at+0.1)
			}
			lc.settle(q, nil)
			lc.end(reassembly.EndRST)
		}
	}
	runLC(t, "keepalive-race", []lcCase{
		{name: "request after the server's FIN", want: 1,
			says:  []string{"GET /tiny.txt (transaction 2)", "after 1.01 s idle", "had already closed it: its FIN", "timeout=1"},
			build: race(1013, func(lc *lcConn) { lc.fin(s2c, 1003) })},
		{name: "request answered by RST without a response", want: 1,
			says:  []string{"answered it with RST", "after 990.0 ms idle"},
			build: race(993, func(*lcConn) {})},
		{name: "request answered by FIN without a response", want: 1,
			says: []string{"answered it with FIN"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				q := lc.request("GET", "/", 5000, 0)
				lc.fin(s2c, 5000.4)
				lc.fin(c2s, 5001)
				lc.settle(q, nil)
				lc.end(reassembly.EndFIN)
			}},
		{name: "control: reuse well within the timeout is answered", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				lc.get("/", 900, 1)
				lc.closeFIN(c2s, 950)
			}},
		{name: "first request on a new connection is no race", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q := lc.request("GET", "/", 2, 0)
				lc.rst(s2c, 2.2)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "after the server's Connection: close it is request-after-close", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "close")
				lc.fin(s2c, 3.2)
				q := lc.request("GET", "/", 5, 0)
				lc.rst(s2c, 5.1)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "server that takes the request and fails much later is no race", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				q := lc.request("GET", "/slow", 500, 0)
				lc.ack(s2c, 500.5)
				lc.fin(s2c, 30500)
				lc.settle(q, nil)
				lc.end(reassembly.EndFIN)
			}},
		{name: "capture gap before the request", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				lc.c.Gaps = append(lc.c.Gaps, reassembly.Gap{Dir: s2c, Offset: 10, Bytes: 10, After: k.pos(4)})
				lc.fin(s2c, 1003)
				q := lc.request("GET", "/", 1010, 0)
				lc.rst(s2c, 1010.1)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
	})
}

func TestKeepAliveMisuse(t *testing.T) {
	runLC(t, "keepalive-misuse", []lcCase{
		{name: "server closes idle before its announced timeout", want: 1,
			says: []string{"timeout=15", "closed the idle connection (RST) after 9.10 s"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=15")
				lc.rst(s2c, 9103)
				lc.end(reassembly.EndRST)
			}},
		{name: "server closes idle at its announced timeout", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "Keep-Alive", "Keep-Alive", "timeout=5, max=100")
				lc.closeFIN(s2c, 5003)
			}},
		{name: "client closes first", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=15")
				lc.closeFIN(c2s, 500)
			}},
		{name: "client reuses beyond max", want: 1, says: []string{"request 3", "max=0 in response 2"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=5, max=1")
				lc.get("/", 10, 1, "Connection", "keep-alive", "Keep-Alive", "timeout=5, max=0")
				lc.get("/", 20, 1)
				lc.closeFIN(c2s, 30)
			}},
		{name: "Keep-Alive not named by Connection", want: 1, says: []string{"Connection: close does not name it"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Connection", "close", "Keep-Alive", "timeout=5")
				lc.closeFIN(s2c, 4)
			}},
		{name: "HTTP/1.0 response without keep-alive, connection reused", want: 1, says: []string{"HTTP/1.0 response 200"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, ":proto", "HTTP/1.0")
				lc.get("/", 10, 1, ":proto", "HTTP/1.0")
				lc.closeFIN(s2c, 12)
			}},
		{name: "ordinary browser headers are no finding", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q := lc.request("GET", "/", 2, 0, "Connection", "keep-alive", "Keep-Alive", "115")
				lc.response(q, 200, 3, 10, "Connection", "keep-alive")
				q = lc.request("GET", "/", 10, 0, "Connection", "keep-alive", "Keep-Alive", "115")
				lc.response(q, 304, 11, 0, ":proto", "HTTP/1.0", "Connection", "keep-alive")
				q = lc.request("GET", "/", 20, 0, "Connection", "keep-alive")
				lc.response(q, 200, 21, 10)
				lc.closeFIN(c2s, 30)
			}},
	})
}
