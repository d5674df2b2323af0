package lifecycle

import (
	"fmt"
	"time"

	"github.com/connlint/connlint/analyze"
)

// UnsafeRetry: a non-idempotent request (POST, PATCH, …) was sent again on a
// new connection after the connection carrying the first copy died without
// its response. The client cannot know whether the server acted on the first
// copy, so RFC 9112 §9.3.1 (and RFC 9110 §9.2.2) forbid retrying such
// requests automatically: the action may now have happened twice.
//
// Copies match on client IP, server, method, target and request body length,
// within RetryWindow. The first copy's connection must have ended by FIN or
// RST (not be open at capture end) without a complete response, and have no
// capture gap (the response could be in the hole).
var UnsafeRetry = &analyze.Rule{
	ID:           "unsafe-retry",
	Severity:     analyze.Error,
	Title:        "non-idempotent request retried after its connection died",
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return newUnsafeRetry(cfg) },
	Requires:     []*analyze.Pass{CrossPass},
}

// maxCopiesPerPair bounds the copies remembered per client/server pair.
const maxCopiesPerPair = 64

type retryCopy struct {
	reqCopy
	conn     analyze.ConnRef
	dead     bool // its connection died without its complete response
	diedAt   time.Time
	diedPos  analyze.Frame
	diedHow  string // as the message says it
	diedBy   string // "FIN" or "RST"
	retried  bool   // reported as a retry already
	deadUsed bool   // already named as the first copy of a reported retry
}

type unsafeRetry struct {
	cfg *analyze.Config
	tab *crossTable[[]*retryCopy]
}

func newUnsafeRetry(cfg *analyze.Config) analyze.Aggregate {
	u := &unsafeRetry{cfg: cfg, tab: newCrossTable[[]*retryCopy](cfg)}
	return &crossRule{feed: &crossFeed{}, process: u.process, finish: func(*analyze.Reporter) { u.tab.flush(func(*crossEntry[[]*retryCopy]) {}) }, dropped: u.tab.takeDropped}
}

func (u *unsafeRetry) process(rep *analyze.Reporter, c *crossConn) {
	defer u.tab.expire(c.end, func(*crossEntry[[]*retryCopy]) {})
	if !c.http || len(c.copies) == 0 {
		return
	}
	e := u.tab.get(c.key, c.end, func() []*retryCopy { return nil })
	// forget copies older than the window
	keep := e.val[:0]
	for _, x := range e.val {
		if c.end.Sub(x.start) <= u.cfg.RetryWindow+u.cfg.CrossWindow {
			keep = append(keep, x)
		}
	}
	e.val = keep
	died := c.ended && !c.gap
	how, by := "closed (FIN)", "FIN"
	if c.closeRST {
		how, by = "reset (RST)", "RST"
	}
	for _, rc := range c.copies {
		n := &retryCopy{reqCopy: rc, conn: c.ref}
		if died && !rc.answered {
			n.dead, n.diedAt, n.diedPos, n.diedHow, n.diedBy = true, c.closeAt, c.closePos, how, by
		}
		for _, o := range e.val {
			if o.conn.ID == n.conn.ID || o.method != n.method || o.target != n.target || o.body != n.body {
				continue
			}
			first, retry := o, n
			if n.startOrd < o.startOrd {
				first, retry = n, o
			}
			if !first.dead || first.deadUsed || retry.retried || retry.start.Before(first.diedAt) ||
				retry.start.Sub(first.start) > u.cfg.RetryWindow {
				continue
			}
			first.deadUsed, retry.retried = true, true
			u.report(rep, first, retry)
		}
		e.val = append(e.val, n)
	}
	if len(e.val) > maxCopiesPerPair {
		e.val = append(e.val[:0], e.val[len(e.val)-maxCopiesPerPair:]...)
	}
	u.tab.resize(e, len(e.val))
}

func (u *unsafeRetry) report(rep *analyze.Reporter, first, retry *retryCopy) {
	after := retry.start.Sub(first.start)
	rep.Report(analyze.Finding{
		Conn:        retry.conn,
		Transaction: retry.tx,
		Time:        retry.start,
		Frames:      []analyze.Frame{first.frame, first.diedPos, retry.frame},
		Duration:    after,
		Message: fmt.Sprintf("%s %s (%d-byte body) was sent again on connection %d %s after the first copy (connection %d, transaction %d); that connection was %s without a response, so the server may already have acted on the first copy",
			retry.method, shortTarget(retry.target), retry.body, retry.conn.ID, analyze.Dur(after), first.conn.ID, first.tx, first.diedHow),
		Hint:    "do not resend non-idempotent requests automatically (RFC 9112 §9.3.1); make the operation idempotent (an idempotency key the server deduplicates) or ask the user",
		Related: []analyze.ConnRef{first.conn},
		Attrs: map[string]any{"method": retry.method, "target": retry.target, "body_bytes": retry.body,
			"first_connection": first.conn.ID, "first_transaction": first.tx, "first_close": first.diedBy},
	})
}

func shortTarget(t string) string {
	if len(t) > 80 {
		return t[:77] + "..."
	}
	return t
}
