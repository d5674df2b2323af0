package framing

import (
	"fmt"
	"strings"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly/http1"
)

// ConflictingFraming: Content-Length with Transfer-Encoding, several
// different Content-Length values, or an invalid one — the shapes request
// smuggling is built from (RFC 9112 §6.3, §11.2).
var ConflictingFraming = &analyze.Rule{
	ID:       "conflicting-framing",
	Severity: analyze.Error,
	Title:    "contradictory or invalid Content-Length/Transfer-Encoding",
	NewConn:  func(*analyze.Config) any { return conflictingFraming{} },
}

type conflictingFraming struct{}

var _ analyze.TransactionChecker = conflictingFraming{}

func (conflictingFraming) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	for _, m := range []*http1.Message{t.Request, t.Response} {
		if m == nil {
			continue
		}
		var why []string
		if m.Has(http1.AnomCLAndTE) {
			why = append(why, fmt.Sprintf("both Content-Length (%s) and Transfer-Encoding (%s)", strings.Join(m.Values("Content-Length"), ", "), strings.Join(m.Values("Transfer-Encoding"), ", ")))
		}
		if m.Has(http1.AnomDuplicateCL) {
			why = append(why, fmt.Sprintf("different Content-Length values (%s)", strings.Join(m.Values("Content-Length"), ", ")))
		}
		if m.Has(http1.AnomInvalidCL) {
			why = append(why, fmt.Sprintf("an invalid Content-Length (%q)", strings.Join(m.Values("Content-Length"), ", ")))
		}
		if m.Has(http1.AnomInvalidTE) {
			why = append(why, fmt.Sprintf("a Transfer-Encoding whose final coding is not chunked (%q)", strings.Join(m.Values("Transfer-Encoding"), ", ")))
		}
		if m.Has(http1.AnomObscuredFraming) {
			why = append(why, "a Content-Length or Transfer-Encoding header folded over two lines (obs-fold) or with whitespace before its colon, which RFC 9112 §5.1–5.2 says to reject")
		}
		if m.Has(http1.AnomChunkSizeOverflow) {
			// the chunked counterpart of an overflowing Content-Length: a
			// parser that wraps (2^64 -> 0) or saturates ends the body elsewhere
			why = append(why, "an invalid chunk size (a chunk-size line whose value does not fit in 63 bits)")
		}
		if len(why) == 0 {
			continue
		}
		ctx.Report(analyze.Finding{
			Transaction: t.Index + 1,
			Time:        m.Start.Time,
			Frames:      analyze.Frames(m.Start, m.HeaderEnd),
			Message:     fmt.Sprintf("%s has %s: two parsers can disagree where it ends (request-smuggling shape)", analyze.Describe(m), strings.Join(why, " and ")),
			Hint:        "send exactly one framing: a single valid Content-Length, or Transfer-Encoding: chunked alone; a proxy in front must reject such messages (RFC 9112 §6.3)",
		})
	}
}
