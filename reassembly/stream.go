package reassembly

import (
	"bytes"
	"sort"

	"github.com/connlint/connlint/reassembly/flow"
)

const (
	// maxOOOChunks bounds the out-of-order list length: a flood of 1-byte
	// segments must not turn the sorted insert into a slow path. Hitting it
	// counts like hitting MaxOutOfOrderBytes.
	maxOOOChunks = 1024
	// maxMarks bounds the (offset → packet) list kept beside the compare ring;
	// with full-size segments 64 marks cover ~93 KiB, more than the default ring.
	maxMarks = 64
	// firstRingSize is the compare ring's smallest allocation; it grows to
	// the next power of two of what was delivered, up to Options.CompareBytes,
	// so that the many short connections of a busy link (a request and a
	// response of a few hundred bytes) do not cost 4 KiB per direction.
	firstRingSize = 256
	// maxJump is the farthest beyond the next expected byte a segment may start
	// and still be buffered; anything farther is garbage or a sequence-number
	// confusion, and buffering it could later declare an absurd gap.
	maxJump = 1 << 30
)

// chunk is buffered out-of-order data (a private copy).
type chunk struct {
	off  uint64
	data []byte
	pos  flow.Pos // the packet that carried it
}

func (c *chunk) end() uint64 { return c.off + uint64(len(c.data)) }

// mark says which packet delivered the stream bytes from off on.
type mark struct {
	off uint64
	pos flow.Pos
}

// dirStream rebuilds one direction's byte stream for the Consumer: its
// sequence space, what has been delivered in order, the out-of-order buffer,
// and what the peer acknowledged. The same type is used for both directions;
// what it publishes for the Handler is the Half it points to (pub).
//
// Two live in every connection, open or lingering after its close
// (thousands at once on a busy link, issue 15): fields are ordered so that
// the small ones share words, state only a few streams need (a held
// zero-window probe) sits behind a pointer, and the FIN's position is the
// one Half.FIN points to rather than a second copy.
type dirStream struct {
	pub *Half // the exported counters, inside Conn

	next uint64 // next expected offset: everything before it was delivered or declared a gap

	// What the peer acknowledged of this stream (highest), and the packet.
	acked  uint64
	ackPos flow.Pos

	finOff uint64 // offset of the FIN's sequence number (= stream length); its packet is *pub.FIN

	ooo      []chunk // sorted, non-overlapping, all starting beyond next
	oooBytes int

	// A zero-window probe byte held back (nil: none): it becomes data only
	// once the receiver shows it took it (ACK beyond it, or the next
	// segment follows it).
	probe *heldProbe

	// Compare ring: the last delivered bytes (ring[off & (len-1)]) for
	// offsets in [rs.from, next), and (rs) which packet delivered them;
	// both nil until the first byte is delivered and after the ring was
	// given up (dropAcked, release).
	ring []byte
	rs   *ringState
	// ringSize is what the ring counts in Assembler.ringTotal: len(ring)
	// (0 once given up).
	ringSize int

	base uint32 // sequence number of stream offset 0 (ISN+1, or the first seq seen mid-stream)
	// altISN is the ISN of a later SYN-ACK that differed from the one the
	// stream is based on (altValid): the stream moves to it only if the
	// peer acknowledges it before any data is delivered (the sequence space
	// is the one the peer acknowledges).
	altISN uint32
	// The raw window this side last advertised (for the peer's zero-window probes).
	win   uint16
	dir   flow.Dir
	synWS int8 // window-scale option of this side's SYN, -1 if none/not seen

	baseKnown   bool
	altValid    bool
	finSeen     bool
	ended       bool // End was given to the Consumer
	ackValid    bool
	winValid    bool
	ringLimited bool // the ring stopped growing at Options.CompareTotal
}

// ringState is what goes with a direction's compare ring: where its valid
// bytes start and which packets delivered them. It is allocated with the
// ring, so that a direction that carries no data costs a pointer.
type ringState struct {
	from  uint64 // first offset whose byte is valid (moves past gaps)
	marks []mark // ring buffer of at most maxMarks, oldest at head
	head  int
}

