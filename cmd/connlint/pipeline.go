package main

import (
	"errors"
	"io"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// result is what one analysis run produced, for the renderers.
type result struct {
	inputs  []string
	summary *analyze.Summary
	// readErr is the damage met while reading (nil when every input was read to its end).
	readErr error
}

// pipeline runs packets from src through reassembly into the engine. It
// returns when the source is exhausted (or interrupted) and everything is
// flushed; tick, when set, is called about every 4096 packets.
func pipeline(src capture.Source, eng *analyze.Engine, opts reassembly.Options, tick func()) *result {
	opts.Consumers = eng.HTTP1Consumers(http1.Options{})
	asm := reassembly.NewAssembler(eng, opts)
	var ord int64
	var readErr error
	for {
		p, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		ord++
		asm.Packet(p.LinkType, p.Data, flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: ord})
		if tick != nil && ord&4095 == 0 {
			tick()
		}
	}
	asm.Close()
	sum := eng.Close()
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
	return &result{inputs: src.Inputs(), summary: sum, readErr: readErr}
}

// msf converts a duration to milliseconds for JSON, rounded to 0.1 µs.
func msf(d time.Duration) float64 {
	return float64(d.Round(100*time.Nanosecond)) / float64(time.Millisecond)
}
