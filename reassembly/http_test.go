package reassembly

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// httpRecorder keeps the HTTP events the real parser produces.
type httpRecorder struct {
	recorder
	msgs []*http1.Message
	txs  []*http1.Transaction
}

func (r *httpRecorder) Message(c *Conn, m *http1.Message) { r.msgs = append(r.msgs, m) }
func (r *httpRecorder) Transaction(c *Conn, t *http1.Transaction) {
	r.txs = append(r.txs, t)
}

// TestHTTPThroughConversation runs the production consumer: segments →
// stream → http1.Conversation → its handler, with the frames of the packets
// that carried them, and the Conversation's Recognizer answers in Conn.
func TestHTTPThroughConversation(t *testing.T) {
	sr := newStepRun(t, Options{})
	hr := &httpRecorder{}
	sr.a = NewAssembler(hr, withHTTP(Options{}, hr)) // the production consumer
	sr.r = &hr.recorder
	req := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: req[:10]},
		{from: "c", flags: PA, seq: ci + 11, ack: si + 1, data: req[10:]},
		{from: "s", flags: PA, seq: si + 1 + 20, ack: ci + 1 + uint32(len(req)), data: resp[20:], kind: SegOutOfOrder},
		{from: "s", flags: PA, seq: si + 1, ack: ci + 1 + uint32(len(req)), data: resp[:20]},
		{from: "c", flags: FIN | ACK, seq: ci + 1 + uint32(len(req)), ack: si + 1 + uint32(len(resp))},
		{from: "s", flags: FIN | ACK, seq: si + 1 + uint32(len(resp)), ack: ci + 2 + uint32(len(req))},
	})
	sr.close("connend 1 fin")
	if len(hr.msgs) != 2 || len(hr.txs) != 1 {
		t.Fatalf("%d messages, %d transactions", len(hr.msgs), len(hr.txs))
	}
	q, s := hr.msgs[0], hr.msgs[1]
	if q.Method != "GET" || q.Target != "/a" || q.Start.Frame != 4 || q.HeaderEnd.Frame != 5 {
		t.Errorf("request %+v", q)
	}
	// The response was completed by frame 7, which filled the hole before frame 6's bytes.
	if s.Status != 200 || s.BodyLength != 5 || s.Start.Frame != 7 || s.End != http1.EndComplete {
		t.Errorf("response %+v", s)
	}
	if c := hr.ended[0]; !c.HTTP || c.NotHTTP || c.End != EndFIN {
		t.Errorf("conn HTTP %v NotHTTP %v end %v", c.HTTP, c.NotHTTP, c.End)
	}
}

// TestConsumersChooseRoles: without a handshake, the ConsumerFactory's
// SenderDir decides who the client is from the first payload (a status line
// from port 40000 makes that side the server); without Options.Consumers
// there is no consumer, the ports decide, and Conn.HTTP stays false while
// the streams are still counted.
func TestConsumersChooseRoles(t *testing.T) {
	a, b := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("10.0.0.2:80")
	resp, req := "HTTP/1.1 204 No Content\r\n\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name   string
		opts   Options
		client netip.AddrPort
		http   bool
	}{
		{"http1 consumers", withHTTP(Options{}, nil), b, true},
		{"no consumers", Options{}, a, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			asm := NewAssembler(r, tc.opts)
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for i, s := range []pktSpec{
				{src: a, dst: b, flags: PA, seq: 7000, ack: 3000, payload: []byte(resp)},
				{src: b, dst: a, flags: PA, seq: 3000, ack: 7000 + uint32(len(resp)), payload: []byte(req)},
			} {
				s.win = 65535
				f := int64(i + 1)
				asm.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(f) * time.Millisecond), Frame: f, Ord: f})
			}
			asm.Close()
			if len(r.ended) != 1 {
				t.Fatalf("%d connections", len(r.ended))
			}
			c := r.ended[0]
			if c.Client != tc.client || !c.RolesGuessed || c.HTTP != tc.http || c.NotHTTP {
				t.Errorf("client %v (want %v), guessed %v, HTTP %v (want %v), NotHTTP %v",
					c.Client, tc.client, c.RolesGuessed, c.HTTP, tc.http, c.NotHTTP)
			}
			if got := c.Halves[0].Bytes + c.Halves[1].Bytes; got != uint64(len(req)+len(resp)) {
				t.Errorf("%d stream bytes, want %d", got, len(req)+len(resp))
			}
		})
	}
}