// heldProbe is a zero-window probe byte held back, and its packet.
type heldProbe struct {
	b   byte
	off uint64
	pos flow.Pos
}

// finPos is the packet that carried the FIN (valid when finSeen).
func (h *dirStream) finPos() flow.Pos { return *h.pub.FIN }

// offset unwraps a sequence number relative to the next expected byte, so a
// stream may cross the 2^32 wrap (and exceed 4 GiB) as long as segments stay
// within ±2 GiB of the delivery point. Negative means before the stream start.
func (h *dirStream) offset(seq uint32) int64 {
	return int64(h.next) + int64(int32(seq-(h.base+uint32(h.next))))
}

// classify decides a data-bearing or empty segment's kind before anything is
// changed, so that the Segment event precedes the delivery it causes.
// off is the offset of the first payload byte, n the captured payload, wire
// the payload on the wire.
func (h *dirStream) classify(off int64, n, wire int, f Flags, peerZeroWin bool) SegKind {
	next := int64(h.next)
	if wire <= 1 && off == next-1 && next > 0 && !h.finSeen && f&(SYN|FIN|RST) == 0 {
		return SegKeepAlive // seq = next-1 with 0 or 1 garbage byte (RFC 9293 §3.8.4)
	}
	if wire == 0 {
		if f.Has(FIN) && h.finSeen && off == int64(h.finOff) {
			return SegRetransmit
		}
		return SegNew
	}
	if wire == 1 && off == next && peerZeroWin && f&(SYN|FIN|RST) == 0 {
		return SegZeroWindowProbe
	}
	end := off + int64(n)
	switch {
	case n == 0:
		return SegNew // the capture cut the whole payload; nothing to compare
	case end <= next:
		return SegRetransmit
	case off < next:
		return SegPartialOverlap
	case off > next:
		if h.oooCovers(uint64(off), uint64(end)) {
			return SegRetransmit
		}
		return SegOutOfOrder
	}
	return SegNew
}

// oooCovers reports whether [off,end) is entirely inside buffered chunks.
func (h *dirStream) oooCovers(off, end uint64) bool {
	i := sort.Search(len(h.ooo), func(i int) bool { return h.ooo[i].end() > off })
	for ; i < len(h.ooo) && off < end; i++ {
		if h.ooo[i].off > off {
			return false
		}
		off = h.ooo[i].end()
	}
	return off >= end
}

// streamCtx is what a dirStream needs to report: the assembler (handler, consumer,
// options) and the connection. Passing it keeps dirStream free of back pointers.
type streamCtx struct {
	a *Assembler
	c *conn
}

// data applies a segment's captured payload at offset off (which may be
// negative: bytes before the stream start are dropped).
func (h *dirStream) data(x streamCtx, kind SegKind, off int64, b []byte, pos flow.Pos) {
	if len(b) == 0 || kind == SegKeepAlive {
		return
	}
	if kind == SegZeroWindowProbe {
		if h.probe == nil || h.probe.off != h.next {
			h.probe = &heldProbe{b: b[0], off: h.next, pos: pos}
		}
		return
	}
	if off < 0 {
		if int64(len(b)) <= -off {
			return
		}
		b = b[-off:]
		off = 0
	}
	o := uint64(off)
	if h.probe != nil {
		switch {
		case o <= h.probe.off:
			h.probe = nil // the segment carries the probed byte again
		case o == h.probe.off+1 && h.probe.off == h.next:
			h.deliverProbe(x)
		}
	}
	// The part before next: compare with what was delivered.
	if o < h.next || h.ended {
		if o >= h.next {
			return // after the end of the stream (FIN/RST): nothing more is delivered
		}
		n := min(uint64(len(b)), h.next-o)
		h.compareRing(x, o, b[:n], pos)
		b = b[n:]
		o += n
		if len(b) == 0 || h.ended {
			return
		}
	}
	if o == h.next {
		h.deliver(x, b, o, pos, pos)
		h.drain(x, pos)
		h.maybeEnd(x)
		return
	}
	h.insert(x, o, b, pos)
	h.tryAckGap(x)
}

