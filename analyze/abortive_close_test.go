package analyze

import (
	"testing"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

func TestAbortiveClose(t *testing.T) {
	runLC(t, "abortive-close", []lcCase{
		{name: "server resets with pipelined requests unread and its response unacknowledged", want: 1,
			says: []string{"server reset", "2 requests were unanswered", "transaction 2 GET /ok", "60150 bytes it had sent were not yet acknowledged"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q1 := lc.request("GET", "/abort", 2, 0)
				q2 := lc.request("GET", "/ok", 2.1, 0)
				q3 := lc.request("GET", "/ok", 2.2, 0)
				// the server acks the three requests, sends 60 kB and resets
				p := lc.dataAck(s2c, 3, 60150, lc.sent[c2s])
				r := &http1.Message{Dir: flow.ServerToClient, Status: 200, Proto: "HTTP/1.1", Major: 1, Minor: 1, Start: p, HeaderEnd: p, Last: p,
					ContentLength: 60000, BodyLength: 60000, BodyBytes: 60000, Framing: http1.FramingContentLength,
					Headers: []http1.Header{{Name: "Connection", Value: "close"}}}
				k.e.Message(lc.c, r)
				lc.rst(s2c, 3.1)
				lc.settle(q1, r)
				lc.settle(q2, nil)
				lc.settle(q3, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "RST after both FINs with every byte acknowledged (browser, BITS)", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				lc.fin(s2c, 2900)
				lc.ack(c2s, 2900.2)
				lc.fin(c2s, 2901)
				lc.rst(c2s, 2901.1)
				lc.end(reassembly.EndRST)
			}},
		{name: "not HTTP (a TLS session reset with data in flight): not connlint's business", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.c.HTTP = false
				lc.dataAck(c2s, 2, 1862, 0)
				lc.rst(c2s, 3)
				lc.end(reassembly.EndRST)
			}},
		{name: "RST answering a SYN is a refused connection", want: 0,
			build: func(k *lcCap) { k.refused(cli, srv, 0) }},
		{name: "RST after a capture gap hides what was outstanding", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q := lc.request("GET", "/", 2, 0)
				lc.c.Gaps = append(lc.c.Gaps, reassembly.Gap{Dir: c2s, Offset: 16, Bytes: 16, After: k.pos(2.5)})
				lc.dataAck(c2s, 2.6, 50, 0)
				lc.rst(s2c, 3)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "client resets while the response is still arriving", want: 1,
			says: []string{"client reset", "response 200 cut after"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q := lc.request("GET", "/big", 2, 0)
				p := lc.data(s2c, 3, 1460)
				r := &http1.Message{Dir: flow.ServerToClient, Status: 200, Proto: "HTTP/1.1", Major: 1, Minor: 1, Start: p, HeaderEnd: p, Last: p,
					ContentLength: 100000, BodyLength: 1300, BodyBytes: 1300, MissingBytes: 98700, Framing: http1.FramingContentLength, End: http1.EndRST}
				lc.ack(c2s, 3.2)
				lc.data(s2c, 3.3, 1460) // in flight
				lc.rst(c2s, 3.4)
				k.e.Message(lc.c, r)
				lc.settle(q, r)
				lc.end(reassembly.EndRST)
			}},
		{name: "client that finished refuses data arriving after its FIN", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				lc.fin(c2s, 5)
				lc.fin(s2c, 5.5)
				lc.data(s2c, 6, 348) // a late (injected/duplicate) response
				lc.rst(c2s, 6.1)
				lc.end(reassembly.EndRST)
			}},
		{name: "server resets an idle connection with everything answered and acknowledged", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1, "Keep-Alive", "timeout=15")
				lc.rst(s2c, 9100)
				lc.end(reassembly.EndRST)
			}},
		{name: "server resets before acknowledging a request", want: 1,
			says: []string{"200 bytes the client had sent were never acknowledged"},
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				q := lc.request("POST", "/form", 10, 0)
				p := k.pos(10.5)
				lc.c.Halves[s2c].RST = &p
				k.e.Segment(lc.c, &reassembly.Segment{Pos: p, Dir: s2c, Flags: reassembly.RST})
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "request after the server's FIN answered by RST is the keep-alive race's", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				lc.fin(s2c, 1003)
				q := lc.request("GET", "/again", 1004, 0)
				lc.rst(s2c, 1004.5)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "peer had given up (FIN) before the reset, nothing cut", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				lc.get("/", 2, 1)
				q := lc.request("GET", "/hang", 100, 0)
				lc.ack(s2c, 100.2)
				lc.fin(c2s, 2100)
				lc.ack(s2c, 2100.2)
				lc.rst(s2c, 3000)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
		{name: "client gives up on a silent server", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				q := lc.request("GET", "/slow", 2, 0)
				lc.ack(s2c, 2.5)
				lc.rst(c2s, 30000)
				lc.settle(q, nil)
				lc.end(reassembly.EndRST)
			}},
	})
}
