package reassembly

import (
	"net/netip"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// Flags are TCP flags.
type Flags uint16

const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Has reports whether all of f2 are set.
func (f Flags) Has(f2 Flags) bool { return f&f2 == f2 }

// SegKind classifies a segment's payload relative to what the stream already had.
type SegKind uint8

const (
	SegNew             SegKind = iota // payload (or none) that advanced the stream or a pure ACK
	SegRetransmit                     // payload entirely already seen (same bytes)
	SegDuplicate                      // an identical copy of the previous packet (capture duplicate)
	SegOutOfOrder                     // payload beyond the next expected byte (a hole before it)
	SegKeepAlive                      // TCP keep-alive probe (seq = next-1, 0 or 1 byte)
	SegZeroWindowProbe                // probe into a zero window
	SegPartialOverlap                 // part old, part new
)

func (k SegKind) String() string {
	return [...]string{"new", "retransmission", "duplicate", "out-of-order", "keep-alive", "zero-window-probe", "partial-overlap"}[k]
}

// Segment is the compact per-segment event every timing rule works from.
type Segment struct {
	flow.Pos // Time, Input, Frame, Ord; Offset = stream offset of the first payload byte
	Dir      flow.Dir
	Seq      uint32 // raw TCP sequence number
	Ack      uint32 // raw TCP acknowledgement number
	Len      int    // payload length
	Flags    Flags
	Window   uint32 // receive window, already scaled by the sender's window scale when known
	Kind     SegKind
	// AckOffset is the peer-stream offset this segment acknowledges (bytes of the
	// other direction's stream acked), valid when AckValid.
	AckOffset uint64
	AckValid  bool
	// SACK is true when the segment carried SACK blocks.
	SACK bool
	// Captured is the payload the capture holds; less than Len when the
	// snapshot length cut the packet (the rest becomes a Gap).
	Captured int
}

// Gap is a hole in one direction's stream: bytes the peer acknowledged or that
// later data proves were sent, but that the capture does not hold.
type Gap struct {
	Dir    flow.Dir
	Offset uint64 // stream offset of the first missing byte
	Bytes  uint64
	After  flow.Pos // the packet after the hole (frame shown to users)
}

// Inconsistency is retransmitted/overlapping data that differs from what was
// first seen at the same stream offset. The first-seen bytes are kept.
type Inconsistency struct {
	Dir    flow.Dir
	Offset uint64
	Bytes  int
	First  flow.Pos // the packet that delivered the kept bytes
	Second flow.Pos // the packet with different bytes
}

// EndReason says how a connection ended.
type EndReason uint8

const (
	EndOpen    EndReason = iota // still open when the capture ended
	EndFIN                      // both sides (or one side, then nothing) sent FIN
	EndRST                      // a RST ended it
	EndIdle                     // evicted after the idle timeout (even if one side had sent FIN)
	EndEvicted                  // evicted because the connection table was full (even if one side had sent FIN)
	EndRefused                  // SYN answered by RST
)

func (e EndReason) String() string {
	return [...]string{"open", "fin", "rst", "idle", "evicted", "refused"}[e]
}

// Half is what is known about one direction of a connection (one half of
// it), for the Handler: Conn.Halves is indexed by flow.Dir. The Assembler's
// working state for a direction is internal (dirStream).
type Half struct {
	ISN         uint32
	ISNKnown    bool
	MSS         int    // from the SYN option; 0 when not seen
	WScale      int    // -1 when not negotiated / not seen
	Bytes       uint64 // stream bytes delivered (excluding gaps)
	GapBytes    uint64
	Segments    int // segments sent in this direction (including pure ACKs)
	Retransmits int
	MaxSegment  int       // largest payload seen (MSS fallback)
	FIN         *flow.Pos // first FIN sent by this side
	RST         *flow.Pos // first RST sent by this side
}

// Conn is one TCP connection (4-tuple + SYN generation).
type Conn struct {
	ID     uint64 // 1-based, in order of first packet (a few stray packets that never form a connection may use up a number)
	Client netip.AddrPort
	Server netip.AddrPort
	// RolesGuessed is true when no SYN told who the client is (roles were taken
	// from the payload, see ConsumerFactory.SenderDir, else from port numbers).
	RolesGuessed bool
	MidStream    bool // the capture did not start with the handshake

	First flow.Pos // first packet
	Last  flow.Pos // last packet

	// Handshake packets, zero Frame when not seen.
	SYN, SYNACK, HandshakeACK flow.Pos
	// FastOpen is true when the SYN carried data.
	FastOpen bool

	Halves      [2]Half // indexed by Dir
	Gaps        []Gap   // every hole, in order found (capped; GapsDropped counts the rest)
	GapsDropped int
	// End says how the connection ended. When the Assembler ends it (end of
	// capture, eviction) it is set before the Consumer's last End and Finish
	// calls, so what a consumer reports then (an HTTP message cut short) can
	// tell an eviction (EndEvicted, EndIdle: nothing is known about the rest)
	// from the end of the capture.
	End EndReason
	// OutOfOrderDropped counts bytes dropped because the out-of-order buffer cap was hit.
	OutOfOrderDropped uint64

	// OneSided is true when the capture holds not one packet from one side
	// over the whole connection while the other side sent data (asymmetric
	// routing, a span port seeing one way); Missing is the absent direction.
	// Set when the connection ends, before the Consumer's last End/Finish
	// calls and ConnEnd. What needs the missing side (pairing, the other
	// side's close, a request's answer) is unknown on such a connection;
	// while it is open, Halves[d].Segments == 0 says the same so far.
	OneSided bool
	Missing  flow.Dir

	// Duplicates counts capture duplicates (the same packet recorded twice);
	// they are reported as SegDuplicate and otherwise ignored.
	Duplicates int

	// What the connection's Consumer recognised, when it implements
	// Recognizer (else false).
	HTTP    bool // an HTTP/1.x request or status line was parsed on it
	NotHTTP bool // bytes were seen and they are not HTTP/1.x
	Tunnel  bool // switched to tunnel mode (CONNECT/101)
}

// Duration is Last.Time - First.Time.
func (c *Conn) Duration() time.Duration { return c.Last.Time.Sub(c.First.Time) }

// SilentSide reports whether one direction of c has no packet at all: no
// handshake packet, no segment, no byte, no FIN or RST from that side. It
// is wider than OneSided (which needs data from the other side): a SYN
// never answered counts too. Rules that judge both sides (proxy legs, who
// holds TIME_WAIT) leave such connections alone.
func (c *Conn) SilentSide() bool {
	for d := flow.ClientToServer; d <= flow.ServerToClient; d++ {
		h := &c.Halves[d]
		hs := c.SYN.Frame != 0 || c.HandshakeACK.Frame != 0
		if d == flow.ServerToClient {
			hs = c.SYNACK.Frame != 0
		}
		if !hs && h.Segments == 0 && h.Bytes == 0 && h.GapBytes == 0 && h.FIN == nil && h.RST == nil {
			return true
		}
	}
	return false
}

// Handler receives the Assembler's TCP events, synchronously, in capture
// order. Per connection: ConnStart once; then Segment (once per packet),
// Gap and Inconsistency any number of times; then ConnEnd once. The stream
// bytes go to the connection's Consumer (see Options.Consumers), whose calls
// are interleaved with these events.
//
// A *Segment and a *Conn belong to the Assembler: the Segment is reused for
// the next packet, and the Conn is valid until ConnEnd returns, so copy what
// you keep.
type Handler interface {
	ConnStart(c *Conn)
	Segment(c *Conn, s *Segment)
	Gap(c *Conn, g Gap)
	Inconsistency(c *Conn, x Inconsistency)
	ConnEnd(c *Conn)
}

// Options bound the Assembler's memory; zero values take the defaults.
type Options struct {
	MaxConns           int           // live connections; beyond it the least recently active is evicted (default 100 000)
	MaxOutOfOrderBytes int           // buffered out-of-order bytes per direction (default 1 MiB)
	IdleTimeout        time.Duration // capture-time idle eviction (default 5 min)
	// MaxOutOfOrderTotal bounds the out-of-order bytes buffered over all
	// connections (default 128 MiB). A direction that would go beyond it
	// gives up its holes as if it had hit MaxOutOfOrderBytes (the bytes
	// count in OutOfOrderDropped): under a flood of connections that never
	// fill their holes, whoever buffers next pays, and memory stays bounded.
	MaxOutOfOrderTotal int
	// CompareBytes is how much recently delivered data is kept per direction
	// to compare retransmissions with (Inconsistency); rounded up to a power
	// of two; default 64 KiB, negative disables the check. A direction of a
	// settled connection (FIN both ways) whose every byte and FIN the peer
	// acknowledged keeps none: a copy of its data in the close linger is
	// classified (SegRetransmit) but not compared.
	CompareBytes int
	// CompareTotal bounds the compare rings of all connections together
	// (default 16 MiB): past it a ring stops growing (a new one gets the
	// smallest size, 256 bytes) and retransmissions older than what it
	// holds are not compared (Stats.CompareLimited). A ring given up when
	// its connection settled counts no more: the thousands of connections
	// lingering after their close on a busy link hold no ring, so ordinary
	// traffic does not reach the bound.
	CompareTotal int
	// CloseLinger is how long (capture time) a connection closed by FIN both
	// ways or RST stays in the table for its last ACKs and retransmitted
	// FINs or RSTs before ConnEnd (default 2 s): at most this long, and
	// when its handshake was captured, eight of its round trips but at
	// least 500 ms (a retransmission timeout is a few round trips, and at
	// least 200-300 ms on the common stacks).
	CloseLinger time.Duration
	// Consumers chooses each connection's stream consumer and guesses roles
	// from payload when the handshake was not captured. Nil: no consumer,
	// and roles without a handshake are guessed from the port numbers.
	Consumers ConsumerFactory
	// LazySYN keeps the first SYN of a connection (no payload) as a small
	// embryo until a second packet of its tuple comes or the connection
	// must end: ConnStart and the SYN's Segment then come late, with the
	// SYN's own position and the ID taken when it arrived. A connection
	// that never gets past its SYN (a SYN flood, a scan) costs about 250
	// bytes instead of kilobytes. The events each connection gets are the
	// same; only ConnStart moves, relative to other connections' events.
	LazySYN bool
	// FlushByCaller: Packet never runs Flush itself; the caller calls
	// FlushBefore when a Router says so (one Assembler per shard).
	FlushByCaller bool
	// Shards, when above 1, says this Assembler is one of that many
	// (Router): the fixed-size tables it keeps (the ghosts of ended
	// connections) are shared out, so that the run's memory does not
	// grow with the number of shards.
	Shards int
}

// Stats counts what the Assembler saw and where bounds were hit.
type Stats struct {
	Packets           int64
	NonTCP            int64 // decoded, but not TCP over IP (or TCP inside ICMP etc.)
	Undecodable       int64 // link/IP/TCP header could not be decoded, or a link type we do not decode
	Conns             int64
	EvictedFull       int64 // connections evicted because MaxConns was reached
	EvictedIdle       int64
	OutOfOrderDropped int64 // bytes skipped because MaxOutOfOrderBytes was hit
	CompareLimited    int64 // directions whose compare ring stopped growing at CompareTotal
	Fragments         int64 // IP fragments: later ones skipped; first ones used with what they carry
	Duplicates        int64 // capture duplicates (SegDuplicate)
	Stray             int64 // packets of no connection: a lone RST, or a few payload-less packets never joined by payload
}