// deliver hands in-order bytes to the Consumer and remembers them for comparing
// retransmissions. from is the packet that carried the bytes; at the packet
// that made them deliverable (they differ when a hole was filled).
func (h *dirStream) deliver(x streamCtx, b []byte, off uint64, from, at flow.Pos) {
	if off != h.next {
		panic("reassembly: deliver out of order") // an internal invariant, not input-driven
	}
	if !h.ended {
		h.remember(x, b, off, from)
	}
	h.next += uint64(len(b))
	h.pub.Bytes += uint64(len(b))
	if h.ended || x.c.consumer == nil {
		return
	}
	at.Offset = off
	x.c.consumer.Feed(h.dir, b, at)
}

// drain delivers buffered chunks that became contiguous.
func (h *dirStream) drain(x streamCtx, at flow.Pos) {
	for len(h.ooo) > 0 && h.ooo[0].off <= h.next {
		c := h.ooo[0]
		h.ooo[0] = chunk{}
		h.ooo = h.ooo[1:]
		h.oooBytes -= len(c.data)
		x.a.oooTotal -= len(c.data)
		if c.end() > h.next {
			skip := h.next - c.off
			h.deliver(x, c.data[skip:], h.next, c.pos, at)
		}
	}
	if len(h.ooo) == 0 {
		h.ooo = h.ooo[:0:0] // let the backing array go
	}
}

// insert buffers out-of-order bytes; where they overlap buffered bytes the
// buffered (first-seen) bytes win and differences are reported.
func (h *dirStream) insert(x streamCtx, off uint64, b []byte, pos flow.Pos) {
	if off-h.next > maxJump {
		h.dropped(x, uint64(len(b)))
		return
	}
	limit, total := x.a.opts.MaxOutOfOrderBytes, x.a.opts.MaxOutOfOrderTotal
	if h.oooBytes+len(b) > limit || len(h.ooo) >= maxOOOChunks || x.a.oooTotal+len(b) > total {
		// Out of room, in this direction or in the budget all connections
		// share: stop waiting for the oldest hole(s). Everything buffered
		// is delivered behind gaps, then this segment is placed again.
		h.flushOOO(x, true)
		if off < h.next {
			n := min(uint64(len(b)), h.next-off)
			h.compareRing(x, off, b[:n], pos)
			b, off = b[n:], off+n
		}
		if len(b) == 0 {
			return
		}
		if off == h.next {
			h.deliver(x, b, off, pos, pos)
			h.maybeEnd(x)
			return
		}
		if len(b) > limit || x.a.oooTotal+len(b) > total {
			// Still no room (other connections hold the shared budget):
			// this hole is given up at once.
			h.gap(x, off-h.next, pos, true)
			h.deliver(x, b, off, pos, pos)
			h.maybeEnd(x)
			return
		}
	}
	end := off + uint64(len(b))
	i := sort.Search(len(h.ooo), func(i int) bool { return h.ooo[i].end() > off })
	for cur := off; cur < end; {
		if i < len(h.ooo) && h.ooo[i].off <= cur {
			c := &h.ooo[i]
			e := min(end, c.end())
			h.compare(x, cur, b[cur-off:e-off], c.data[cur-c.off:e-c.off], c.pos, pos)
			cur = e
			i++
			continue
		}
		e := end
		if i < len(h.ooo) && h.ooo[i].off < end {
			e = h.ooo[i].off
		}
		h.ooo = append(h.ooo, chunk{})
		copy(h.ooo[i+1:], h.ooo[i:])
		h.ooo[i] = chunk{off: cur, data: append([]byte(nil), b[cur-off:e-off]...), pos: pos}
		h.oooBytes += int(e - cur)
		x.a.oooTotal += int(e - cur)
		cur = e
		i++
	}
}

// dropped counts bytes given up because of the out-of-order bounds.
func (h *dirStream) dropped(x streamCtx, n uint64) {
	x.c.OutOfOrderDropped += n
	x.a.stats.OutOfOrderDropped += int64(n)
}

