// Package pipeline runs packets from a capture source through reassembly
// into the analysis engine: the one path every analysing command takes.
package pipeline

import (
	"bytes"
	"errors"
	"io"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
	"github.com/connlint/connlint/reassembly/tls"
)

// Options say what to analyse with and where findings go.
type Options struct {
	Config    *analyze.Config
	Assembler reassembly.Options
	Sink      analyze.Sink
	// Tick, when set, is called about every 4096 packets (progress).
	Tick func()
	// Stop, when set, is asked after every packet; true ends the run early
	// as if the source were exhausted (the output could not be written, so
	// reading on would be wasted).
	Stop func() bool
	// Observer, when set, watches the run as it goes (metrics).
	Observer Observer
	// Keys are the TLS secrets (--keylog); nil for none. Keys found in the
	// inputs' pcapng Decryption Secrets Blocks are added to them (or to a
	// key log of their own) as they are read.
	Keys *tls.KeyLog
	// Warn, when set, receives problems that do not stop the run: the
	// malformed lines of a Decryption Secrets Block (never their content).
	Warn func(error)
	// Workers is how many goroutines reassemble and analyse a file's flows
	// (sharded.go); 0 or 1: one. A live capture, a run with an Observer and
	// one with TLS keys use one: a resumed TLS session is decrypted with
	// what the connection it resumes taught the key log, which another
	// worker may not have read yet.
	Workers int
}

// Observer watches a run, from the run's goroutine: it must not block.
type Observer interface {
	// Packet is called for every packet analysed, with its length on the wire.
	Packet(wireLen int)
	// Finding is called for every finding reported (not for those withheld).
	Finding(f *analyze.Finding)
	// Connection is called for every connection report.
	Connection(c *analyze.ConnReport)
	// ConnEnd is called when the Assembler ends a connection.
	ConnEnd(c *reassembly.Conn)
	// Progress is called on every live tick and every 4096 packets with
	// the Assembler's counters and how many connections it holds.
	Progress(s reassembly.Stats, open int)
}

// Run reads src to its end (or until it is interrupted or o.Stop says so),
// flushes every connection and the cross-connection rules, and returns the
// summary with the capture statistics filled in.
//
// A live source's ticks (capture.Packet.Tick) advance the Assembler's clock,
// so connections end and their findings come out with the wall clock; its
// losses (capture.Packet.Loss) mark the connections that lost packets as
// having a capture gap, and any finding about such a connection is withheld
// (counted in Result.Live.Withheld): what the capture missed is never
// blamed on the peers.
func Run(src capture.Source, o Options) *render.Result {
	stagedRun := staged(src, o)
	if stagedRun && o.Workers > 1 && (o.Keys == nil || o.Keys.Len() == 0) {
		return runSharded(src, o, o.Workers)
	}
	ls := &lossSink{next: o.Sink, lost: map[uint64]bool{}, obs: o.Observer}
	if stagedRun {
		// a file loses nothing; the sink runs on the aggregator goroutine
		// and must share no map with the handler
		ls.lost = nil
	}
	eng := analyze.NewEngine(o.Config, suite.Rules, ls)
	asmOpts := o.Assembler
	keys := o.Keys
	if keys == nil {
		keys = tls.NewKeyLog() // filled by Decryption Secrets Blocks, if any
	}
	asmOpts.LazySYN = true // a SYN flood costs ~250 bytes per SYN, not kilobytes
	asmOpts.Consumers = eng.Consumers(http1.Options{}, keys)
	h := &lossHandler{Engine: eng, lost: ls.lost, obs: o.Observer}
	asm := reassembly.NewAssembler(h, asmOpts)
	var ord int64
	var readErr error
	var sp span
	// step analyses one item; true ends the run.
	step := func(p *capture.Packet) bool {
		if !p.Tick { // a tick is the wall clock, not a packet: no part of the span
			sp.add(p.Time)
		}
		readSecrets(src, keys, p, o.Warn)
		ord++
		pos := flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: ord}
		if p.Loss != nil && ls.lost != nil {
			for _, id := range asm.Lost(p.Loss.Flows, p.Loss.AllFlows, pos) {
				ls.lost[id] = true
			}
		}
		if p.Tick {
			asm.Advance(p.Time)
			eng.Advance(p.Time) // cross-connection rules report what became true (issue 13)
			if o.Observer != nil {
				o.Observer.Progress(asm.Stats(), asm.Open())
			}
			return false
		}
		asm.Packet(p.LinkType, p.Data, pos)
		if o.Observer != nil {
			o.Observer.Packet(p.Length)
			if ord&4095 == 0 {
				o.Observer.Progress(asm.Stats(), asm.Open())
			}
		}
		if o.Tick != nil && ord&4095 == 0 {
			o.Tick()
		}
		return o.Stop != nil && o.Stop()
	}
	if stagedRun {
		// Files: reading, analysing, and the cross-connection rules with
		// the output each get a goroutine (both cores), in a fixed order of
		// events, so the output is the same as on one.
		eng.StartAggregator()
		readErr = readStaged(src, step)
	} else {
		for {
			p, err := src.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					readErr = err
				}
				break
			}
			if step(&p) {
				break
			}
		}
	}
	asm.Close()
	sum := eng.Close()
	sp.fill(sum)
	as := asm.Stats()
	if o.Observer != nil {
		o.Observer.Progress(as, asm.Open())
	}
	return result(src, sum, as, readErr, ls.withheld)
}

