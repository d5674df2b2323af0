package timing

import (
	"sync"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// StallPass finds the stalls both delayed-ack-stall and nagle-delayed-ack
// report: one pass over the segments, each stall classified once (Nagle or
// not), so that it is reported under exactly one of the two rules.
var StallPass = &analyze.Pass{
	Name:    "stall-detection",
	Doc:     "waits of a sender on the receiver's delayed ACK, placed in their transactions",
	NewConn: func(*analyze.Config) analyze.Checker { return newStallDetector() },
}

// stallsOf returns the stalls the pass settled with the transaction being
// dispatched (valid during Transaction).
func stallsOf(ctx *analyze.Ctx) []*stallCand { return ctx.ResultOf(StallPass).(*stallDetector).settled }

// Limits of the stall detector. Each is a property of TCP, not a tuning knob.
const (
	// maxDelayedAck: RFC 1122 §4.2.3.2 says an ACK "MUST NOT be excessively
	// delayed; in particular, the delay MUST be less than 0.5 seconds"
	// (Linux caps it at 200 ms, Windows at 200 ms by default). An ACK later
	// than that beyond the RTT is not the delayed-ACK timer: say nothing.
	maxDelayedAck = 500 * time.Millisecond
	// releaseSlackMin + rtt/releaseSlackDiv bounds how far from "the ACK's
	// arrival at A, plus the way back to the capture point" A's next data may
	// be seen and still count as released by the ACK: kernel and capture
	// timestamp jitter plus RTT variation.
	releaseSlackMin = 2 * time.Millisecond
	releaseSlackDiv = 4
	// maxFlightTracked bounds the unacknowledged segments kept per direction;
	// beyond it the direction is "unsure" until its flight is acknowledged.
	// A delayed-ACK stall waits on at most one full-sized segment plus small
	// ones, so a longer flight can only end in silence anyway: keeping bulk
	// transfers out of the list is free accuracy-wise and saves their cost.
	maxFlightTracked = 16
	// maxStallPending bounds the stalls waiting for their HTTP message and
	// transaction (the oldest is dropped).
	maxStallPending = 32
)

// sentSeg is one segment of new data as it passed the capture point.
type sentSeg struct {
	pos mark // off = stream offset of its first byte
	n   int
}

// inFlight is an unacknowledged segment in the flight list. It holds no
// pointers (a time.Time does), so the list is cheap to shift and invisible
// to the garbage collector.
//
// Every connection holds a few inline (stallHalf.buf), so it is kept to 24
// bytes (issue 15): a segment's length fits 32 bits (an IP datagram's).
type inFlight struct {
	off  uint64
	at   int64 // capture time, Unix ns
	n    int32
	retx bool // part of it was sent again (Karn: no RTT sample)
}

func (f inFlight) end() uint64 { return f.off + uint64(f.n) }

// ackRelease is an acknowledgement that advanced the peer's view of a
// direction after that direction's sender last sent new data.
//
// Fields are ordered so that the flags share a word (one per direction of
// every connection, issue 15).
type ackRelease struct {
	pos     mark
	ackOff  uint64 // stream offset acknowledged
	prevUna uint64 // what was acknowledged before it
	// The segments it acknowledged (those still in the flight list).
	segs, full int
	smallBytes int    // the first such segment's length
	winBefore  uint32 // the receiver's window before this ACK (scaled)
	valid      bool
	pure       bool // no payload, no SYN/FIN/RST: nothing but the ACK
	winValid   bool
	small      bool // one of them was shorter than a full-sized segment
	unsure     bool // the flight list had overflowed
}

// stallHalf follows one direction: its sender A, the ACKs its receiver B
// sends back, and everything since A's last new data that would explain a
// wait other than a delayed ACK.
//
// Fields are ordered so that the flags share a word (two per connection,
// open or lingering, issue 15).
type stallHalf struct {
	end    uint64  // offset after A's last new data
	last   sentSeg // A's last new data segment (the one before a wait)
	flight []inFlight
	buf    [4]inFlight // flight's first backing array: request/response flows rarely need more
	una    uint64      // acknowledged by B
	// big is flight's backing array once it outgrew buf, kept for the
	// direction's next long flight and, with the detector, for the next
	// connection (Recycle): a bulk response fills a flight at each burst,
	// and growing by appending allocated twice per burst (issue 15).
	big *[maxFlightTracked]inFlight

	// Since A's last new data:
	rel ackRelease

	win      uint32 // B's last advertised window (scaled)
	started  bool
	overflow bool
	unaValid bool
	winValid bool
	tainted  bool // since A's last new data: a retransmission, dup ACK, SACK, zero window, probe, data or FIN from B, a gap
}

// newData records A's new segment g and starts a new "since" period.
func (h *stallHalf) newData(g *reassembly.Segment) {
	h.started = true
	h.last = sentSeg{pos: markOf(g.Pos), n: g.Len}
	h.end = g.Offset + uint64(g.Len)
	h.rel = ackRelease{}
	h.tainted = false
	if n := len(h.flight); n < maxFlightTracked {
		if n == cap(h.flight) {
			h.grow()
		}
		h.flight = append(h.flight, inFlight{off: g.Offset, n: int32(g.Len), at: g.Time.UnixNano()})
	} else {
		h.overflow = true
	}
}

// grow makes room in flight for one more segment (it is full up to its
// capacity, below maxFlightTracked): its segments move to the start of buf
// when they fit there (acknowledged ones were popped by reslicing), else to
// the start of big.
func (h *stallHalf) grow() {
	n := len(h.flight)
	if n < len(h.buf) {
		h.flight = h.buf[:copy(h.buf[:n], h.flight)]
		return
	}
	if h.big == nil {
		h.big = new([maxFlightTracked]inFlight)
	}
	h.flight = h.big[:copy(h.big[:n], h.flight)]
}

// resent marks flight segments overlapping g as retransmitted.
func (h *stallHalf) resent(g *reassembly.Segment) {
	from, to := g.Offset, g.Offset+uint64(g.Len)
	for i := range h.flight {
		f := &h.flight[i]
		if f.off < to && f.end() > from {
			f.retx = true
		}
	}
}

// stallCand is a wait that passed the TCP checks and now needs the HTTP
// view: the held data must continue the message of the data before it (or
// start a pipelined request), on a transaction without gaps.
type stallCand struct {
	dir      flow.Dir
	d, n     sentSeg // the data before the wait, the first data after it
	k        mark
	ackDelay time.Duration // D → K at the capture point
	stall    time.Duration // ackDelay minus the capture point ↔ B RTT
	rB, rA   time.Duration
	mss      int
	acked    ackRelease
	nagle    bool // held sub-MSS data behind an unacknowledged sub-MSS segment
	tail     bool // held sub-MSS data behind full-sized segments only (classic Nagle or cwnd 1)
	state    candState
	msgD     *http1.Message
	msgN     *http1.Message
	// exchange is set (1-based) for a stall confirmed from TLS records (a
	// connection that was not decrypted): the exchange N belongs to.
	exchange int
}

type candState uint8

const (
	candWaitMsg   candState = iota // waiting for the message holding D
	candWaitNext                   // D ended its message; N must start the next request
	candConfirmed                  // waiting for N's transaction
)

// stallDetector is StallPass's per-connection state and result.
type stallDetector struct {
	rtt     pathRTT
	seeded  bool
	off     bool // the connection cannot be judged (mid-stream, roles guessed)
	half    [2]stallHalf
	pending []*stallCand
	// settled: the confirmed stalls of the transaction being dispatched
	// (the rules read them in their Transaction, after the pass's).
	settled []*stallCand
	// recSettled: the stalls confirmed by the TLS record being dispatched
	// (the rules read them in their Record); lastRec: each direction's
	// previous record.
	recSettled []*stallCand
	lastRec    [2]recSpan
}

// recSpan is a TLS record's stream offsets [first, last] and whether it was
// judged application data.
type recSpan struct {
	first, last uint64
	valid       bool
	app         bool
}

func (r recSpan) has(off uint64) bool { return r.valid && off >= r.first && off <= r.last }

var (
	_ analyze.SegmentChecker     = (*stallDetector)(nil)
	_ analyze.GapChecker         = (*stallDetector)(nil)
	_ analyze.MessageChecker     = (*stallDetector)(nil)
	_ analyze.TransactionChecker = (*stallDetector)(nil)
	_ analyze.RecordChecker      = (*stallDetector)(nil)
	_ analyze.EndChecker         = (*stallDetector)(nil)
	_ analyze.Recycler           = (*stallDetector)(nil)
)

// stallPool holds the detectors of ended connections: every connection
// that carries a segment makes one (~750 bytes; a SYN flood one per SYN),
// and none outlives its connection (issue 15).
var stallPool = sync.Pool{New: func() any { return new(stallDetector) }}

func newStallDetector() *stallDetector {
	s := stallPool.Get().(*stallDetector)
	for i := range s.half {
		s.half[i].flight = s.half[i].buf[:0]
	}
	return s
}

// Recycle implements analyze.Recycler: the rules read the detector (its
// stalls) only during their own calls for the same event, so nothing holds
// it once the connection has ended.
func (s *stallDetector) Recycle() {
	big0, big1 := s.half[0].big, s.half[1].big // written before read: flight bounds them
	*s = stallDetector{}
	s.half[0].big, s.half[1].big = big0, big1
	stallPool.Put(s)
}

// Segment implements SegmentChecker.
func (s *stallDetector) Segment(ctx *analyze.Ctx, g *reassembly.Segment) {
	if s.off || g.Kind == reassembly.SegDuplicate {
		return
	}
	c := ctx.Conn
	if c.MidStream || c.RolesGuessed {
		// No handshake: no MSS, no window scale, no RTT from the handshake.
		s.off = true
		return
	}
	if !s.seeded && c.HandshakeACK.Frame != 0 {
		s.rtt.fromHandshake(c)
		s.seeded = true
	}
	d := g.Dir
	if g.Flags.Has(reassembly.RST) {
		s.half[0].tainted, s.half[1].tainted = true, true
		return
	}
	if g.AckValid && g.Flags.Has(reassembly.ACK) {
		s.ack(ctx, d, g)
	}
	other := &s.half[1-d] // the direction g's sender receives
	if g.Len > 0 || g.Flags.Has(reassembly.FIN) {
		// B sent data (or closed) while A waited: A's next data may answer
		// that (think time, 100 Continue, a response), not an ACK.
		other.tainted = true
	}
	if g.Flags.Has(reassembly.SYN) || g.Len == 0 {
		return
	}
	h := &s.half[d]
	switch g.Kind {
	case reassembly.SegNew:
		if h.started && g.Offset == h.end && !h.tainted {
			s.evaluate(ctx, d, g)
		}
		h.newData(g)
	case reassembly.SegPartialOverlap:
		h.resent(g)
		h.newData(g)
		if n := len(h.flight); n > 0 && h.flight[n-1].off == g.Offset {
			h.flight[n-1].retx = true
		}
		h.tainted = true
	default:
		if g.Kind == reassembly.SegRetransmit && s.echo(h, g) {
			return
		}
		// Retransmission (RTO, fast retransmit, TLP), out-of-order (the
		// capture missed something), keep-alive or zero-window probe.
		h.resent(g)
		h.tainted = true
	}
}

// echo reports whether a repeat of already-seen bytes came too soon to be
// a retransmission: no sender can detect a loss in less than a round trip
// (fast retransmit needs three duplicate ACKs, RACK and TLP wait for at
// least an RTT, the RTO floor is 200 ms on Linux and 1 s in RFC 6298). A
// copy seen within one end-to-end RTT of the original is the network or
// the capture duplicating a packet (captures merged from several
// interfaces, SPAN ports) that the Assembler did not recognise because
// other packets came in between. Such a copy says nothing about the sender.
func (s *stallDetector) echo(h *stallHalf, g *reassembly.Segment) bool {
	rtt, ok := s.rtt.full()
	if !ok {
		return false
	}
	for i := len(h.flight) - 1; i >= 0; i-- {
		f := &h.flight[i]
		if f.off == g.Offset && int(f.n) == g.Len {
			return time.Duration(g.Time.UnixNano()-f.at) < rtt
		}
	}
	if h.last.pos.off == g.Offset && h.last.n == g.Len {
		return time.Duration(g.Time.UnixNano()-h.last.pos.t) < rtt
	}
	return false
}

// ack processes g's acknowledgement of the other direction's data.
func (s *stallDetector) ack(ctx *analyze.Ctx, acker flow.Dir, g *reassembly.Segment) {
	h := &s.half[1-acker]
	winBefore, winValid := h.win, h.winValid
	h.win, h.winValid = g.Window, true
	if g.Window == 0 || g.SACK && len(h.flight) > 0 {
		h.tainted = true // receive-window limit, or loss recovery
	}
	if !h.unaValid {
		h.una, h.unaValid = g.AckOffset, true
		return
	}
	if g.AckOffset <= h.una {
		if g.AckOffset == h.una && g.Len == 0 && len(h.flight) > 0 && winValid && g.Window == winBefore &&
			g.Flags&(reassembly.SYN|reassembly.FIN) == 0 {
			h.tainted = true // duplicate ACK (RFC 5681 §2): a loss, not a delay
		}
		return
	}
	rel := ackRelease{valid: true, pos: markOf(g.Pos), ackOff: g.AckOffset, prevUna: h.una,
		pure:      g.Len == 0 && g.Flags&(reassembly.SYN|reassembly.FIN|reassembly.RST) == 0,
		winBefore: winBefore, winValid: winValid, unsure: h.overflow}
	h.una = g.AckOffset
	mss := sendMSS(ctx.Conn, 1-acker)
	i := 0
	var newest *inFlight
	for ; i < len(h.flight) && h.flight[i].end() <= g.AckOffset; i++ {
		f := &h.flight[i]
		rel.segs++
		if n := int(f.n); mss > 0 && fullSized(n, mss) {
			rel.full++
			if n >= 2*mss {
				// a segment of several MSS: the capture host merged them
				// (GRO/LRO, TSO before the wire); the receiver saw several
				// full-sized segments and acknowledged at once (RFC 5681 §4.2)
				rel.full += n/mss - 1
			}
		} else if !rel.small {
			rel.small, rel.smallBytes = true, n
		}
		newest = f
	}
	if newest != nil && !newest.retx {
		// Karn: only data sent once gives an RTT sample.
		s.rtt.sample(acker, time.Duration(g.Time.UnixNano()-newest.at))
	}
	// Pop by reslicing (no shifting: a bulk flight is acknowledged two
	// segments at a time); once empty, start again in the inline buffer.
	h.flight = h.flight[i:]
	if len(h.flight) == 0 {
		h.flight = h.buf[:0]
		if g.AckOffset >= h.end {
			h.overflow = false
		}
	}
	if h.started && g.Pos.Ord > h.last.pos.ord {
		h.rel = rel
	}
}

// evaluate decides, when A sends new data n right after its previous data,
// whether A was blocked on a delayed ACK in between. Every test that fails
// means "something else explains the wait, or we cannot tell": silence.
func (s *stallDetector) evaluate(ctx *analyze.Ctx, d flow.Dir, n *reassembly.Segment) {
	h := &s.half[d]
	k := h.rel
	if !k.valid || !k.pure || k.unsure || k.segs == 0 {
		return // no ACK in between, or it carried data (think time: the ACK rode on the answer)
	}
	if k.ackOff < h.end {
		return // data still in flight after the ACK: a congestion-window flight, not one held ACK
	}
	if k.full >= 2 {
		return // RFC 5681 §4.2: two full-sized segments are ACKed at once; a late ACK here is not the timer
	}
	if k.winValid && k.prevUna+uint64(k.winBefore) < h.end+uint64(n.Len) {
		return // the receive window did not allow n: the ACK was a window update
	}
	rB, okB := s.rtt.of(1 - d)
	rA, okA := s.rtt.of(d)
	mss := sendMSS(ctx.Conn, d)
	if !okB || !okA || mss == 0 {
		return
	}
	ackDelay := k.pos.since(h.last.pos)
	stall := ackDelay - rB
	if stall < ctx.Config.StallMin || stall > maxDelayedAck {
		return
	}
	// A's next data must be seen one capture point ↔ A round trip after the
	// ACK passed, give or take the slack: earlier, A sent it before the ACK
	// reached it; later, A had nothing to send yet (the application was idle).
	gap := time.Duration(n.Time.UnixNano() - k.pos.t)
	slack := releaseSlackMin + rA/releaseSlackDiv
	if gap > rA+slack || gap < rA-slack {
		return
	}
	c := &stallCand{dir: d, d: h.last, n: sentSeg{pos: markOf(n.Pos), n: n.Len}, k: k.pos,
		ackDelay: ackDelay, stall: stall, rB: rB, rA: rA, mss: mss, acked: k}
	if !fullSized(n.Len, mss) {
		c.nagle = k.small
		c.tail = !k.small
	}
	if len(s.pending) >= maxStallPending {
		s.pending = s.pending[1:]
	}
	s.pending = append(s.pending, c)
}

// Gap implements GapChecker: a hole hides what happened in both directions.
func (s *stallDetector) Gap(ctx *analyze.Ctx, g reassembly.Gap) {
	s.half[0].tainted, s.half[1].tainted = true, true
	s.half[g.Dir].started = false
}

// Message implements MessageChecker: place pending stalls in their messages.
func (s *stallDetector) Message(ctx *analyze.Ctx, m *http1.Message) {
	keep := s.pending[:0]
	for _, c := range s.pending {
		if c.dir != m.Dir || c.state == candConfirmed {
			keep = append(keep, c)
			continue
		}
		lastD := c.n.pos.off - 1 // the last byte before the wait
		usable := m.GapBytes == 0 && m.End != http1.EndMalformed && m.End != http1.EndGap
		switch c.state {
		case candWaitMsg:
			if m.Last.Offset < lastD {
				keep = append(keep, c) // an earlier message
				continue
			}
			if m.Start.Offset > lastD || !usable {
				continue // D is in no message we can trust
			}
			c.msgD = m
			switch {
			case c.n.pos.off <= m.Last.Offset:
				c.msgN, c.state = m, candConfirmed
			case c.n.pos.off == m.Last.Offset+1 && m.Dir == flow.ClientToServer:
				// D ended the request; N must start the next one, sent before
				// any response byte (B sent no data meanwhile): pipelined.
				c.state = candWaitNext
			default:
				continue
			}
		case candWaitNext:
			if m.Start.Offset != c.n.pos.off || !usable {
				continue
			}
			c.msgN, c.state = m, candConfirmed
		}
		keep = append(keep, c)
	}
	clear(s.pending[len(keep):])
	s.pending = keep
}

// recordStallsOf returns the stalls the pass confirmed with the TLS record
// being dispatched (valid during Record).
func recordStallsOf(ctx *analyze.Ctx) []*stallCand {
	return ctx.ResultOf(StallPass).(*stallDetector).recSettled
}

// Record implements RecordChecker: on a TLS connection that was not
// decrypted, records stand in for messages. A wait counts when the data
// before it (D's last byte) and the held data (N's first byte) are both
// application data — one record, or consecutive records of one run (the
// TCP checks already saw no data from the peer in between): the sender
// wrote one answer in pieces. A wait next to a handshake record, a
// presumed session ticket or an alert is not one (a TLS 1.3 server's
// tickets sent just before its response are TLS's business, not the
// application's writes).
func (s *stallDetector) Record(ctx *analyze.Ctx, r *analyze.TLSRecord) {
	clear(s.recSettled)
	s.recSettled = s.recSettled[:0]
	d := r.Dir
	prev := s.lastRec[d]
	cur := recSpan{valid: true, first: r.First.Offset, last: r.Last.Offset, app: r.AppData}
	s.lastRec[d] = cur
	if !ctx.TLS().RecordsJudged() {
		return
	}
	keep := s.pending[:0]
	for _, c := range s.pending {
		if c.dir != d || c.state == candConfirmed {
			keep = append(keep, c)
			continue
		}
		lastD, firstN := c.n.pos.off-1, c.n.pos.off
		ok := false
		switch {
		case c.state == candWaitNext:
			ok = cur.first == firstN && cur.app
		case cur.has(lastD) && cur.has(firstN):
			ok = cur.app
		case cur.has(lastD):
			if cur.app {
				c.state = candWaitNext
				keep = append(keep, c)
			}
			continue
		case cur.last < lastD:
			keep = append(keep, c) // an earlier record
			continue
		default:
			ok = prev.has(lastD) && prev.app && cur.first == firstN && cur.app
		}
		if ok {
			c.state, c.exchange = candConfirmed, r.Exchange
			s.recSettled = append(s.recSettled, c)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
}

// Transaction implements TransactionChecker: settle the confirmed stalls
// whose held data belongs to t (those of a transaction with gaps are
// dropped).
func (s *stallDetector) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	clear(s.settled)
	s.settled = s.settled[:0]
	keep := s.pending[:0]
	for _, c := range s.pending {
		if c.state != candConfirmed || !inTx(t, c.msgN) {
			keep = append(keep, c)
			continue
		}
		if !t.Gap {
			s.settled = append(s.settled, c)
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
}

// End implements EndChecker: whatever is still pending was never placed in
// a transaction, so it cannot be told apart from application idle time.
func (s *stallDetector) End(ctx *analyze.Ctx) { s.pending = nil }

func inTx(t *http1.Transaction, m *http1.Message) bool {
	if m == nil {
		return false
	}
	if t.Request == m || t.Response == m {
		return true
	}
	for _, x := range t.Interim {
		if x == m {
			return true
		}
	}
	return false
}