// flushOOO delivers every buffered chunk, declaring the holes before them as
// gaps. capHit says the bound forced it (the hole bytes count as dropped).
func (h *dirStream) flushOOO(x streamCtx, capHit bool) {
	for len(h.ooo) > 0 {
		c := h.ooo[0]
		if c.off > h.next {
			h.gap(x, c.off-h.next, c.pos, capHit)
		}
		h.drain(x, c.pos)
	}
	h.maybeEnd(x)
}

// gap declares n missing bytes at next; after is the packet after the hole.
func (h *dirStream) gap(x streamCtx, n uint64, after flow.Pos, capHit bool) {
	if n == 0 {
		return
	}
	c := x.c
	g := Gap{Dir: h.dir, Offset: h.next, Bytes: n, After: after}
	g.After.Offset = h.next + n
	if len(c.Gaps) < maxGaps {
		c.Gaps = append(c.Gaps, g)
	} else {
		c.GapsDropped++
	}
	h.pub.GapBytes += n
	if capHit {
		h.dropped(x, n)
	}
	h.probe = nil
	x.a.h.Gap(&c.Conn, g)
	if !h.ended && c.consumer != nil {
		p := after
		p.Offset = h.next
		c.consumer.Gap(h.dir, n, p)
	}
	h.next += n
	if r := h.rs; r != nil {
		r.from = h.next // bytes before a hole are not comparable across it
		r.marks, r.head = r.marks[:0], 0
	}
}

// tryAckGap applies rule (a): the peer acknowledged bytes the capture does
// not hold, and data (or the FIN) beyond the hole is here: the hole up to
// that data is declared and delivery goes on. Without data beyond the hole we
// wait: captures often show an ACK just before the data it acknowledges.
func (h *dirStream) tryAckGap(x streamCtx) {
	for h.ackValid && h.acked > h.next {
		if h.probe != nil && h.probe.off == h.next {
			h.deliverProbe(x)
			continue
		}
		var target uint64
		var after flow.Pos
		switch {
		case len(h.ooo) > 0:
			target, after = h.ooo[0].off, h.ooo[0].pos
		case h.finSeen && h.finOff > h.next && !h.ended:
			target, after = h.finOff, h.finPos()
		default:
			return
		}
		end := min(h.acked, target)
		h.gap(x, end-h.next, after, false)
		if end < target {
			return // the rest of the hole is not acknowledged yet: it may still come
		}
		h.drain(x, after)
		h.maybeEnd(x)
	}
}

func (h *dirStream) deliverProbe(x streamCtx) {
	pr := h.probe
	h.probe = nil
	b := [1]byte{pr.b}
	h.deliver(x, b[:], pr.off, pr.pos, pr.pos)
	h.drain(x, pr.pos)
	h.maybeEnd(x)
}

// maybeEnd tells the Consumer about the FIN once every byte before it is in.
func (h *dirStream) maybeEnd(x streamCtx) {
	if h.finSeen && !h.ended && h.next >= h.finOff && len(h.ooo) == 0 {
		h.end(x, flow.CloseFIN, h.finPos())
	}
}

func (h *dirStream) end(x streamCtx, how flow.CloseKind, pos flow.Pos) {
	if h.ended {
		return
	}
	h.ended = true
	if x.c.consumer != nil {
		pos.Offset = h.next
		x.c.consumer.End(h.dir, how, pos)
	}
}

// closeOut ends the direction for good (RST, capture end, eviction): whatever
// is buffered is delivered behind gaps, bytes the peer acknowledged (or a FIN
// proves) but the capture lacks become a trailing gap.
func (h *dirStream) closeOut(x streamCtx, how flow.CloseKind, pos flow.Pos) {
	if h.ended {
		x.a.oooTotal -= h.oooBytes
		h.release(x.a)
		return
	}
	h.probe = nil
	h.flushOOO(x, false)
	if !h.ended {
		tail, after := h.next, pos
		// An ACK one past everything we hold, with no FIN captured, is far
		// more likely the ACK of a FIN the capture missed than of one lost
		// data byte: no gap for it.
		if h.ackValid && h.acked > tail && (h.finSeen || h.acked != h.next+1) {
			tail, after = h.acked, h.ackPos
		}
		if h.finSeen && tail > h.finOff {
			tail = h.finOff // an ACK of the FIN counts one past the last byte
		}
		if h.finSeen && h.finOff > tail {
			tail, after = h.finOff, h.finPos()
		}
		if tail > h.next && tail-h.next <= maxJump {
			h.gap(x, tail-h.next, after, false)
		}
		h.maybeEnd(x)
	}
	h.end(x, how, pos)
	h.release(x.a)
}

