package timing

import (
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// pathRTT estimates the round-trip time between the capture point and each
// endpoint. The capture may sit at the client, at the server or anywhere in
// between, so one number is not enough: a delayed ACK is measured against
// the RTT to the endpoint that sent the ACK, and "the next data left right
// after the ACK arrived" against the RTT to the endpoint that sent the data.
//
// Each estimate is the smallest of several upper bounds, so it only ever
// shrinks (a min filter, as Linux's tcp_min_rtt and BBR's min_rtt):
//
//   - the handshake: SYN → SYN-ACK is capture point ↔ server and back,
//     SYN-ACK → handshake ACK is capture point ↔ client and back (both
//     include only the endpoints' negligible processing time);
//   - data → ACK: when endpoint E acknowledges data that passed the capture
//     point at t, E's side is at most ackTime − t (plus E's own ACK delay,
//     which the minimum filters out across samples). Only data sent once is
//     sampled (Karn's rule): a retransmitted segment's ACK is ambiguous.
//
// A retransmitted SYN or SYN-ACK inflates the handshake estimate; that errs
// on the safe side (a larger RTT means a smaller stall, hence silence) and
// data samples pull it down again.
type pathRTT struct {
	// side[d] is capture point ↔ the endpoint that sends direction d
	// (side[ClientToServer] = the client), 0 = unknown.
	side [2]time.Duration
}

// fromHandshake seeds the estimates from the handshake when all three
// packets were captured.
func (r *pathRTT) fromHandshake(c *reassembly.Conn) {
	if c.SYN.Frame == 0 || c.SYNACK.Frame == 0 {
		return
	}
	r.sample(flow.ServerToClient, c.SYNACK.Time.Sub(c.SYN.Time))
	if c.HandshakeACK.Frame != 0 {
		r.sample(flow.ClientToServer, c.HandshakeACK.Time.Sub(c.SYNACK.Time))
	}
}

// sample offers an upper bound for the side of the endpoint that sends
// direction d. A zero sample is kept as the smallest positive duration: the
// capture point sits at that endpoint, and 0 must keep meaning "unknown".
func (r *pathRTT) sample(d flow.Dir, v time.Duration) {
	if v < 0 {
		return
	}
	if v == 0 {
		v = time.Nanosecond
	}
	if r.side[d] == 0 || v < r.side[d] {
		r.side[d] = v
	}
}

// of returns the capture point ↔ sender-of-d RTT and whether it is known.
func (r *pathRTT) of(d flow.Dir) (time.Duration, bool) {
	return r.side[d], r.side[d] != 0
}

// full is the end-to-end RTT (both sides), when both are known.
func (r *pathRTT) full() (time.Duration, bool) {
	if r.side[0] == 0 || r.side[1] == 0 {
		return 0, false
	}
	return r.side[0] + r.side[1], true
}

// sendMSS is the largest payload direction d's sender may put in a segment:
// the MSS its peer announced in its SYN (RFC 9293 §3.7.1), or the default
// of 536 (IPv4) / 1220 (IPv6) bytes when the peer's SYN carried none. A
// sender that was seen sending more (segmentation offload captured at the
// sender) raises it. 0 means unknown (no handshake seen).
func sendMSS(c *reassembly.Conn, d flow.Dir) int {
	mss := c.Halves[1-d].MSS
	if mss == 0 {
		peerSYN := c.SYNACK
		if d == flow.ServerToClient {
			peerSYN = c.SYN
		}
		if peerSYN.Frame == 0 {
			return 0
		}
		mss = 536
		if c.Server.Addr().Is6() && !c.Server.Addr().Is4In6() {
			mss = 1220
		}
	}
	return mss
}

// fullSized reports whether a payload of n bytes counts as a full-sized
// segment for an MSS of mss: TCP options (timestamps take 12 bytes, SACK
// blocks up to 40 with the header) come out of the MSS, so a segment within
// 40 bytes of it is full.
func fullSized(n, mss int) bool { return n >= mss-40 }

// mark is a pointer-free copy of a capture position. The per-segment state
// of the timing checkers is built from it rather than from flow.Pos,
// whose time.Time holds a *Location: storing that on every segment costs a
// GC write barrier each time, measurable on the hot path.
type mark struct {
	t     int64 // Unix ns
	frame int64
	ord   int64
	off   uint64
	input int
}

func markOf(p flow.Pos) mark {
	return mark{t: p.Time.UnixNano(), frame: p.Frame, ord: p.Ord, off: p.Offset, input: p.Input}
}

// since is the time from o to m.
func (m mark) since(o mark) time.Duration { return time.Duration(m.t - o.t) }

// pos turns m back into a position for a finding (times in UTC).
func (m mark) pos() flow.Pos {
	return flow.Pos{Time: time.Unix(0, m.t).UTC(), Input: m.input, Frame: m.frame, Ord: m.ord, Offset: m.off}
}
