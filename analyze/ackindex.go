package analyze

import (
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// ackIndex remembers, for a connection's recent client data segments, how
// much of the server's stream the client had acknowledged when it sent them.
// That is causality the capture point cannot blur: a request whose segment
// does not acknowledge the end of an earlier response was sent before the
// client had that response, wherever the capture was taken.
type ackIndex struct {
	ring []ackEntry
	next int
}

type ackEntry struct {
	off, end uint64 // client stream range carried
	ack      uint64 // server stream bytes acknowledged
}

// ackIndexSize bounds the memory per connection; requests are looked up
// soon after they are sent, so a few hundred segments are plenty.
const ackIndexSize = 256

func (a *ackIndex) add(s *reassembly.Segment) {
	if s.Dir != flow.ClientToServer || s.Len == 0 || !s.AckValid {
		return
	}
	switch s.Kind {
	case reassembly.SegNew, reassembly.SegPartialOverlap, reassembly.SegOutOfOrder:
	default:
		return
	}
	e := ackEntry{off: s.Offset, end: s.Offset + uint64(s.Len), ack: s.AckOffset}
	if len(a.ring) < ackIndexSize {
		a.ring = append(a.ring, e)
		return
	}
	a.ring[a.next] = e
	a.next = (a.next + 1) % ackIndexSize
}

// at returns the server bytes the client had acknowledged when it sent the
// client stream byte at off.
func (a *ackIndex) at(off uint64) (uint64, bool) {
	for i := len(a.ring) - 1; i >= 0; i-- {
		e := a.ring[(a.next+i)%len(a.ring)]
		if off >= e.off && off < e.end {
			return e.ack, true
		}
	}
	return 0, false
}

// ClientAckAt reports how many bytes of the server's stream the client had
// acknowledged when it sent its stream byte at off (false when unknown:
// one-sided capture, segment no longer remembered).
func (c *Ctx) ClientAckAt(off uint64) (uint64, bool) { return c.st.acks.at(off) }

// SentBefore reports whether the client sent the request starting at q
// before it had received all of message r (the server's): the request does
// not acknowledge r's last byte. Without ACK information it falls back to
// capture order, which is right for captures at either end.
func (c *Ctx) SentBefore(qOff uint64, qOrd int64, rLastOff uint64, rLastOrd int64) bool {
	if ack, ok := c.ClientAckAt(qOff); ok {
		return ack <= rLastOff
	}
	return qOrd < rLastOrd
}
