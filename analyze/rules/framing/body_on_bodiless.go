package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly/http1"
)

// BodyOnBodilessResponse: a response to HEAD, or a 1xx/204/304, was followed
// by body bytes. The client reads them as the start of the next response.
var BodyOnBodilessResponse = &analyze.Rule{
	ID:       "body-on-bodiless-response",
	Severity: analyze.Error,
	Title:    "response to HEAD, or 1xx/204/304, carried body bytes",
	NewConn:  func(*analyze.Config) any { return bodyOnBodiless{} },
}

type bodyOnBodiless struct{}

var _ analyze.TransactionChecker = bodyOnBodiless{}

func (bodyOnBodiless) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if t.Gap {
		return
	}
	for _, r := range append(append([]*http1.Message(nil), t.Interim...), t.Response) {
		if r == nil || !r.Has(http1.AnomBodyOnBodiless) || r.OverrunBytes <= 0 || r.GapBytes > 0 {
			continue
		}
		why := fmt.Sprintf("a %d response has no body", r.Status)
		if t.Request != nil && t.Request.Method == "HEAD" {
			why = "a response to HEAD has no body"
		}
		ctx.Report(analyze.Finding{
			Transaction: t.Index + 1,
			Time:        r.OverrunPos.Time,
			Frames:      analyze.Frames(r.Start, r.OverrunPos),
			Message:     fmt.Sprintf("%s was followed by %d body bytes, but %s (RFC 9112 §6.3): the client will read them as the next response", analyze.Describe(r), r.OverrunBytes, why),
			Hint:        "do not write a body for HEAD, 1xx, 204 or 304 responses (Content-Length there describes the GET representation, not bytes that follow)",
			Attrs:       map[string]any{"extra_bytes": r.OverrunBytes},
		})
	}
}