// release drops the buffers; the dirStream is not used for data afterwards.
func (h *dirStream) release(a *Assembler) {
	h.ooo, h.oooBytes = nil, 0
	a.ringTotal -= h.ringSize
	h.ringSize = 0
	h.dropRing(a)
}

// dropRing gives the ring's bytes back to the pool.
func (h *dirStream) dropRing(a *Assembler) {
	a.rings.put(h.ring)
	h.ring, h.rs = nil, nil
}

// dropAcked gives up the compare ring of a direction of a settled
// connection once the peer acknowledged every byte and the FIN: what may
// still come of it in the close linger is a spurious retransmission (the
// sender missed the ACK), classified but no longer compared, and the
// thousands of lingering connections of a busy link then hold no ring
// (issue 15). Its bytes no longer count in CompareTotal: the rings of
// lingering connections used to fill that bound on ordinary traffic, and
// the directions that then stopped growing (Stats.CompareLimited) were
// those of live connections, which need their rings.
func (h *dirStream) dropAcked(a *Assembler) {
	if h.ring == nil || !h.finSeen || !h.ackValid || h.acked <= h.finOff {
		return
	}
	a.ringTotal -= h.ringSize
	h.ringSize = 0
	h.dropRing(a)
}

// ringPool keeps compare rings of ended directions for reuse, by size
// (powers of two from firstRingSize to the largest CompareBytes), so that
// a busy link's stream of short connections does not allocate (and the
// collector sweep) a ring or two per connection. It holds at most
// ringPoolBytes; a ring's old bytes need no clearing, as only offsets in
// [validFrom, next) are ever read.
type ringPool struct {
	free  [ringClasses][][]byte
	bytes int
}

const (
	ringClasses   = 32
	ringPoolBytes = 1 << 20
)

func ringClass(n int) int {
	c := 0
	for n > firstRingSize {
		n >>= 1
		c++
	}
	return c
}

func (p *ringPool) get(size int) []byte {
	c := ringClass(size)
	if c < ringClasses {
		if f := p.free[c]; len(f) > 0 {
			r := f[len(f)-1]
			f[len(f)-1] = nil
			p.free[c] = f[:len(f)-1]
			p.bytes -= len(r)
			return r
		}
	}
	return make([]byte, size)
}

func (p *ringPool) put(r []byte) {
	if len(r) < firstRingSize || p.bytes+len(r) > ringPoolBytes {
		return
	}
	if c := ringClass(len(r)); c < ringClasses && len(r) == firstRingSize<<c {
		p.free[c] = append(p.free[c], r)
		p.bytes += len(r)
	}
}

// remember copies delivered bytes into the compare ring and notes the packet.
// It runs before next advances past b.
func (h *dirStream) remember(x streamCtx, b []byte, off uint64, from flow.Pos) {
	limit := x.a.opts.CompareBytes
	if limit <= 0 || len(b) == 0 {
		return
	}
	if h.rs == nil {
		h.rs = &ringState{from: off}
	}
	r := h.rs
	if need := off + uint64(len(b)) - r.from; uint64(len(h.ring)) < need && len(h.ring) < limit {
		size := min(limit, nextPow2(max(firstRingSize, int(min(need, uint64(limit))))))
		// All rings together stay within CompareTotal: past it a ring
		// keeps its size (retransmissions further back are not compared),
		// counted once per ring in Stats.CompareLimited.
		if a := x.a; a.ringTotal+size-h.ringSize > a.opts.CompareTotal {
			if !h.ringLimited {
				h.ringLimited = true
				a.stats.CompareLimited++
			}
			size = 0
			if h.ring == nil {
				size = firstRingSize // the smallest ring, so that remember has one
			}
		}
		if size > len(h.ring) {
			x.a.ringTotal += size - h.ringSize
			h.ringSize = size
			h.growRing(&x.a.rings, size)
		}
	}
	m := mark{off: off, pos: from}
	if n := len(h.ring); len(b) > n {
		off += uint64(len(b) - n)
		b = b[len(b)-n:]
	}
	mask := uint64(len(h.ring) - 1)
	for len(b) > 0 {
		k := copy(h.ring[off&mask:], b)
		b = b[k:]
		off += uint64(k)
	}
	if len(r.marks) < maxMarks {
		r.marks = append(r.marks, m)
	} else {
		r.marks[r.head] = m
		r.head = (r.head + 1) % maxMarks
	}
}

