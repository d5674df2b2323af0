package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// UnsolicitedResponse: a response arrived with no request outstanding —
// client and server disagree about framing (the desync symptom).
var UnsolicitedResponse = &analyze.Rule{
	ID:       "unsolicited-response",
	Severity: analyze.Error,
	Title:    "response with no request outstanding",
	NewConn:  func(*analyze.Config) any { return &unsolicited{} },
}

type unsolicited struct {
	lastDone *http1.Message
	// junkOrd is where the client last sent bytes that did not parse as a
	// request: the server may well have answered them (typically a 400), so a
	// response after them is not unsolicited.
	junkOrd int64
	held    []analyze.Finding

	// The server acknowledging client bytes the capture does not hold (yet)
	// proves the client sent something the capture lacks — possibly the
	// request a response answers. cliEnd is the end of the client stream
	// seen so far (FIN counted), srvAck the highest server ACK of it;
	// unseenFrom is the Ord since which srvAck > cliEnd (0 when not), and
	// unseen the closed spans [from, to) of such periods (the latest few).
	cliEnd     uint64
	srvAck     uint64
	unseenFrom int64
	unseen     [][2]int64
}

var (
	_ analyze.SegmentChecker     = (*unsolicited)(nil)
	_ analyze.MessageChecker     = (*unsolicited)(nil)
	_ analyze.TransactionChecker = (*unsolicited)(nil)
	_ analyze.EndChecker         = (*unsolicited)(nil)
)

// maxUnseenSpans bounds the remembered periods: a held response is checked
// when its transaction settles, shortly after it started.
const maxUnseenSpans = 16

func (u *unsolicited) Segment(ctx *analyze.Ctx, s *reassembly.Segment) {
	if s.Dir == flow.ClientToServer {
		end := s.Offset + uint64(s.Len)
		if s.Flags.Has(reassembly.FIN) {
			end++
		}
		u.cliEnd = max(u.cliEnd, end)
	} else if s.AckValid {
		u.srvAck = max(u.srvAck, s.AckOffset)
	}
	switch ahead := u.srvAck > u.cliEnd; {
	case ahead && u.unseenFrom == 0:
		u.unseenFrom = s.Ord
	case !ahead && u.unseenFrom != 0:
		if len(u.unseen) == maxUnseenSpans {
			u.unseen = append(u.unseen[:0], u.unseen[1:]...)
		}
		u.unseen = append(u.unseen, [2]int64{u.unseenFrom, s.Ord})
		u.unseenFrom = 0
	}
}

// requestMayBeUnseen reports whether, when the packet at ord was captured, the
// server had acknowledged client bytes the capture did not hold.
func (u *unsolicited) requestMayBeUnseen(ord int64) bool {
	if u.unseenFrom != 0 && ord >= u.unseenFrom {
		return true
	}
	for _, sp := range u.unseen {
		if ord >= sp[0] && ord < sp[1] {
			return true
		}
	}
	return false
}

func (u *unsolicited) Message(ctx *analyze.Ctx, m *http1.Message) {
	if m.Dir == flow.ClientToServer && m.OverrunBytes > 0 && m.OverrunPos.Ord > u.junkOrd {
		u.junkOrd = m.OverrunPos.Ord
	}
}

func (u *unsolicited) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
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
	// The server had acknowledged client data the capture lacks: the
	// response may answer a request lost in that hole (it is declared only
	// later, when client data beyond it arrives).
	if u.requestMayBeUnseen(r.Start.Ord) {
		return
	}
	// Reported at End: a capture that holds no client packet at all
	// (asymmetric routing, one-sided capture) cannot show the requests.
	u.held = append(u.held, analyze.Finding{
		Transaction: t.Index + 1,
		Time:        r.Start.Time,
		Frames:      analyze.Frames(r.Start),
		Message:     fmt.Sprintf("%s arrived with no request outstanding: %s", analyze.Describe(r), u.context()),
		Hint:        "client and server disagree about where a message ends: check the framing (Content-Length/chunked) of the previous messages; a server answering one request several times is the request-smuggling/desync symptom",
	})
}

func (u *unsolicited) End(ctx *analyze.Ctx) {
	if ctx.Conn.Halves[flow.ClientToServer].Segments == 0 || ctx.Conn.OneSided {
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
	return fmt.Sprintf("every earlier request already had its response (the last one, %s, complete at frame %d)", analyze.Describe(u.lastDone), u.lastDone.Last.Frame)
}
