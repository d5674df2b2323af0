package reassembly

import (
	"bytes"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// What a live capture adds to the Assembler: time that passes with no
// packet (Advance) and packets the capture lost (Lost).

// Advance moves the Assembler's clock to now (capture time) when no packet
// came, as a live capture's tick does: connections idle for IdleTimeout end
// (EndIdle) and settled ones whose close linger has passed end, so their
// end-of-connection findings come out without waiting for the next packet.
// A time before the last one seen is ignored: the clock never goes back.
func (a *Assembler) Advance(now time.Time) {
	if now.Before(a.clock.last) {
		return
	}
	a.Flush(now)
}

// Lost marks the connections that lost packets to the capture (a live
// capture's kernel or queue drops) as having a capture gap, so that what
// is missing reads as missing, never as a peer's mistake: every open or
// lingering connection when all is set (which flows lost packets is
// unknown), else those whose FlowHash is in flows. The mark is a Gap of 0
// bytes in each direction, at the stream's current offset, after pos (the
// first packet the capture delivered after the loss, or the tick that
// reported it); rules that skip connections with gaps skip these. A
// connection is marked once. Lost returns the IDs of the connections it
// marked, in no particular order.
func (a *Assembler) Lost(flows []uint64, all bool, pos flow.Pos) []uint64 {
	if !all && len(flows) == 0 {
		return nil
	}
	var want map[uint64]bool
	if !all {
		want = make(map[uint64]bool, len(flows))
		for _, f := range flows {
			want[f] = true
		}
	}
	var marked []uint64
	// An embryo (only its SYN so far) is marked now and gets its gaps
	// when it hatches, before anything after the loss reaches it.
	for e := a.embryoList.head; e != nil; e = e.next {
		if e.lostPos == nil && (all || want[e.key.flowHash()]) {
			e.lostPos = newPos(pos)
			marked = append(marked, e.id)
		}
	}
	for _, l := range []*connList{&a.open, &a.closed} {
		for c := l.head; c != nil; c = c.next {
			if !all && !want[c.key.flowHash()] {
				continue
			}
			if a.markLost(c, pos) {
				marked = append(marked, c.ID)
			}
		}
	}
	return marked
}

// markLost adds the zero-byte gaps to c unless it has them already (gap
// never records an empty hole, so a zero-byte Gap is always this mark) or
// its gap list is full (it counts as gapped then anyway).
func (a *Assembler) markLost(c *conn, pos flow.Pos) bool {
	if len(c.Gaps)+2 > maxGaps {
		return false
	}
	for _, g := range c.Gaps {
		if g.Bytes == 0 {
			return false
		}
	}
	for d := range c.dirs {
		h := &c.dirs[d]
		g := Gap{Dir: flow.Dir(d), Offset: h.next, After: pos}
		g.After.Offset = h.next
		c.Gaps = append(c.Gaps, g)
		if !c.pending {
			a.h.Gap(&c.Conn, g)
		}
	}
	return true
}

// flowHash is capture.FlowHash of the connection's packets (either
// direction): FNV-1a over the protocol (TCP), then the two endpoints, each
// address (4 bytes for IPv4, 16 for IPv6) followed by its port, lower
// endpoint first. reassembly does not import capture; TestFlowHashMatchesCapture
// holds the two equal.
func (k *connKey) flowHash() uint64 {
	a, b := k.a[:], k.b[:]
	if k.v4 != 0 {
		a, b = a[12:], b[12:]
	}
	pa, pb := k.pa, k.pb
	// The key's order compares 16-byte forms, which for IPv4-mapped
	// addresses is the order of the 4-byte ones; keep it explicit.
	if c := bytes.Compare(a, b); c > 0 || c == 0 && pa > pb {
		a, b, pa, pb = b, a, pb, pa
	}
	h := uint64(14695981039346656037)
	mix := func(p []byte) {
		for _, c := range p {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	mix([]byte{6})
	mix(a)
	mix([]byte{byte(pa >> 8), byte(pa)})
	mix(b)
	mix([]byte{byte(pb >> 8), byte(pb)})
	return h
}

// Open returns how many connections the Assembler holds (open, pending
// roles, or lingering after their close): what MaxConns bounds.
func (a *Assembler) Open() int { return len(a.conns) + len(a.embryos) }
