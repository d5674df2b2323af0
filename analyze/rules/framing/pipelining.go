package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly/http1"
)

// Pipelining: requests were sent before the responses to earlier ones were
// complete (info), safe methods only.
var Pipelining = &analyze.Rule{
	ID:       "pipelining",
	Severity: analyze.Info,
	Title:    "requests were pipelined (idempotent methods only)",
	NewConn:  func(*analyze.Config) any { return &pipelineTracker{unsafe: false} },
}

// PipelinedUnsafeMethod: a non-idempotent request was pipelined, or a request
// was pipelined behind one (RFC 9112 §9.3.2).
var PipelinedUnsafeMethod = &analyze.Rule{
	ID:       "pipelined-unsafe-method",
	Severity: analyze.Error,
	Title:    "non-idempotent request pipelined, or a request pipelined behind one",
	NewConn:  func(*analyze.Config) any { return &pipelineTracker{unsafe: true} },
}

// outstanding is an earlier request whose response may not have been
// complete when a later request was sent.
type outstanding struct {
	tx   int
	req  *http1.Message
	resp *http1.Message // final response when complete, else nil
}

// pipelineTracker serves both rules: unsafe selects which one it reports.
type pipelineTracker struct {
	unsafe bool
	open   []outstanding
	// openBuf backs open while it holds one request: on a connection that
	// does not pipeline, each request's is answered before the next is sent
	// and the list never holds more, so it costs no allocation (issue 15;
	// one element keeps the tracker in the 80-byte size class)
	openBuf [1]outstanding
	// for the info rule: one finding per connection, at End
	count, depth int
	first        *analyze.Finding
}

var (
	_ analyze.TransactionChecker = (*pipelineTracker)(nil)
	_ analyze.EndChecker         = (*pipelineTracker)(nil)
)

const maxOutstanding = 256

// behind reports whether the client sent q before it had o's complete
// response. For a request that never got a (complete) response, only ACKs can
// tell: q is pipelined when the client had received no server byte between
// sending o and sending q. Without that evidence it says no.
func behind(ctx *analyze.Ctx, q *http1.Message, o outstanding) bool {
	if o.resp != nil {
		return ctx.SentBefore(q.Start.Offset, q.Start.Ord, o.resp.Last.Offset, o.resp.Last.Ord)
	}
	aq, ok1 := ctx.ClientAckAt(q.Start.Offset)
	ao, ok2 := ctx.ClientAckAt(o.req.Start.Offset)
	return ok1 && ok2 && aq <= ao
}

func (p *pipelineTracker) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	q := t.Request
	// junk taken as a malformed request has no method to judge, and what
	// it overlapped says nothing about the client's pipelining
	if q == nil || t.Gap || q.Has(http1.AnomJunkRequest) {
		return
	}
	if p.open == nil {
		p.open = p.openBuf[:0]
	}
	// forget requests answered before this one was sent: they cannot overlap later ones either
	keep := p.open[:0]
	for _, o := range p.open {
		if behind(ctx, q, o) {
			keep = append(keep, o)
		}
	}
	p.open = keep
	if len(p.open) > 0 {
		p.pipelined(ctx, t, q)
	}
	var done *http1.Message
	if t.Response != nil && t.Response.End == http1.EndComplete {
		done = t.Response
	}
	if len(p.open) < maxOutstanding {
		p.open = append(p.open, outstanding{tx: t.Index + 1, req: q, resp: done})
	}
}

func (p *pipelineTracker) pipelined(ctx *analyze.Ctx, t *http1.Transaction, q *http1.Message) {
	prev := p.open[len(p.open)-1]
	var unsafeBehind *outstanding
	for i := range p.open {
		if !analyze.Idempotent(p.open[i].req.Method) {
			unsafeBehind = &p.open[i]
		}
	}
	unsafe := !analyze.Idempotent(q.Method) || unsafeBehind != nil
	if p.unsafe != unsafe {
		return
	}
	if p.unsafe {
		var msg string
		if !analyze.Idempotent(q.Method) {
			msg = fmt.Sprintf("%s (transaction %d) is not idempotent and was sent while %s (transaction %d) had no complete response", analyze.Describe(q), t.Index+1, analyze.Describe(prev.req), prev.tx)
		} else {
			msg = fmt.Sprintf("%s (transaction %d) was pipelined behind %s (transaction %d) before its response", analyze.Describe(q), t.Index+1, analyze.Describe(unsafeBehind.req), unsafeBehind.tx)
			prev = *unsafeBehind
		}
		ctx.Report(analyze.Finding{
			Transaction: t.Index + 1,
			Time:        q.Start.Time,
			Frames:      analyze.Frames(prev.req.Start, q.Start),
			Message:     msg + "; if the connection fails the client cannot tell which requests were processed",
			Hint:        "wait for the response before sending a non-idempotent request, and do not pipeline behind one (RFC 9112 §9.3.2)",
			Attrs:       map[string]any{"depth": len(p.open) + 1},
		})
		return
	}
	p.count++
	if d := len(p.open) + 1; d > p.depth {
		p.depth = d
	}
	if p.first == nil {
		p.first = &analyze.Finding{
			Transaction: t.Index + 1,
			Time:        q.Start.Time,
			Frames:      analyze.Frames(prev.req.Start, q.Start),
		}
	}
}

func (p *pipelineTracker) End(ctx *analyze.Ctx) {
	if p.unsafe || p.first == nil {
		return
	}
	f := *p.first
	f.Message = fmt.Sprintf("%s %s pipelined (sent before the previous response was complete), depth up to %d; first at transaction %d", analyze.Plural(p.count, "request"), analyze.WasWere(p.count), p.depth, f.Transaction)
	f.Hint = "pipelining is fragile behind proxies and stalls behind a slow response (head-of-line blocking); prefer several connections or HTTP/2"
	f.Attrs = map[string]any{"pipelined": p.count, "depth": p.depth}
	ctx.Report(f)
}
