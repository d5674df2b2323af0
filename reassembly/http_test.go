package reassembly

import (
	"testing"

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
