package lifecycle

import (
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

func TestAbortiveClose(t *testing.T) {
	runLC(t, "abortive-close", []lcCase{
		{name: "server resets with pipelined requests unread and its response unacknowledged", want: 1,
			attrs: map[string]any{"reset_by": "server", "unanswered_transactions": []int{2, 3}, "unacked_bytes_sent": uint64(60150)},
			check: func(t *testing.T, f *analyze.Finding) {
				if f.Transaction != 2 || f.Attrs["cut_transactions"] != nil || f.Attrs["unacked_bytes_received"] != nil {
					t.Errorf("tx %d, attrs %v", f.Transaction, f.Attrs)
				}
			},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q1 := lc.Request("GET", "/abort", 2, 0)
				q2 := lc.Request("GET", "/ok", 2.1, 0)
				q3 := lc.Request("GET", "/ok", 2.2, 0)
				// the server acks the three requests, sends 60 kB and resets
				p := lc.DataAck(s2c, 3, 60150, lc.Next[c2s])
				r := &http1.Message{Dir: flow.ServerToClient, Status: 200, Proto: "HTTP/1.1", Major: 1, Minor: 1, Start: p, HeaderEnd: p, Last: p,
					ContentLength: 60000, BodyLength: 60000, BodyBytes: 60000, Framing: http1.FramingContentLength,
					Headers: []http1.Header{{Name: "Connection", Value: "close"}}}
				k.E.Message(lc.C, r)
				lc.RST(s2c, 3.1)
				lc.Settle(q1, r)
				lc.Settle(q2, nil)
				lc.Settle(q3, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "RST after both FINs with every byte acknowledged (browser, BITS)", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				lc.FIN(s2c, 2900)
				lc.Ack(c2s, 2900.2)
				lc.FIN(c2s, 2901)
				lc.RST(c2s, 2901.1)
				lc.End(reassembly.EndRST)
			}},
		{name: "not HTTP (a TLS session reset with data in flight): not connlint's business", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.C.HTTP = false
				lc.DataAck(c2s, 2, 1862, 0)
				lc.RST(c2s, 3)
				lc.End(reassembly.EndRST)
			}},
		{name: "RST answering a SYN is a refused connection", want: 0,
			build: func(k *analyzetest.Capture) { k.Refused(cli, srv, 0) }},
		{name: "RST after a capture gap hides what was outstanding", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q := lc.Request("GET", "/", 2, 0)
				lc.C.Gaps = append(lc.C.Gaps, reassembly.Gap{Dir: c2s, Offset: 16, Bytes: 16, After: k.Pos(2.5)})
				lc.DataAck(c2s, 2.6, 50, 0)
				lc.RST(s2c, 3)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "client resets while the response is still arriving", want: 1,
			attrs: map[string]any{"reset_by": "client", "unanswered_transactions": []int{1}, "cut_transactions": []int{1}},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q := lc.Request("GET", "/big", 2, 0)
				p := lc.Data(s2c, 3, 1460)
				r := &http1.Message{Dir: flow.ServerToClient, Status: 200, Proto: "HTTP/1.1", Major: 1, Minor: 1, Start: p, HeaderEnd: p, Last: p,
					ContentLength: 100000, BodyLength: 1300, BodyBytes: 1300, MissingBytes: 98700, Framing: http1.FramingContentLength, End: http1.EndRST}
				lc.Ack(c2s, 3.2)
				lc.Data(s2c, 3.3, 1460) // in flight
				lc.RST(c2s, 3.4)
				k.E.Message(lc.C, r)
				lc.Settle(q, r)
				lc.End(reassembly.EndRST)
			}},
		{name: "client that finished refuses data arriving after its FIN", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				lc.FIN(c2s, 5)
				lc.FIN(s2c, 5.5)
				lc.Data(s2c, 6, 348) // a late (injected/duplicate) response
				lc.RST(c2s, 6.1)
				lc.End(reassembly.EndRST)
			}},
		{name: "server resets an idle connection with everything answered and acknowledged", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1, "Keep-Alive", "timeout=15")
				lc.RST(s2c, 9100)
				lc.End(reassembly.EndRST)
			}},
		{name: "server resets before acknowledging a request", want: 1,
			attrs: map[string]any{"reset_by": "server", "unacked_bytes_received": uint64(200)},
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				q := lc.Request("POST", "/form", 10, 0)
				p := k.Pos(10.5)
				lc.C.Halves[s2c].RST = &p
				k.E.Segment(lc.C, &reassembly.Segment{Pos: p, Dir: s2c, Flags: reassembly.RST})
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "request after the server's FIN answered by RST is the keep-alive race's", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				lc.FIN(s2c, 1003)
				q := lc.Request("GET", "/again", 1004, 0)
				lc.RST(s2c, 1004.5)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "peer had given up (FIN) before the reset, nothing cut", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				lc.Get("/", 2, 1)
				q := lc.Request("GET", "/hang", 100, 0)
				lc.Ack(s2c, 100.2)
				lc.FIN(c2s, 2100)
				lc.Ack(s2c, 2100.2)
				lc.RST(s2c, 3000)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
		{name: "client gives up on a silent server", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				q := lc.Request("GET", "/slow", 2, 0)
				lc.Ack(s2c, 2.5)
				lc.RST(c2s, 30000)
				lc.Settle(q, nil)
				lc.End(reassembly.EndRST)
			}},
	})
}

