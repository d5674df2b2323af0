package framing

import (
	"fmt"
	"time"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// UnframedPersistentResponse: a response with neither Content-Length nor
// chunked (so it ends only when the server closes) on a connection the server
// keeps open: the client can only wait for a timeout.
var UnframedPersistentResponse = &analyze.Rule{
	ID:       "unframed-persistent-response",
	Severity: analyze.Warning,
	Title:    "response without length on a connection the server keeps open",
	NewConn:  func(*analyze.Config) any { return &unframedPersistent{} },
}

type unframedPersistent struct {
	tx   int
	resp *http1.Message
}

var (
	_ analyze.TransactionChecker = (*unframedPersistent)(nil)
	_ analyze.EndChecker         = (*unframedPersistent)(nil)
)

func (u *unframedPersistent) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	r := t.Response
	if t.Gap || r == nil || r.Framing != http1.FramingClose || r.End == http1.EndRST || r.GapBytes > 0 {
		return
	}
	// only a response that really has no length: not one whose length headers
	// are contradictory (conflicting-framing covers that)
	if _, hasCL := r.Get("Content-Length"); hasCL || framingInDoubt(r) {
		return
	}
	if _, hasTE := r.Get("Transfer-Encoding"); hasTE {
		return
	}
	if t.Request != nil && t.Request.Proto == "HTTP/0.9" {
		return // 0.9 responses are close-delimited by definition
	}
	u.tx, u.resp = t.Index+1, r
}

func (u *unframedPersistent) End(ctx *analyze.Ctx) {
	r := u.resp
	if r == nil {
		return
	}
	c := ctx.Conn
	if c.OneSided {
		// the client side is absent: neither its close nor the request
		// that decides the framing (HEAD, 304) can be seen
		return
	}
	server := &c.Halves[flow.ServerToClient]
	client := &c.Halves[flow.ClientToServer]
	serverEnd := server.FIN
	if serverEnd == nil {
		serverEnd = server.RST
	}
	clientEnd := client.FIN
	if clientEnd == nil {
		clientEnd = client.RST
	}
	var wait time.Duration
	var how string
	var ev []flow.Pos
	switch {
	case clientEnd != nil && clientEnd.Ord > r.Last.Ord && (serverEnd == nil || clientEnd.Ord < serverEnd.Ord) &&
		clientEnd.Time.Sub(r.Last.Time) >= ctx.Config.UnframedIdle:
		wait = clientEnd.Time.Sub(r.Last.Time)
		how = fmt.Sprintf("the client gave up and closed %s after the last byte; the server had not closed", analyze.Dur(wait))
		ev = []flow.Pos{*clientEnd}
	case serverEnd != nil && serverEnd.Time.Sub(r.Last.Time) >= ctx.Config.UnframedIdle:
		wait = serverEnd.Time.Sub(r.Last.Time)
		how = fmt.Sprintf("the server closed only %s after the last byte (an idle timeout), and until then the client could not know the response was complete", analyze.Dur(wait))
		ev = []flow.Pos{*serverEnd}
	case serverEnd == nil && clientEnd == nil && c.Last.Time.Sub(r.Last.Time) >= ctx.Config.UnframedIdle:
		wait = c.Last.Time.Sub(r.Last.Time)
		how = fmt.Sprintf("the connection was still open %s after the last byte when the capture ended", analyze.Dur(wait))
		ev = []flow.Pos{c.Last}
	default:
		return
	}
	ctx.Report(analyze.Finding{
		Transaction: u.tx,
		Time:        r.Last.Time,
		Frames:      analyze.Frames(append([]flow.Pos{r.Start, r.Last}, ev...)...),
		Duration:    wait,
		Message:     fmt.Sprintf("%s has neither Content-Length nor chunked encoding, so it ends only when the server closes; %s", analyze.Describe(r), how),
		Hint:        "send Content-Length or Transfer-Encoding: chunked, or close the connection right after the body (Connection: close)",
	})
}