// span is the capture time every packet read covers, tracked or not.
type span struct{ first, last time.Time }

func (s *span) add(t time.Time) {
	if s.first.IsZero() || t.Before(s.first) {
		s.first = t
	}
	if t.After(s.last) {
		s.last = t
	}
}

// fill sets the summary's span, when a packet was read.
func (s *span) fill(sum *analyze.Summary) {
	if !s.first.IsZero() {
		sum.Start, sum.End = s.first, s.last
	}
}

// readSecrets adds the keys of a packet's Decryption Secrets Block, if it
// carries one, to keys; warn (when set) gets the malformed lines.
func readSecrets(src capture.Source, keys *tls.KeyLog, p *capture.Packet, warn func(error)) {
	if len(p.Secrets) == 0 {
		return
	}
	name := "decryption secrets block"
	if in := src.Inputs(); p.Input < len(in) {
		name = in[p.Input] + ": " + name
	}
	if err := keys.Read(bytes.NewReader(p.Secrets), name); err != nil && warn != nil {
		warn(err)
	}
}

// result fills the summary with the capture statistics and makes the
// run's result.
func result(src capture.Source, sum *analyze.Summary, as reassembly.Stats, readErr error, withheld int64) *render.Result {
	sum.Packets, sum.NonTCP, sum.Undecodable = as.Packets, as.NonTCP, as.Undecodable
	sum.EvictedFull, sum.EvictedIdle, sum.OutOfOrderDropped = as.EvictedFull, as.EvictedIdle, as.OutOfOrderDropped
	sum.CompareLimited = as.CompareLimited
	cs := src.Stats()
	sum.Filtered = cs.Filtered
	res := &render.Result{Inputs: src.Inputs(), Summary: sum}
	if cs.Live {
		sum.KernelReceived, sum.KernelDropped, sum.IfaceDropped = cs.KernelReceived, cs.KernelDropped, cs.IfaceDropped
		res.Live = &render.LiveCounts{Captured: cs.Captured, QueueDropped: cs.QueueDropped, Withheld: withheld}
	}
	if readErr == nil {
		readErr = src.Err()
	}
	res.ReadErr = readErr
	return res
}

// staged says whether the run reads in a goroutine of its own and hands
// the cross-connection rules and the sink to another: for files, where
// nothing outside the pipeline watches the run as it goes. A live capture
// stays on one goroutine: its loss accounting and metrics share state
// between the handler and the sink.
func staged(src capture.Source, o Options) bool {
	return !src.Stats().Live && o.Observer == nil
}

// readBatch is how many packets the reader hands over at once.
const readBatch = 256

// batch is packets read ahead, their bytes copied into one buffer (the
// source may reuse the bytes it returns once Next is called again).
type batch struct {
	pkts []capture.Packet
	data []byte
	err  error // the read error that ended the source (io.EOF at its end)

	sharded *shardedBatch // its routing, in a sharded run
}

// readStaged reads src in a goroutine, read-ahead by a few batches, and
// calls step for every packet in order until the source ends or step says
// stop. It returns the source's read error (not io.EOF).
func readStaged(src capture.Source, step func(*capture.Packet) bool) error {
	free := make(chan *batch, 6)
	return readBatches(src, readBatch, func() *batch {
		select {
		case b := <-free:
			return b
		default:
			return nil
		}
	}, func(b *batch) bool {
		for i := range b.pkts {
			if step(&b.pkts[i]) {
				return false
			}
		}
		select {
		case free <- b:
		default:
		}
		return true
	})
}

// lossSink withholds the findings about connections that lost packets.
type lossSink struct {
	next     analyze.Sink
	lost     map[uint64]bool // connection IDs, while the connection lives
	withheld int64
	obs      Observer
}

func (s *lossSink) Finding(f *analyze.Finding) {
	if !f.Across && f.Conn.ID != 0 && s.lost[f.Conn.ID] {
		s.withheld++
		return
	}
	if s.obs != nil {
		s.obs.Finding(f)
	}
	s.next.Finding(f)
}

func (s *lossSink) Connection(c *analyze.ConnReport) {
	if s.obs != nil {
		s.obs.Connection(c)
	}
	s.next.Connection(c)
}

// lossHandler forgets a lost connection once its end (and the findings
// reported then) has gone through.
type lossHandler struct {
	*analyze.Engine
	lost map[uint64]bool
	obs  Observer
}

func (h *lossHandler) ConnEnd(c *reassembly.Conn) {
	h.Engine.ConnEnd(c)
	delete(h.lost, c.ID)
	if h.obs != nil {
		h.obs.ConnEnd(c)
	}
}
