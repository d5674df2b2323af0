package analyze

import (
	"fmt"

	"github.com/connlint/connlint/reassembly/http1"
)

// RequestAfterClose: a request was sent after "Connection: close" was sent or
// received on the connection (RFC 9112 §9.6).
var RequestAfterClose = &Rule{
	ID:       "request-after-close",
	Severity: Error,
	Title:    "request sent after Connection: close",
	NewConn:  func(*Config) any { return &requestAfterClose{} },
}

type requestAfterClose struct {
	closeAt *http1.Pos // requests starting after this position violate the close
	closeBy string
	closeTx int
}

func (r *requestAfterClose) Transaction(ctx *Ctx, t *http1.Transaction) {
	if t.Gap {
		return
	}
	if q := t.Request; q != nil && r.closeAt != nil && q.Start.Ord > r.closeAt.Ord {
		answered := "the server did not answer it"
		if t.Response != nil {
			answered = "the server answered it anyway"
		}
		ctx.Report(Finding{
			Transaction: t.Index + 1,
			Time:        q.Start.Time,
			Frames:      frames(*r.closeAt, q.Start),
			Duration:    q.Start.Time.Sub(r.closeAt.Time),
			Message:     fmt.Sprintf("%s (transaction %d) was sent after %s in transaction %d; %s", describe(q), t.Index+1, r.closeBy, r.closeTx, answered),
			Hint:        "after Connection: close, open a new connection for the next request (RFC 9112 §9.6); a client must also honour the server's close",
		})
		r.closeAt = nil // report the first violation after each close only
		return
	}
	if q := t.Request; q != nil && q.HasToken("Connection", "close") {
		r.set(q.Last, "the client's own Connection: close", t.Index+1)
	}
	if resp := t.Response; resp != nil && resp.HasToken("Connection", "close") {
		r.set(resp.HeaderEnd, "the server's Connection: close", t.Index+1)
	}
}

func (r *requestAfterClose) set(p http1.Pos, by string, tx int) {
	if r.closeAt == nil || p.Ord < r.closeAt.Ord {
		pp := p
		r.closeAt, r.closeBy, r.closeTx = &pp, by, tx
	}
}