func (h *dirStream) growRing(pool *ringPool, size int) {
	r := h.rs
	old := h.ring
	h.ring = pool.get(size)
	if old == nil {
		return
	}
	defer pool.put(old)
	// Re-place the still-valid bytes [from, next) at their new indices.
	from := max(r.from, h.next-min(h.next, uint64(len(old))))
	oldMask, newMask := uint64(len(old)-1), uint64(size-1)
	for o := from; o < h.next; {
		oi, ni := o&oldMask, o&newMask
		n := min(h.next-o, uint64(len(old))-oi, uint64(size)-ni)
		copy(h.ring[ni:ni+n], old[oi:oi+n])
		o += n
	}
}

func nextPow2(n int) int {
	p := 1
	for p < n {
		p <<= 1
	}
	return p
}

// validFrom is the first offset the ring can still vouch for.
func (h *dirStream) validFrom() uint64 {
	r := h.rs
	from := r.from
	if w := uint64(len(h.ring)); h.next > w && h.next-w > from {
		from = h.next - w
	}
	if len(r.marks) > 0 {
		if o := r.marks[r.head].off; o > from {
			from = o
		}
	}
	return from
}

// packetAt returns the packet that delivered the byte at off.
func (h *dirStream) packetAt(off uint64) flow.Pos {
	r := h.rs
	var best flow.Pos
	var bestOff uint64
	found := false
	for _, m := range r.marks {
		if m.off <= off && (!found || m.off >= bestOff) {
			best, bestOff, found = m.pos, m.off, true
		}
	}
	best.Offset = bestOff
	return best
}

// compareRing compares retransmitted bytes b at off (< next) with what was
// delivered, as far as the ring still holds it.
func (h *dirStream) compareRing(x streamCtx, off uint64, b []byte, pos flow.Pos) {
	if len(h.ring) == 0 || len(b) == 0 {
		return
	}
	from := h.validFrom()
	end := off + uint64(len(b))
	if end > h.next {
		end = h.next
	}
	if off < from {
		if end <= from {
			return
		}
		b = b[from-off:]
		off = from
	}
	b = b[:end-off]
	mask := uint64(len(h.ring) - 1)
	first, last := -1, -1
	for i := 0; i < len(b); {
		ri := int((off + uint64(i)) & mask)
		n := min(len(b)-i, len(h.ring)-ri)
		if !bytes.Equal(b[i:i+n], h.ring[ri:ri+n]) {
			for j := range n {
				if b[i+j] != h.ring[ri+j] {
					if first < 0 {
						first = i + j
					}
					last = i + j
				}
			}
		}
		i += n
	}
	if first < 0 {
		return
	}
	o := off + uint64(first)
	h.inconsistent(x, o, last-first+1, h.packetAt(o), pos)
}

// compare compares overlapping out-of-order bytes: b (new) against kept
// (buffered earlier by packet first).
func (h *dirStream) compare(x streamCtx, off uint64, b, kept []byte, first, pos flow.Pos) {
	if bytes.Equal(b, kept) {
		return
	}
	lo, hi := -1, -1
	for i := range b {
		if b[i] != kept[i] {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	h.inconsistent(x, off+uint64(lo), hi-lo+1, first, pos)
}

func (h *dirStream) inconsistent(x streamCtx, off uint64, n int, first, second flow.Pos) {
	second.Offset = off
	x.a.h.Inconsistency(&x.c.Conn, Inconsistency{Dir: h.dir, Offset: off, Bytes: n, First: first, Second: second})
}
