package analyze

import (
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// This file holds the synthetic driver the timing-rule tests share: it
// builds a *reassembly.Conn, feeds an Engine segment by segment exactly as
// the Assembler would (Segment before the bytes reach the parser, messages
// when complete, transactions once settled) and records what comes out. No
// pcap is needed, so every distinction the rules make can be pinned down
// to the microsecond.

// timingConfig runs only the timing rules (the others are tested elsewhere
// and must not add noise here).
func timingConfig() *Config {
	cfg := DefaultConfig()
	for _, r := range timingRules {
		cfg.Enabled[r.ID] = true
	}
	return cfg
}

var tBase = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// run is one capture: an engine and a frame counter shared by its connections.
type tRun struct {
	t     *testing.T
	e     *Engine
	sink  *recorder
	frame int64
	ids   uint64
}

func newTRun(t *testing.T, cfg *Config) *tRun {
	if cfg == nil {
		cfg = timingConfig()
	}
	s := &recorder{}
	return &tRun{t: t, e: NewEngine(cfg, Rules, s), sink: s}
}

// sconn is one synthetic connection.
type sconn struct {
	r     *tRun
	c     *reassembly.Conn
	next  [2]uint64 // next stream offset each direction sends
	acked [2]uint64 // what each direction has acknowledged of the other
	win   [2]uint32 // window each direction advertises
	segs  [2][]reassembly.Segment
	msgs  [2]int
	txs   int
}

// ms0 turns milliseconds since tBase into a time.
func tAt(v float64) time.Time { return tBase.Add(time.Duration(v * float64(time.Millisecond))) }

// open starts a connection whose handshake shows rs (capture point ↔
// server) and rc (capture point ↔ client) round trips, beginning at synAt ms.
func (r *tRun) open(synAt, rs, rc float64) *sconn {
	r.ids++
	c := &reassembly.Conn{ID: r.ids,
		Client: netip.MustParseAddrPort("10.0.0.1:" + strconv.Itoa(40000+int(r.ids))),
		Server: netip.MustParseAddrPort("10.0.0.2:80")}
	c.Halves[0].MSS, c.Halves[1].MSS = 1460, 1460
	c.Halves[0].WScale, c.Halves[1].WScale = 7, 7
	c.HTTP = true
	sc := &sconn{r: r, c: c, win: [2]uint32{1 << 20, 1 << 20}}
	c.SYN = sc.pos(synAt)
	c.First = c.SYN
	r.e.ConnStart(c)
	sc.emit(reassembly.Segment{Pos: c.SYN, Dir: 0, Flags: reassembly.SYN, Window: sc.win[0]})
	c.SYNACK = sc.pos(synAt + rs)
	sc.emit(reassembly.Segment{Pos: c.SYNACK, Dir: 1, Flags: reassembly.SYN | reassembly.ACK, Window: sc.win[1], AckValid: true})
	c.HandshakeACK = sc.pos(synAt + rs + rc)
	sc.emit(reassembly.Segment{Pos: c.HandshakeACK, Dir: 0, Flags: reassembly.ACK, Window: sc.win[0], AckValid: true})
	return sc
}

// openMid starts a connection picked up mid-stream (no handshake).
func (r *tRun) openMid(at float64) *sconn {
	r.ids++
	c := &reassembly.Conn{ID: r.ids, MidStream: true,
		Client: netip.MustParseAddrPort("10.0.0.1:50000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}
	c.Halves[0].WScale, c.Halves[1].WScale = -1, -1
	c.HTTP = true
	sc := &sconn{r: r, c: c, win: [2]uint32{1 << 20, 1 << 20}}
	c.First = sc.pos(at)
	r.e.ConnStart(c)
	return sc
}

func (sc *sconn) pos(at float64) flow.Pos {
	sc.r.frame++
	return flow.Pos{Time: tAt(at), Frame: sc.r.frame, Ord: sc.r.frame}
}

func (sc *sconn) emit(s reassembly.Segment) *reassembly.Segment {
	sc.c.Last = s.Pos
	sc.segs[s.Dir] = append(sc.segs[s.Dir], s)
	sc.r.e.Segment(sc.c, &s)
	return &s
}

// data sends n new bytes from d at `at` ms, acknowledging what d has
// received so far. It returns the segment's frame.
func (sc *sconn) data(d flow.Dir, at float64, n int) int64 {
	p := sc.pos(at)
	p.Offset = sc.next[d]
	sc.next[d] += uint64(n)
	sc.acked[d] = sc.next[1-d]
	s := sc.emit(reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: reassembly.ACK | reassembly.PSH,
		Window: sc.win[d], Kind: reassembly.SegNew, AckOffset: sc.acked[d], AckValid: true})
	return s.Frame
}

// dataNoAck sends data that does not acknowledge anything new (the sender
// had not received the peer's latest data yet).
func (sc *sconn) dataNoAck(d flow.Dir, at float64, n int) int64 {
	p := sc.pos(at)
	p.Offset = sc.next[d]
	sc.next[d] += uint64(n)
	s := sc.emit(reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: reassembly.ACK | reassembly.PSH,
		Window: sc.win[d], Kind: reassembly.SegNew, AckOffset: sc.acked[d], AckValid: true})
	return s.Frame
}

// ack is a pure ACK from d for everything the peer sent.
func (sc *sconn) ack(d flow.Dir, at float64) int64 { return sc.ackTo(d, at, sc.next[1-d]) }

// ackTo is a pure ACK from d up to peer offset off.
func (sc *sconn) ackTo(d flow.Dir, at float64, off uint64) int64 {
	p := sc.pos(at)
	p.Offset = sc.next[d]
	sc.acked[d] = off
	s := sc.emit(reassembly.Segment{Pos: p, Dir: d, Flags: reassembly.ACK, Window: sc.win[d],
		Kind: reassembly.SegNew, AckOffset: off, AckValid: true})
	return s.Frame
}

// resend retransmits n bytes of d's stream from offset off.
func (sc *sconn) resend(d flow.Dir, at float64, off uint64, n int) {
	p := sc.pos(at)
	p.Offset = off
	sc.emit(reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: reassembly.ACK | reassembly.PSH, Window: sc.win[d],
		Kind: reassembly.SegRetransmit, AckOffset: sc.acked[d], AckValid: true})
}

