package pipeline

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
	"github.com/connlint/connlint/reassembly/tls"
)

// Sharded runs (issue 15, --workers): a file's flows are split over n
// workers by a symmetric hash of their 4-tuple. One goroutine reads the
// source ahead; the calling goroutine numbers the packets, routes each to
// its worker (reassembly.Router, which also says when every worker's
// Assembler flushes) and hands every batch to all workers; each worker runs
// an Assembler and an engine shard over the packets that are its own; the
// engine's merger puts the shards' events back in the one order a single
// Assembler gives and runs the cross-connection rules and the sink. The
// output is the same for any n (TestWorkersSameOutput), except where a
// bound is hit: the connection table (--max-conns) and the buffer totals
// are shared out evenly between the workers.

// shardBatch is how many packets a sharded run's batches hold: every
// worker reads every batch, so a dozen are in flight (200 KB each).
const shardBatch = 128

// shardedBatch is a batch with its routing: which worker each packet is
// for, and whether the workers flush before it.
type shardedBatch struct {
	*batch
	ord0  int64 // ordinal of pkts[0]
	shard []uint16
	flush []bool
	// dec holds each packet as the Router decoded it: its worker's
	// Assembler takes it from there (PacketDecoded) rather than decoding
	// the packet a second time.
	dec  []reassembly.Decoded
	refs atomic.Int32 // workers still reading it
}

// share divides a table or buffer bound between n workers (rounding up).
func share(v, def, n int) int {
	if v <= 0 {
		v = def
	}
	return (v + n - 1) / n
}

func runSharded(src capture.Source, o Options, n int) *render.Result {
	eng := analyze.NewEngine(o.Config, suite.Rules, o.Sink)
	keys := o.Keys
	if keys == nil {
		keys = tls.NewKeyLog() // filled by Decryption Secrets Blocks, if any
	}
	shards := eng.Shards(n)
	asms := make([]*reassembly.Assembler, n)
	for i, sh := range shards {
		ao := o.Assembler
		ao.LazySYN = true
		ao.FlushByCaller = true
		ao.Shards = n
		ao.MaxConns = share(ao.MaxConns, reassembly.DefaultMaxConns, n)
		ao.CompareTotal = share(ao.CompareTotal, reassembly.DefaultCompareTotal, n)
		ao.MaxOutOfOrderTotal = share(ao.MaxOutOfOrderTotal, reassembly.DefaultMaxOutOfOrderTotal, n)
		ao.Consumers = sh.Consumers(http1.Options{}, keys)
		asms[i] = reassembly.NewAssembler(sh, ao)
	}
	eng.StartMerger()

	free := make(chan *shardedBatch, 4*n+8)
	var inflight sync.WaitGroup // batches handed to workers and not yet done by all
	var workers sync.WaitGroup
	in := make([]chan *shardedBatch, n)
	for i := range in {
		in[i] = make(chan *shardedBatch, 4)
		workers.Add(1)
		go func(i int) {
			defer workers.Done()
			asm, sh := asms[i], shards[i]
			me := uint16(i)
			for b := range in[i] {
				for j := range b.pkts {
					p := &b.pkts[j]
					pos := flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: b.ord0 + int64(j)}
					if b.flush[j] {
						asm.FlushBefore(pos)
					}
					if b.shard[j] == me {
						asm.PacketDecoded(&b.dec[j], pos)
					}
				}
				sh.Mark(b.ord0 + int64(len(b.pkts)) - 1)
				if b.refs.Add(-1) == 0 {
					select {
					case free <- b:
					default:
					}
				}
				inflight.Done()
			}
			asm.Close()
			sh.Done()
		}(i)
	}

	router := reassembly.NewRouter(n)
	var ord int64
	var sp span
	stopped := false
	readErr := readBatches(src, shardBatch, func() *batch {
		select {
		case b := <-free:
			return b.batch
		default:
			return nil
		}
	}, func(b *batch) bool {
		if len(b.pkts) > 0 && len(b.pkts[0].Secrets) > 0 {
			// Keys are read between packets, as one goroutine reads them:
			// every worker first finishes the packets before them.
			inflight.Wait()
			readSecrets(src, keys, &b.pkts[0], o.Warn)
		}
		sb := b.sharded
		if sb == nil {
			sb = &shardedBatch{batch: b}
			b.sharded = sb
		}
		sb.ord0 = ord + 1
		sb.shard, sb.flush = sb.shard[:0], sb.flush[:0]
		if cap(sb.dec) < len(b.pkts) {
			sb.dec = make([]reassembly.Decoded, len(b.pkts))
		}
		sb.dec = sb.dec[:len(b.pkts)]
		for j := range b.pkts {
			p := &b.pkts[j]
			sp.add(p.Time)
			ord++
			s, fl := router.RouteDecoded(p.LinkType, p.Data, p.Time, &sb.dec[j])
			sb.shard, sb.flush = append(sb.shard, uint16(s)), append(sb.flush, fl)
			if o.Tick != nil && ord&4095 == 0 {
				o.Tick()
			}
			if o.Stop != nil && o.Stop() {
				b.pkts = b.pkts[:j+1]
				stopped = true
				break
			}
		}
		sb.refs.Store(int32(n))
		inflight.Add(n)
		for i := range in {
			in[i] <- sb
		}
		return !stopped
	})
	for i := range in {
		close(in[i])
	}
	workers.Wait()
	sum := eng.Close()
	sp.fill(sum)
	var as reassembly.Stats
	for _, a := range asms {
		as.Add(a.Stats())
	}
	return result(src, sum, as, readErr, 0)
}

// readBatches reads src in a goroutine, a few batches ahead, and calls use
// for each batch of up to size packets in order until the source ends or
// use returns false. A packet carrying Decryption Secrets starts a batch
// of its own, so that use can read the keys before any later packet is
// looked at. reuse gives a batch back for reading into (nil: make one). It
// returns the source's read error (not io.EOF).
func readBatches(src capture.Source, size int, reuse func() *batch, use func(*batch) bool) error {
	full := make(chan *batch, 4)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(full)
		var carry *capture.Packet // a secrets packet that starts the next batch
		for {
			b := reuse()
			if b == nil {
				b = &batch{pkts: make([]capture.Packet, 0, size), data: make([]byte, 0, size*1600)}
			}
			b.pkts, b.data, b.err = b.pkts[:0], b.data[:0], nil
			if carry != nil {
				b.pkts = append(b.pkts, *carry)
				b.data = append(b.data, carry.Data...)
				carry = nil
			}
			for len(b.pkts) < size {
				p, err := src.Next()
				if err != nil {
					b.err = err
					break
				}
				if len(p.Secrets) > 0 && len(b.pkts) > 0 {
					c := p // a copy: taking p's address would move every packet to the heap
					c.Secrets, c.Data = bytes.Clone(p.Secrets), bytes.Clone(p.Data)
					carry = &c
					break
				}
				b.pkts = append(b.pkts, p)
				b.data = append(b.data, p.Data...)
			}
			// point each packet at its copy (data may have moved while growing)
			off := 0
			for i := range b.pkts {
				n := len(b.pkts[i].Data)
				if b.pkts[i].Data != nil {
					b.pkts[i].Data = b.data[off : off+n : off+n]
				}
				off += n
			}
			select {
			case full <- b:
			case <-quit:
				return
			}
			if b.err != nil {
				return
			}
		}
	}()
	var readErr error
	for b := range full {
		err := b.err // once used, the batch may be read into again
		if !use(b) {
			break
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	close(quit)
	<-done // the source is ours again (Stats, Err, Close)
	return readErr
}
