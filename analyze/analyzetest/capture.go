package analyzetest

import (
	"github.com/connlint/connlint/reassembly/tls"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Capture drives an Engine packet by packet over several connections, the
// way the Assembler does (Segment before the bytes reach the parser,
// messages when complete, transactions once settled, ConnEnd last), with
// one frame counter for the whole capture. Times are milliseconds after T0.
type Capture struct {
	T   testing.TB
	E   *analyze.Engine
	Rec *Recorder
	// Summary is what Engine.Close returned (set by Close).
	Summary *analyze.Summary
	frame   int64
	ids     uint64
}

// NewCapture starts a capture on an engine running rules; when enable names
// rule IDs, only those run (cfg.Enabled). cfg nil means the defaults.
func NewCapture(t testing.TB, cfg *analyze.Config, rules []*analyze.Rule, enable ...string) *Capture {
	if cfg == nil {
		cfg = analyze.DefaultConfig()
	}
	for _, id := range enable {
		cfg.Enabled[id] = true
	}
	rec := &Recorder{}
	return &Capture{T: t, E: analyze.NewEngine(cfg, rules, rec), Rec: rec}
}

// Pos is the next frame of the capture (Ord = frame) at ms after T0.
func (k *Capture) Pos(ms float64) flow.Pos {
	k.frame++
	return flow.Pos{Time: T0.Add(time.Duration(ms * float64(time.Millisecond))), Frame: k.frame, Ord: k.frame}
}

// Close ends the run (the connections must have ended) and returns the
// recorder.
func (k *Capture) Close() *Recorder {
	k.Summary = k.E.Close()
	return k.Rec
}

// Replay delivers a finished connection built elsewhere: ConnStart, each
// transaction's messages then the transaction, ConnEnd.
func (k *Capture) Replay(c *reassembly.Conn, txs ...*http1.Transaction) {
	k.E.ConnStart(c)
	for _, t := range txs {
		for _, m := range []*http1.Message{t.Request, t.Response} {
			if m != nil {
				k.E.Message(c, m)
			}
		}
		k.E.Transaction(c, t)
	}
	k.E.ConnEnd(c)
}

// Conn is one synthetic TCP connection of a Capture.
type Conn struct {
	K *Capture
	C *reassembly.Conn
	// Next is the next stream offset each direction sends.
	Next  [2]uint64
	acked [2]uint64 // what each direction has acknowledged of the other
	// Win is the window each direction advertises (0 unless OpenTCP set it).
	Win  [2]uint32
	segs [2][]reassembly.Segment
	msgs [2]int
	txs  int
}

// Open starts an HTTP connection client → server with a full handshake
// (SYN at ms, SYN-ACK rtt/2 later, ACK at ms+rtt) and no TCP options.
func (k *Capture) Open(client, server string, ms, rtt float64) *Conn {
	k.ids++
	c := &reassembly.Conn{ID: k.ids, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), HTTP: true}
	lc := &Conn{K: k, C: c}
	c.SYN = k.Pos(ms)
	c.First, c.Last = c.SYN, c.SYN
	k.E.ConnStart(c)
	lc.emit(reassembly.Segment{Pos: c.SYN, Dir: flow.ClientToServer, Flags: reassembly.SYN})
	c.SYNACK = k.Pos(ms + rtt/2)
	lc.emit(reassembly.Segment{Pos: c.SYNACK, Dir: flow.ServerToClient, Flags: reassembly.SYN | reassembly.ACK, AckValid: true})
	c.HandshakeACK = k.Pos(ms + rtt)
	lc.emit(reassembly.Segment{Pos: c.HandshakeACK, Dir: flow.ClientToServer, Flags: reassembly.ACK, AckValid: true})
	return lc
}

