package analyze

import (
	"fmt"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// UnsolicitedResponse: a response arrived with no request outstanding —
// client and server disagree about framing (the desync symptom).
var UnsolicitedResponse = &Rule{
	ID:       "unsolicited-response",
	Severity: Error,
	Title:    "response with no request outstanding",
	NewConn:  func(*Config) any { return &unsolicited{} },
}

type unsolicited struct {
	lastDone *http1.Message
	// junkOrd is where the client last sent bytes that did not parse as a
	// request: the server may well have answered them (typically a 400), so a
	// response after them is not unsolicited.
	junkOrd int64
	held    []Finding
}

func (u *unsolicited) Message(ctx *Ctx, m *http1.Message) {
	if m.Dir == http1.ClientToServer && m.OverrunBytes > 0 && m.OverrunPos.Ord > u.junkOrd {
		u.junkOrd = m.OverrunPos.Ord
	}
}

func (u *unsolicited) Transaction(ctx *Ctx, t *http1.Transaction) {
	if !t.Unsolicited || t.Response == nil || t.Gap {
		if t.Response != nil && t.Request != nil {
			u.lastDone = t.Response
		}
		return
	}
	r := t.Response
	if u.junkOrd != 0 && u.junkOrd < r.Start.Ord {
		return
	}
	// Reported at End: a capture that holds no client packet at all
	// (asymmetric routing, one-sided capture) cannot show the requests.
	u.held = append(u.held, Finding{
		Transaction: t.Index + 1,
		Time:        r.Start.Time,
		Frames:      frames(r.Start),
		Message:     fmt.Sprintf("%s arrived with no request outstanding: %s", describe(r), u.context()),
		Hint:        "client and server disagree about where a message ends: check the framing (Content-Length/chunked) of the previous messages; a server answering one request several times is the request-smuggling/desync symptom",
	})
}

func (u *unsolicited) End(ctx *Ctx) {
	if ctx.Conn.Halves[reassembly.ClientToServer].Segments == 0 {
		return
	}
	for _, f := range u.held {
		ctx.Report(f)
	}
}

func (u *unsolicited) context() string {
	if u.lastDone == nil {
		return "no request had been seen on the connection"
	}
	return fmt.Sprintf("every earlier request already had its response (the last one, %s, complete at frame %d)", describe(u.lastDone), u.lastDone.Last.Frame)
}

// InconsistentOverlap: retransmitted/overlapping data differs from what was
// first seen at the same sequence numbers.
var InconsistentOverlap = &Rule{
	ID:       "inconsistent-overlap",
	Severity: Warning,
	Title:    "retransmitted TCP data differs from the original",
	NewConn:  func(*Config) any { return inconsistentOverlap{} },
}

type inconsistentOverlap struct{}

func (inconsistentOverlap) Inconsistency(ctx *Ctx, x reassembly.Inconsistency) {
	ctx.Report(Finding{
		Time:    x.Second.Time,
		Frames:  frames(x.First, x.Second),
		Message: fmt.Sprintf("%d bytes at %s stream offset %d differ between frame %d and frame %d; the first copy was kept, as most receivers do", x.Bytes, x.Dir, x.Offset, x.First.Frame, x.Second.Frame),
		Hint:    "two different payloads claimed the same sequence numbers: an on-path injection (the QUANTUM INSERT pattern) or a broken middlebox; compare both frames in Wireshark",
	})
}
