package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly"
)

// InconsistentOverlap: retransmitted/overlapping data differs from what was
// first seen at the same sequence numbers.
var InconsistentOverlap = &analyze.Rule{
	ID:       "inconsistent-overlap",
	Severity: analyze.Warning,
	Title:    "retransmitted TCP data differs from the original",
	NewConn:  func(*analyze.Config) any { return inconsistentOverlap{} },
}

type inconsistentOverlap struct{}

var _ analyze.InconsistencyChecker = inconsistentOverlap{}

func (inconsistentOverlap) Inconsistency(ctx *analyze.Ctx, x reassembly.Inconsistency) {
	ctx.Report(analyze.Finding{
		Time:    x.Second.Time,
		Frames:  analyze.Frames(x.First, x.Second),
		Message: fmt.Sprintf("%d bytes at %s stream offset %d differ between frame %d and frame %d; the first copy was kept, as most receivers do", x.Bytes, x.Dir, x.Offset, x.First.Frame, x.Second.Frame),
		Hint:    "two different payloads claimed the same sequence numbers: an on-path injection (the QUANTUM INSERT pattern) or a broken middlebox; compare both frames in Wireshark",
	})
}