// OpenTCP starts an HTTP connection 10.0.0.1:(40000+id) → 10.0.0.2:80 whose
// handshake (from synAt ms) shows rs (capture point ↔ server) and rc
// (capture point ↔ client) round trips; both sides announce MSS 1460,
// window scale 7 and a 1 MiB window.
func (k *Capture) OpenTCP(synAt, rs, rc float64) *Conn {
	k.ids++
	c := &reassembly.Conn{ID: k.ids,
		Client: netip.MustParseAddrPort("10.0.0.1:" + strconv.Itoa(40000+int(k.ids))),
		Server: netip.MustParseAddrPort("10.0.0.2:80")}
	c.Halves[0].MSS, c.Halves[1].MSS = 1460, 1460
	c.Halves[0].WScale, c.Halves[1].WScale = 7, 7
	c.HTTP = true
	sc := &Conn{K: k, C: c, Win: [2]uint32{1 << 20, 1 << 20}}
	c.SYN = k.Pos(synAt)
	c.First = c.SYN
	k.E.ConnStart(c)
	sc.emit(reassembly.Segment{Pos: c.SYN, Dir: 0, Flags: reassembly.SYN})
	c.SYNACK = k.Pos(synAt + rs)
	sc.emit(reassembly.Segment{Pos: c.SYNACK, Dir: 1, Flags: reassembly.SYN | reassembly.ACK, AckValid: true})
	c.HandshakeACK = k.Pos(synAt + rs + rc)
	sc.emit(reassembly.Segment{Pos: c.HandshakeACK, Dir: 0, Flags: reassembly.ACK, AckValid: true})
	return sc
}

// OpenMid starts a connection picked up mid-stream (no handshake, no
// options) at ms.
func (k *Capture) OpenMid(ms float64) *Conn {
	k.ids++
	c := &reassembly.Conn{ID: k.ids, MidStream: true,
		Client: netip.MustParseAddrPort("10.0.0.1:50000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}
	c.Halves[0].WScale, c.Halves[1].WScale = -1, -1
	c.HTTP = true
	sc := &Conn{K: k, C: c, Win: [2]uint32{1 << 20, 1 << 20}}
	c.First = k.Pos(ms)
	k.E.ConnStart(c)
	return sc
}

// Refused plays a SYN answered by RST.
func (k *Capture) Refused(client, server string, ms float64) {
	k.ids++
	c := &reassembly.Conn{ID: k.ids, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)}
	lc := &Conn{K: k, C: c}
	c.SYN = k.Pos(ms)
	c.First, c.Last = c.SYN, c.SYN
	k.E.ConnStart(c)
	lc.emit(reassembly.Segment{Pos: c.SYN, Dir: flow.ClientToServer, Flags: reassembly.SYN})
	lc.RST(flow.ServerToClient, ms+0.1)
	lc.End(reassembly.EndRefused)
}

// emit delivers s (its Offset, window and acknowledgement filled in when
// unset by the caller's helpers) and accounts for its bytes.
func (lc *Conn) emit(s reassembly.Segment) *reassembly.Segment {
	d := s.Dir
	s.Window = lc.Win[d]
	lc.Next[d] += uint64(s.Len)
	lc.C.Halves[d].Bytes = lc.Next[d]
	lc.C.Halves[d].Segments++
	lc.C.Last = s.Pos
	lc.segs[d] = append(lc.segs[d], s)
	lc.K.E.Segment(lc.C, &s)
	return &s
}

// send emits n new bytes from d at ms acknowledging ack of the peer.
func (lc *Conn) send(d flow.Dir, ms float64, n int, fl reassembly.Flags, ack uint64) flow.Pos {
	p := lc.K.Pos(ms)
	p.Offset = lc.Next[d]
	lc.acked[d] = ack
	lc.emit(reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: fl, AckOffset: ack, AckValid: true})
	return p
}

// Data sends n new bytes from d at ms, acknowledging everything the peer
// sent; it returns the segment's position.
func (lc *Conn) Data(d flow.Dir, ms float64, n int) flow.Pos {
	return lc.send(d, ms, n, reassembly.ACK|reassembly.PSH, lc.Next[1-d])
}

// DataAck sends n new bytes from d whose ACK field acknowledges upTo bytes
// of the peer.
func (lc *Conn) DataAck(d flow.Dir, ms float64, n int, upTo uint64) flow.Pos {
	return lc.send(d, ms, n, reassembly.ACK|reassembly.PSH, upTo)
}

