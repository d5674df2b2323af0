package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// RequestAfterClose: a request was sent after "Connection: close" was sent or
// received on the connection (RFC 9112 §9.6).
var RequestAfterClose = &analyze.Rule{
	ID:       "request-after-close",
	Severity: analyze.Error,
	Title:    "request sent after Connection: close",
	NewConn:  func(*analyze.Config) any { return &requestAfterClose{} },
}

type requestAfterClose struct {
	// closeAt: requests sent after this position violate the close (a
	// value, set when closing: no allocation per close, issue 15)
	closeAt flow.Pos
	closing bool
	closeBy string
	closeTx int
	// byServer: closeAt is in the server's stream (the client must have
	// received it), else in the client's own stream.
	byServer bool
}

var _ analyze.TransactionChecker = (*requestAfterClose)(nil)

func (r *requestAfterClose) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	// A capture gap on this transaction makes its pairing uncertain, not the
	// request itself nor the close seen before it: both are in the capture
	// (http-gap-beyond-body.pcap: close at f7, GET /2 at f10, its response
	// lost in a hole). Only whether it was answered is unknown.
	// Junk taken as a malformed request (http1.AnomJunkRequest) is not
	// known to be a request: no finding rests on it.
	if q := t.Request; q != nil && r.closing && !q.Has(http1.AnomJunkRequest) && r.after(ctx, q) {
		answered := "the server did not answer it"
		switch {
		case t.Gap:
			answered = "whether the server answered it is unknown (capture gap)"
		case t.Response != nil:
			answered = "the server answered it anyway"
		}
		ctx.Report(analyze.Finding{
			Transaction: t.Index + 1,
			Time:        q.Start.Time,
			Frames:      analyze.Frames(r.closeAt, q.Start),
			Duration:    q.Start.Time.Sub(r.closeAt.Time),
			Message:     fmt.Sprintf("%s (transaction %d) was sent after %s in transaction %d; %s", analyze.Describe(q), t.Index+1, r.closeBy, r.closeTx, answered),
			Hint:        "after Connection: close, open a new connection for the next request (RFC 9112 §9.6); a client must also honour the server's close",
		})
		// report the first violation after each close only; this transaction
		// may itself carry a new close, recorded below
		r.closing = false
	}
	if q := t.Request; q != nil && q.HasToken("Connection", "close") {
		r.set(q.Last, "the client's own Connection: close", t.Index+1, false)
	}
	if resp := t.Response; resp != nil && resp.HasToken("Connection", "close") {
		r.set(resp.HeaderEnd, "the server's Connection: close", t.Index+1, true)
	}
}

// after reports whether q was sent after the close: after the client's own
// close request, or once the client had received the server's close header
// (its ACKs say so; without ACKs, capture order).
func (r *requestAfterClose) after(ctx *analyze.Ctx, q *http1.Message) bool {
	if !r.byServer {
		return q.Start.Ord > r.closeAt.Ord
	}
	return !ctx.SentBefore(q.Start.Offset, q.Start.Ord, r.closeAt.Offset, r.closeAt.Ord)
}

func (r *requestAfterClose) set(p flow.Pos, by string, tx int, byServer bool) {
	if !r.closing || p.Ord < r.closeAt.Ord {
		r.closeAt, r.closing, r.closeBy, r.closeTx, r.byServer = p, true, by, tx, byServer
	}
}
