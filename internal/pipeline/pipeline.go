// Package pipeline runs packets from a capture source through reassembly
// into the analysis engine: the one path every analysing command takes.
package pipeline

import (
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
}

// Run reads src to its end (or until it is interrupted or o.Stop says so),
// flushes every connection and the cross-connection rules, and returns the
// summary with the capture statistics filled in.
func Run(src capture.Source, o Options) *render.Result {
	eng := analyze.NewEngine(o.Config, suite.Rules, o.Sink)
	asmOpts := o.Assembler
	asmOpts.Consumers = eng.HTTP1Consumers(http1.Options{})
	asm := reassembly.NewAssembler(eng, asmOpts)
	var ord int64
	var readErr error
	var first, last time.Time // the summary spans every packet read, tracked or not
	for {
		p, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		if first.IsZero() || p.Time.Before(first) {
			first = p.Time
		}
		if p.Time.After(last) {
			last = p.Time
		}
		ord++
		asm.Packet(p.LinkType, p.Data, flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: ord})
		if o.Tick != nil && ord&4095 == 0 {
			o.Tick()
		}
		if o.Stop != nil && o.Stop() {
			break
		}
	}
	asm.Close()
	sum := eng.Close()
	if !first.IsZero() {
		sum.Start, sum.End = first, last
	}
	as := asm.Stats()
	sum.Packets, sum.NonTCP, sum.Undecodable = as.Packets, as.NonTCP, as.Undecodable
	sum.EvictedFull, sum.EvictedIdle, sum.OutOfOrderDropped = as.EvictedFull, as.EvictedIdle, as.OutOfOrderDropped
	cs := src.Stats()
	sum.Filtered = cs.Filtered
	if cs.Live {
		sum.KernelReceived, sum.KernelDropped, sum.IfaceDropped = cs.KernelReceived, cs.KernelDropped, cs.IfaceDropped
	}
	if readErr == nil {
		readErr = src.Err()
	}
	return &render.Result{Inputs: src.Inputs(), Summary: sum, ReadErr: readErr}
}