// DataNoAck sends n new bytes from d acknowledging nothing new (the sender
// had not received the peer's latest data yet).
func (lc *Conn) DataNoAck(d flow.Dir, ms float64, n int) flow.Pos {
	return lc.send(d, ms, n, reassembly.ACK|reassembly.PSH, lc.acked[d])
}

// Ack is a pure ACK from d of everything the peer sent.
func (lc *Conn) Ack(d flow.Dir, ms float64) flow.Pos { return lc.AckTo(d, ms, lc.Next[1-d]) }

// AckTo is a pure ACK from d up to peer offset off.
func (lc *Conn) AckTo(d flow.Dir, ms float64, off uint64) flow.Pos {
	return lc.send(d, ms, 0, reassembly.ACK, off)
}

// Resend retransmits n bytes of d's stream from offset off.
func (lc *Conn) Resend(d flow.Dir, ms float64, off uint64, n int) {
	p := lc.K.Pos(ms)
	p.Offset = off
	s := reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: reassembly.ACK | reassembly.PSH,
		Kind: reassembly.SegRetransmit, AckOffset: lc.acked[d], AckValid: true, Window: lc.Win[d]}
	lc.C.Last = p
	lc.segs[d] = append(lc.segs[d], s)
	lc.K.E.Segment(lc.C, &s)
}

// FIN sends d's FIN (acknowledging everything) at ms.
func (lc *Conn) FIN(d flow.Dir, ms float64) flow.Pos {
	p := lc.send(d, ms, 0, reassembly.FIN|reassembly.ACK, lc.Next[1-d])
	lc.C.Halves[d].FIN = &p
	return p
}

// RST sends d's RST (with an ACK of everything) at ms.
func (lc *Conn) RST(d flow.Dir, ms float64) flow.Pos {
	p := lc.send(d, ms, 0, reassembly.RST|reassembly.ACK, lc.Next[1-d])
	lc.C.Halves[d].RST = &p
	return p
}

// End ends the connection for the reason given.
func (lc *Conn) End(r reassembly.EndReason) {
	lc.C.End = r
	lc.K.E.ConnEnd(lc.C)
}

// CloseFIN: d closes first at ms, the peer answers with its FIN, d acks,
// the connection ends.
func (lc *Conn) CloseFIN(d flow.Dir, ms float64) {
	lc.FIN(d, ms)
	lc.FIN(1-d, ms+0.5)
	lc.Ack(d, ms+1)
	lc.End(reassembly.EndFIN)
}

// Close is the client's FIN at ms, and the end of the connection.
func (lc *Conn) Close(ms float64) {
	lc.FIN(flow.ClientToServer, ms)
	lc.End(reassembly.EndFIN)
}

// Request sends a request with a body of body bytes in one 200+body-byte
// segment at ms (headers: name, value pairs) and delivers its message.
func (lc *Conn) Request(method, target string, ms float64, body int64, headers ...string) *http1.Message {
	p := lc.Data(flow.ClientToServer, ms, 200+int(body))
	m := &http1.Message{Dir: flow.ClientToServer, Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: p, HeaderEnd: p, Last: p, ContentLength: body, BodyLength: body, Index: lc.msgs[0]}
	lc.msgs[0]++
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	lc.K.E.Message(lc.C, m)
	return m
}

// Response answers q with n body bytes at ms (proto "HTTP/1.1" unless
// headers set ":proto"), acks it from the client 0.2 ms later, and settles
// the transaction.
func (lc *Conn) Response(q *http1.Message, status int, ms float64, n int, headers ...string) *http1.Message {
	p := lc.Data(flow.ServerToClient, ms, 150+n)
	m := &http1.Message{Dir: flow.ServerToClient, Status: status, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: p, HeaderEnd: p, Last: p, ContentLength: int64(n), BodyLength: int64(n), BodyBytes: int64(n),
		Framing: http1.FramingContentLength, Index: lc.msgs[1]}
	lc.msgs[1]++
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == ":proto" {
			m.Proto, m.Minor = headers[i+1], int(headers[i+1][7]-'0')
			continue
		}
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	lc.K.E.Message(lc.C, m)
	lc.Ack(flow.ClientToServer, ms+0.2)
	lc.Settle(q, m)
	return m
}

