package analyze

import (
	"math"

	"github.com/connlint/connlint/reassembly"
)

// Shards (issue 15): a capture's flows are split over several Assemblers
// by a symmetric hash of their 4-tuple (reassembly.Router), each feeding a
// shard of the engine on a goroutine of its own: the per-connection side
// (checkers, passes, the per-connection tallies). The engine that made the
// shards merges their events back into the one order a single Assembler
// would have produced (reassembly.EventKey) on its merger goroutine, which
// runs the aggregator side: connection numbers, the cross-connection rules,
// the sink. The output is therefore the same for any number of shards,
// bounds apart (see reassembly.Router).

// shardEvent is a shard's bookkeeping event kind.
type shardEvent uint8

const (
	shardNone     shardEvent = iota // a finding or a connection end
	shardIDTaken                    // the shard took connection number id
	shardIDUnused                   // the shard gave number id up unpublished
	shardMark                       // a watermark: nothing earlier than key is to come
)

// Shards returns n engine shards. Give each one an Assembler of its own
// (it is the Assembler's Handler, and a reassembly.Sequenced one: set the
// Assembler's Consumers from the shard's Consumers), run each on one
// goroutine, call Mark after every batch of packets and Done at the end
// (after its Assembler's Close). StartMerger runs the aggregator side, and
// Close on e returns the summary of them all. Call it once, instead of
// StartAggregator.
func (e *Engine) Shards(n int) []*Engine {
	out := make([]*Engine, n)
	for i := range out {
		s := &Engine{
			cfg: e.cfg, rules: e.rules, passes: e.passes, aggs: e.aggs,
			slots: e.slots, passAt: e.passAt, disp: e.disp,
			conns: map[uint64]*connState{}, txHist: map[int]int64{},
			evicted: map[tupleKey]pieceCount{},
		}
		s.q = &aggQueue{ch: make(chan []aggEvent, aggQueueDepth), free: make(chan []aggEvent, aggQueueDepth+2)}
		out[i] = s
	}
	for _, s := range out {
		s.shardOf = out
	}
	e.shards = out
	return out
}

// At implements reassembly.Sequenced: the events that follow stand at k.
func (e *Engine) At(k reassembly.EventKey) { e.key = k }

// IDTaken implements reassembly.Sequenced.
func (e *Engine) IDTaken(id uint64) {
	if e.shardOf != nil {
		e.post(aggEvent{kind: shardIDTaken, id: id})
	}
}

// IDUnused implements reassembly.Sequenced.
func (e *Engine) IDUnused(id uint64) {
	if e.shardOf != nil {
		e.post(aggEvent{kind: shardIDUnused, id: id})
	}
}

// Mark tells the merger that the shard's events up to the packet with
// ordinal ord have all been posted, and hands them over: the merger can
// only put an event in its place once every shard has gone past it.
func (e *Engine) Mark(ord int64) {
	e.key = reassembly.EventKey{Ord: ord, Phase: math.MaxUint8, Sub: math.MaxInt64}
	e.post(aggEvent{kind: shardMark})
	if q := e.q; len(q.buf) > 0 {
		q.ch <- q.buf
		q.buf = nil
	}
}

// Done hands the shard's last events over; nothing may be posted after it.
func (e *Engine) Done() {
	q := e.q
	if len(q.buf) > 0 {
		q.ch <- q.buf
		q.buf = nil
	}
	close(q.ch)
}

// StartMerger runs the aggregator side of the shards made by Shards on a
// goroutine: their events are taken in key order (the shard with the
// earliest next event goes first; one that has none waits to be heard
// from, which Mark guarantees), connections are numbered as one Assembler
// numbers them, and the rest is what the aggregator does (handle).
func (e *Engine) StartMerger() {
	n := len(e.shards)
	done := make(chan struct{})
	e.merged = done // Close waits on it (stopMerger)
	go func() {
		defer close(done)
		heads := make([][]aggEvent, n)
		at := make([]int, n)
		ended := make([]bool, n)
		ids := make([]map[uint64]uint64, n) // shard's number → the run's
		for i := range ids {
			ids[i] = map[uint64]uint64{}
		}
		var next uint64
		for {
			best := -1
			for i, s := range e.shards {
				for !ended[i] && at[i] >= len(heads[i]) {
					if heads[i] != nil {
						select {
						case s.q.free <- heads[i][:0]:
						default:
						}
					}
					b, ok := <-s.q.ch
					heads[i], at[i], ended[i] = b, 0, !ok
				}
				if ended[i] {
					continue
				}
				if best < 0 || heads[i][at[i]].key.Less(heads[best][at[best]].key) {
					best = i
				}
			}
			if best < 0 {
				return
			}
			ev := heads[best][at[best]]
			heads[best][at[best]] = aggEvent{}
			at[best]++
			m := ids[best]
			switch ev.kind {
			case shardMark:
				continue
			case shardIDTaken:
				next++
				m[ev.id] = next
				continue
			case shardIDUnused:
				delete(m, ev.id)
				continue
			}
			switch {
			case ev.f != nil:
				if !ev.f.Across && ev.f.Conn.ID != 0 {
					ev.f.Conn.ID = m[ev.f.Conn.ID]
				}
			case ev.st != nil:
				r := ev.report
				id := m[r.ID]
				delete(m, r.ID)
				r.ID, r.Conn.ID = id, id
			}
			e.handle(ev)
		}
	}()
}

// stopMerger waits for the merger to finish (every shard called Done),
// then adds the shards' per-connection tallies to the summary.
func (e *Engine) stopMerger() {
	if e.shards == nil {
		return
	}
	<-e.merged
	s := &e.sum
	for _, sh := range e.shards {
		t := &sh.sum
		if !t.Start.IsZero() && (s.Start.IsZero() || t.Start.Before(s.Start)) {
			s.Start = t.Start
		}
		if t.End.After(s.End) {
			s.End = t.End
		}
		s.Connections += t.Connections
		s.HTTPConnections += t.HTTPConnections
		s.NonHTTP += t.NonHTTP
		s.MidStream += t.MidStream
		s.Refused += t.Refused
		s.Reset += t.Reset
		s.OpenAtEnd += t.OpenAtEnd
		s.Reused += t.Reused
		s.Transactions += t.Transactions
		s.Gaps += t.Gaps
		s.GapBytes += t.GapBytes
		s.Inconsistencies += t.Inconsistencies
		s.Suppressed += t.Suppressed
		for k, v := range sh.txHist {
			e.txHist[k] += v
		}
	}
	e.shards = nil
}