// Issue 12 item 11 (testdata/trust/crafted-rst-ack-after-gap): a hole in an
// earlier, complete response, then a POST of three segments the server
// resets with a RST+ACK acknowledging only the head and 1000 body bytes. The
// RST's ACK proves the rest of the captured POST was never acknowledged.
func TestAbortiveCloseAfterGap(t *testing.T) {
	// build: response 1 with a 1000-byte hole, the POST (200-byte head +
	// 3000 body bytes in three segments), then the server's RST whose ACK
	// field is ack (stream offset of the client's bytes), or no ACK at all.
	build := func(ack func(post uint64) uint64, rstACK bool, hole func(lc *analyzetest.Conn, k *analyzetest.Capture, post uint64) bool) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			lc := k.Open(cli, srv, 0, 1)
			q1 := lc.Request("GET", "/1", 2, 0)
			p := lc.Data(s2c, 3, 1150)
			lc.C.Gaps = append(lc.C.Gaps, reassembly.Gap{Dir: s2c, Offset: lc.Next[s2c], Bytes: 1000, After: k.Pos(3)})
			lc.Next[s2c] += 1000
			last := lc.Data(s2c, 3, 1000)
			r1 := &http1.Message{Dir: s2c, Status: 200, Proto: "HTTP/1.1", Major: 1, Minor: 1, Start: p, HeaderEnd: p, Last: last,
				ContentLength: 3000, BodyLength: 3000, BodyBytes: 2000, Framing: http1.FramingContentLength}
			lc.Ack(c2s, 4)
			post := lc.Next[c2s]
			q2 := lc.Request("POST", "/upload", 10, 1000)
			q2.ContentLength, q2.BodyLength = 3000, 3000
			gapEnd := false
			if hole != nil {
				gapEnd = hole(lc, k, post)
			} else {
				lc.Data(c2s, 10, 1000)
				lc.Data(c2s, 10, 1000)
			}
			if gapEnd {
				q2.End = http1.EndGap
			}
			rp := k.Pos(15)
			fl := reassembly.RST
			seg := reassembly.Segment{Pos: rp, Dir: s2c, Flags: fl}
			if rstACK {
				seg.Flags |= reassembly.ACK
				seg.AckValid, seg.AckOffset = true, ack(post)
			}
			lc.C.Halves[s2c].RST = &rp
			k.E.Segment(lc.C, &seg)
			lc.Settle(q1, r1)
			lc.Settle(q2, nil)
			lc.End(reassembly.EndRST)
		}
	}
	upTo1000 := func(post uint64) uint64 { return post + 200 + 1000 }
	runLC(t, "abortive-close", []lcCase{
		{name: "RST+ACK after an earlier gap proves 2000 bytes unacknowledged", want: 1, build: build(upTo1000, true, nil),
			attrs: map[string]any{"reset_by": "server", "unacked_bytes_received": uint64(2000), "after_gap": true, "unanswered_transactions": []int{2}},
			check: func(t *testing.T, f *analyze.Finding) {
				if f.Attrs["unacked_bytes_sent"] != nil {
					t.Errorf("own unacknowledged bytes reported across a hole: %v", f.Attrs)
				}
			}},
		// near misses
		{name: "RST without ACK after a gap: the hole hides it", want: 0, build: build(upTo1000, false, nil)},
		{name: "RST+ACK acknowledging everything captured", want: 0, build: build(func(post uint64) uint64 { return post + 3200 }, true, nil)},
		// a hole inside the unacknowledged range: only the captured bytes
		// beyond the RST's ACK are proven (1000 of the 2000)
		{name: "hole inside the unacknowledged bytes", want: 1,
			attrs: map[string]any{"unacked_bytes_received": uint64(1000), "unanswered_transactions": []int{2}},
			build: build(upTo1000, true, func(lc *analyzetest.Conn, k *analyzetest.Capture, post uint64) bool {
				lc.C.Gaps = append(lc.C.Gaps, reassembly.Gap{Dir: c2s, Offset: lc.Next[c2s], Bytes: 1000, After: k.Pos(10)})
				lc.Next[c2s] += 1000
				lc.Data(c2s, 10, 1000)
				return false
			})},
		// the POST ends in a hole: its bytes before the hole are reported,
		// the transaction is left out
		{name: "request ending in a gap is left out, its captured bytes are not", want: 1,
			attrs: map[string]any{"unacked_bytes_received": uint64(1000), "after_gap": true},
			build: build(upTo1000, true, func(lc *analyzetest.Conn, k *analyzetest.Capture, post uint64) bool {
				lc.Data(c2s, 10, 1000)
				lc.C.Gaps = append(lc.C.Gaps, reassembly.Gap{Dir: c2s, Offset: lc.Next[c2s], Bytes: 1000, After: k.Pos(16)})
				lc.Next[c2s] += 1000
				return true
			}),
			check: func(t *testing.T, f *analyze.Finding) {
				if f.Attrs["unanswered_transactions"] != nil {
					t.Errorf("a transaction ending in a gap listed: %v", f.Attrs)
				}
			}},
	})
}