// Get is one complete GET exchange: request at ms, response rtt later.
func (lc *Conn) Get(target string, ms, rtt float64, respHeaders ...string) {
	q := lc.Request("GET", target, ms, 0)
	lc.Response(q, 200, ms+rtt, 100, respHeaders...)
}

// Settle delivers the next transaction: request q, response r (either may
// be nil), interim responses.
func (lc *Conn) Settle(q, r *http1.Message, interim ...*http1.Message) *http1.Transaction {
	t := &http1.Transaction{Index: lc.txs, Request: q, Response: r, Interim: interim}
	lc.txs++
	lc.K.E.Transaction(lc.C, t)
	return t
}

// SettleGap delivers the next transaction marked as touched by a capture gap.
func (lc *Conn) SettleGap(q, r *http1.Message) {
	lc.K.E.Transaction(lc.C, &http1.Transaction{Index: lc.txs, Request: q, Response: r, Gap: true})
	lc.txs++
}

// posAt finds the position of stream byte off of direction d.
func (lc *Conn) posAt(d flow.Dir, off uint64) flow.Pos {
	for _, s := range lc.segs[d] {
		if s.Len > 0 && s.Offset <= off && off < s.Offset+uint64(s.Len) {
			p := s.Pos
			p.Offset = off
			return p
		}
	}
	lc.K.T.Fatalf("no segment holds byte %d of direction %d", off, d)
	return flow.Pos{}
}

// Msg delivers an HTTP message of d over stream bytes [start,
// start+hdr+body) already sent: line is "METHOD target" or a status code.
func (lc *Conn) Msg(d flow.Dir, start uint64, hdr int, body int64, line string) *http1.Message {
	m := &http1.Message{Dir: d, Index: lc.msgs[d], HeaderBytes: hdr, BodyBytes: body, BodyLength: body,
		ContentLength: body, Proto: "HTTP/1.1", Major: 1, Minor: 1, Framing: http1.FramingContentLength}
	lc.msgs[d]++
	if d == flow.ClientToServer {
		f := strings.Fields(line)
		m.Method, m.Target = f[0], f[1]
	} else {
		m.Status, _ = strconv.Atoi(line)
	}
	m.Start = lc.posAt(d, start)
	m.HeaderEnd = lc.posAt(d, start+uint64(hdr)-1)
	if body > 0 {
		m.BodyStart = lc.posAt(d, start+uint64(hdr))
	}
	m.Last = lc.posAt(d, start+uint64(hdr)+uint64(body)-1)
	lc.K.E.Message(lc.C, m)
	return m
}

// MS is v milliseconds as a duration.
func MS(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// Near reports whether got is within tol of want.
func Near(got, want, tol time.Duration) bool {
	d := got - want
	return d <= tol && d >= -tol
}

// TLS sends one TLS record of n payload bytes (type typ, 23 for
// application data) from d at ms in one segment (acknowledging everything
// the peer sent) and delivers it to the engine with the handshake facts f,
// as the TLS consumer does for a connection it cannot decrypt.
func (lc *Conn) TLS(d flow.Dir, ms float64, typ tls.ContentType, n int, f tls.Facts) flow.Pos {
	// a TLS connection without keys is "not HTTP" to the reassembler
	lc.C.HTTP, lc.C.NotHTTP = false, true
	p := lc.Data(d, ms, n+5)
	last := p
	last.Offset = p.Offset + uint64(n+5) - 1
	td := tls.ClientToServer
	if d == flow.ServerToClient {
		td = tls.ServerToClient
	}
	r := tls.Record{Dir: td, Type: typ, Version: 0x0303, Length: n, Start: int64(p.Offset), End: int64(p.Offset) + int64(n+5),
		Encrypted: typ == tls.TypeApplicationData}
	lc.K.E.TLSRecord(lc.C, r, f, p, last)
	return p
}