// posAt finds the position of stream byte off of direction d.
func (sc *sconn) posAt(d flow.Dir, off uint64) flow.Pos {
	for _, s := range sc.segs[d] {
		if s.Len > 0 && s.Offset <= off && off < s.Offset+uint64(s.Len) {
			p := s.Pos
			p.Offset = off
			return p
		}
	}
	sc.r.t.Fatalf("no segment holds byte %d of direction %d", off, d)
	return flow.Pos{}
}

// msg delivers an HTTP message of d at stream offsets [start, start+hdr+body).
func (sc *sconn) msg(d flow.Dir, start uint64, hdr int, body int64, line string) *http1.Message {
	m := &http1.Message{Dir: d, Index: sc.msgs[d], HeaderBytes: hdr, BodyBytes: body, BodyLength: body,
		ContentLength: body, Proto: "HTTP/1.1", Major: 1, Minor: 1, Framing: http1.FramingContentLength}
	sc.msgs[d]++
	if d == flow.ClientToServer {
		f := strings.Fields(line)
		m.Method, m.Target = f[0], f[1]
	} else {
		m.Status, _ = strconv.Atoi(line)
	}
	m.Start = sc.posAt(d, start)
	m.HeaderEnd = sc.posAt(d, start+uint64(hdr)-1)
	if body > 0 {
		m.BodyStart = sc.posAt(d, start+uint64(hdr))
	}
	m.Last = sc.posAt(d, start+uint64(hdr)+uint64(body)-1)
	sc.r.e.Message(sc.c, m)
	return m
}

// tx settles a transaction.
func (sc *sconn) tx(req, resp *http1.Message) {
	sc.r.e.Transaction(sc.c, &http1.Transaction{Index: sc.txs, Request: req, Response: resp})
	sc.txs++
}

func (sc *sconn) close(at float64) {
	p := sc.pos(at)
	p.Offset = sc.next[0]
	sc.emit(reassembly.Segment{Pos: p, Dir: 0, Flags: reassembly.FIN | reassembly.ACK, Window: sc.win[0],
		Kind: reassembly.SegNew, AckOffset: sc.next[1], AckValid: true})
	fin := p
	sc.c.Halves[0].FIN = &fin
	sc.c.End = reassembly.EndFIN
	sc.r.e.ConnEnd(sc.c)
}

func tNear(got, want time.Duration, tol time.Duration) bool {
	d := got - want
	return d <= tol && d >= -tol
}

func tMS(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// TestAttributeBreakdown: a finding's milliseconds land in its
// transaction's breakdown, under the rule's ID, added up.
func TestAttributeBreakdown(t *testing.T) {
	r := newTRun(t, nil)
	sc := r.open(0, 20, 0.1)
	sc.data(0, 20.2, 200)
	sc.ack(1, 80.2)
	sc.data(0, 80.3, 18)
	sc.data(1, 100.4, 300)
	sc.ack(0, 100.5)
	req := sc.msg(0, 0, 200, 18, "POST /upload")
	resp := sc.msg(1, 0, 300, 0, "200")
	sc.tx(req, resp)
	sc.close(200)
	if len(r.sink.conns) != 1 {
		t.Fatal("no connection report")
	}
	tr := r.sink.conns[0].Transactions[0]
	got := tr.Timing.Attributed[NagleDelayedAck.ID]
	if !tNear(got, tMS(40), tMS(0.01)) {
		t.Errorf("attributed %v, want 40ms; findings %v", got, r.sink.findings)
	}
	// Attribute on an unknown transaction is refused, and sums add up.
	st := &connState{report: &ConnReport{Transactions: []*TxReport{{Index: 1}}}}
	ctx := &Ctx{st: st, rule: &Rule{ID: "x"}}
	if ctx.Attribute(2, time.Millisecond) {
		t.Error("attributed to a transaction that does not exist")
	}
	ctx.Attribute(1, time.Millisecond)
	ctx.Attribute(1, 2*time.Millisecond)
	if v := st.report.Transactions[0].Timing.Attributed["x"]; v != 3*time.Millisecond {
		t.Errorf("sum %v, want 3ms", v)
	}
}

func TestTimingRulesRegistered(t *testing.T) {
	if err := Validate(Rules); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"delayed-ack-stall", "nagle-delayed-ack", "handshake-overhead", "slow-start-fresh-connection"} {
		if Lookup(id) == nil {
			t.Errorf("%s not registered", id)
		}
	}
}

type (
	httpMsg = http1.Message
	httpTx  = http1.Transaction
)

func gapAt(d flow.Dir, off, n uint64) reassembly.Gap {
	return reassembly.Gap{Dir: d, Offset: off, Bytes: n}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
