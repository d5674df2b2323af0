package reassembly

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// Running several Assemblers at once (issue 15): packets are split by a
// symmetric hash of their 4-tuple, so that both directions of a connection,
// and every connection that reuses the tuple, go to the same Assembler (a
// shard); a Router on the reading side decides the shard and the moments
// every shard flushes, so that idle and closed connections end at the same
// point of the capture whatever the number of shards; and a Handler that
// implements Sequenced learns, for every event, where it stands in the one
// order a single Assembler would have produced, so that a merger can put the
// shards' events back in that order (analyze.Engine's shards do).
//
// What still depends on the number of shards is what happens at a bound:
// Options.MaxConns, CompareTotal and MaxOutOfOrderTotal are per Assembler
// (the caller divides them), so which connection is evicted first when a
// table is full can differ.

// Router decides, on the reading side, which of n shards a packet goes to
// and when the shards flush. It decodes the packet's headers (not its
// payload) to find its 4-tuple, and leaves them for the shard's Assembler
// (RouteDecoded). Not safe for concurrent use.
type Router struct {
	n     int
	clock flushClock
}

// NewRouter returns a Router over n shards (n ≥ 1).
func NewRouter(n int) *Router { return &Router{n: max(n, 1)} }

// Decoded is a packet as a Router decoded it, for the shard's Assembler
// (PacketDecoded) to take without decoding it again (issue 15: both decoded
// every packet). It aliases the packet's data, and is valid as long as that
// is.
type Decoded struct {
	p      tcpPacket
	k      connKey
	res    decodeResult
	srcIsA bool
}

// RouteDecoded decodes a packet captured at t into d, for the shard's
// Assembler (PacketDecoded), and returns its shard and whether every shard
// must flush (FlushBefore) before it, exactly when a single Assembler
// running alone would have flushed itself (every flushEvery TCP packets, or
// when capture time moved on by more than flushInterval). A packet that is
// not TCP, or not decodable, goes to shard 0, which counts it.
func (r *Router) RouteDecoded(linkType int, data []byte, t time.Time, d *Decoded) (shard int, flush bool) {
	d.res = decode(linkType, data, &d.p)
	if d.res != decodedTCP {
		return 0, false
	}
	d.k, d.srcIsA = makeKey(&d.p)
	flush = r.clock.due(t)
	if r.n == 1 {
		return 0, flush
	}
	return int(d.k.hash() % uint64(r.n)), flush
}

// hash mixes the normalised tuple (FNV-1a over its words, then a final
// avalanche): the same for both directions, since the key is normalised.
func (k *connKey) hash() uint64 {
	h := uint64(14695981039346656037)
	mix := func(v uint64) {
		h ^= v
		h *= 1099511628211
	}
	for i := 0; i < 16; i += 8 {
		mix(binary.LittleEndian.Uint64(k.a[i:]))
		mix(binary.LittleEndian.Uint64(k.b[i:]))
	}
	mix(uint64(k.pa)<<32 | uint64(k.pb)<<16 | uint64(k.v4))
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// flushClock says when a Flush is due: every flushEvery TCP packets, or
// when capture time moved on by more than flushInterval since the last
// one. The Assembler keeps one for itself, and a Router one for all its
// shards, so that both flush at the same packets.
type flushClock struct {
	last  time.Time
	since int
}

// due counts a TCP packet at t and says whether a Flush runs before it.
func (f *flushClock) due(t time.Time) bool {
	f.since++
	if f.since >= flushEvery || t.Sub(f.last) > flushInterval {
		f.flushed(t)
		return true
	}
	return false
}

// flushed notes a Flush at t.
func (f *flushClock) flushed(t time.Time) { f.last, f.since = t, 0 }

// EventKey places a Handler's events in the order one Assembler fed all
// packets would produce them: events compare by Ord, then Phase, then Sub;
// events with equal keys come from one shard, in the order given.
type EventKey struct {
	Ord   int64 // the packet being processed, or flushed before; math.MaxInt64 at Close
	Phase uint8
	Sub   int64 // within a flush or Close: the order of the connections ending
}

// Phases of an EventKey at one Ord.
const (
	PhaseIdle   uint8 = iota // Flush: connections and embryos idle too long, least recently active first
	PhaseLinger              // Flush: settled connections whose close linger passed, least recently active first
	PhasePacket              // the packet itself
)

// Less orders keys.
func (k EventKey) Less(o EventKey) bool {
	if k.Ord != o.Ord {
		return k.Ord < o.Ord
	}
	if k.Phase != o.Phase {
		return k.Phase < o.Phase
	}
	return k.Sub < o.Sub
}

// Sequenced is implemented by a Handler whose events are merged with other
// shards' (see Router). The Assembler calls At before the events each
// packet, and each connection ended by a flush or by Close, cause; IDTaken
// when a connection number is taken (at the first packet of a tuple, so
// numbers follow first-packet order), and IDUnused when a number was never
// published (stray packets that did not become a connection), so that a
// merger can number the connections of all shards as one Assembler would.
type Sequenced interface {
	At(k EventKey)
	IDTaken(id uint64)
	IDUnused(id uint64)
}

// closeKey is the key of a connection ended by Close: the order in which
// connections were first seen.
func closeKey(bornOrd int64) EventKey {
	return EventKey{Ord: math.MaxInt64, Sub: bornOrd}
}

// at tells a Sequenced handler where the next events stand.
func (a *Assembler) at(k EventKey) {
	if a.seqd != nil {
		a.seqd.At(k)
	}
}

// FlushBefore runs Flush at pos's time, before the packet at pos: what a
// Router's flush says to do (with Options.FlushByCaller).
func (a *Assembler) FlushBefore(pos flow.Pos) {
	a.flushOrd = pos.Ord
	a.Flush(pos.Time)
}

// Add adds o's counters to s (the shards' Assemblers of one run).
func (s *Stats) Add(o Stats) {
	s.Packets += o.Packets
	s.NonTCP += o.NonTCP
	s.Undecodable += o.Undecodable
	s.Conns += o.Conns
	s.EvictedFull += o.EvictedFull
	s.EvictedIdle += o.EvictedIdle
	s.OutOfOrderDropped += o.OutOfOrderDropped
	s.CompareLimited += o.CompareLimited
	s.Fragments += o.Fragments
	s.Duplicates += o.Duplicates
	s.Stray += o.Stray
}
