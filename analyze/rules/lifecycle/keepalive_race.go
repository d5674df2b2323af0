package lifecycle

import (
	"fmt"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// KeepAliveRace: a client sent a request on an idle persistent connection
// just as the server's idle timeout closed it (RFC 9112 §9.3, §9.5): the
// server's FIN was already on the way when the request left, or the request
// was answered by FIN/RST and nothing else. The request is lost; a client may
// retry it automatically only when it is idempotent (RFC 9112 §9.3.1).
var KeepAliveRace = &analyze.Rule{
	ID:       "keepalive-race",
	Severity: analyze.Warning,
	Title:    "request sent into the server's idle-timeout close",
	NewConn:  func(*analyze.Config) analyze.Checker { return &keepaliveRace{} },
}

// raceAnswer bounds how soon after a request the server's FIN/RST must come to
// count as "answered by" it: the kernel of a server that already closed the
// socket answers within a round trip, while a server that took the request and
// failed later is another problem (no response, not a race). The handshake
// RTT, when known, widens it.
const raceAnswer = 500 * time.Millisecond

type keepaliveRace struct {
	prev        *http1.Message // last complete response
	prevTx      int
	prevKA      analyze.KeepAlive
	persists    bool // prev left the connection open by its headers
	finAckValid bool // finAck (below) is set

	cand   *http1.Message // first request after idle that got no response
	candTx int
	idle   time.Duration
	ka     analyze.KeepAlive
	lost   int // requests lost the same way (cand and any after it)

	// The client-stream bytes the server's FIN acknowledged: a request
	// starting at or beyond it had not reached the server when it closed,
	// wherever the capture was taken (the request crossed the FIN).
	// finAckValid sits beside persists: one word for both (issue 15: a
	// checker per connection, smaller size class).
	finAck uint64
}

var (
	_ analyze.SegmentChecker     = (*keepaliveRace)(nil)
	_ analyze.TransactionChecker = (*keepaliveRace)(nil)
	_ analyze.EndChecker         = (*keepaliveRace)(nil)
)

func (k *keepaliveRace) Segment(ctx *analyze.Ctx, s *reassembly.Segment) {
	if s.Dir == flow.ServerToClient && s.Flags.Has(reassembly.FIN) && !k.finAckValid && s.AckValid && s.Flags.Has(reassembly.ACK) {
		k.finAck, k.finAckValid = s.AckOffset, true
	}
}

func (k *keepaliveRace) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if t.Gap {
		k.prev, k.cand = nil, nil
		return
	}
	if q := t.Request; q != nil && t.Response == nil {
		if k.cand != nil {
			k.lost++
		} else if k.prev != nil && k.persists && q.Start.Ord > k.prev.Last.Ord {
			k.cand, k.candTx, k.lost = q, t.Index+1, 1
			k.idle, k.ka = q.Start.Time.Sub(k.prev.Last.Time), k.prevKA
		}
	}
	if r := t.Response; r != nil && r.End == http1.EndComplete {
		k.prev, k.prevTx = r, t.Index+1
		k.prevKA = analyze.ParseKeepAlive(r)
		k.persists = analyze.OffersPersistence(r)
		if t.Request != nil && t.Request.HasToken("Connection", "close") {
			k.persists = false // request-after-close territory
		}
	}
}

func (k *keepaliveRace) End(ctx *analyze.Ctx) {
	q := k.cand
	if q == nil {
		return
	}
	c := ctx.Conn
	if hasGapBefore(c, q.Start.Ord) || c.OneSided {
		return // the server's side of the race is not (all) in the capture
	}
	srv := &c.Halves[flow.ServerToClient]
	sc := ctx.Close().Side[flow.ServerToClient]
	if sc == nil || sc.Ord < k.prev.Last.Ord {
		return
	}
	if cc := ctx.Close().Side[flow.ClientToServer]; cc != nil && cc.Ord < sc.Ord && cc.Ord < q.Start.Ord {
		return // the client closed first: not the server's timeout
	}
	how := "FIN"
	if sc == srv.RST {
		how = "RST"
	}
	var what, race string
	var gap time.Duration
	var rst flow.Pos // an RST the message cites besides sc
	if sc.Ord < q.Start.Ord {
		race = "closed-before-request"
		gap = q.Start.Time.Sub(sc.Time)
		what = fmt.Sprintf("the server had already closed it: its %s (frame %d) came %s after the last response and %s before the request",
			how, sc.Frame, analyze.Dur(sc.Time.Sub(k.prev.Last.Time)), analyze.Dur(gap))
		if srv.RST != nil && srv.RST != sc && srv.RST.Ord > q.Start.Ord {
			what += fmt.Sprintf("; the request was answered by RST (frame %d)", srv.RST.Frame)
			rst = *srv.RST
		}
	} else if how == "FIN" && k.finAckValid && k.finAck <= q.Start.Offset {
		race = "crossed-close"
		gap = sc.Time.Sub(q.Start.Time)
		what = fmt.Sprintf("the request crossed the server's FIN (frame %d, %s later), which did not acknowledge it: the server was already closing", sc.Frame, analyze.Dur(gap))
		if srv.RST != nil && srv.RST.Ord > q.Start.Ord {
			what += fmt.Sprintf(", and its RST (frame %d) answered the request", srv.RST.Frame)
			rst = *srv.RST
		}
	} else {
		gap = sc.Time.Sub(q.Start.Time)
		window := raceAnswer
		if c.SYN.Frame != 0 && c.HandshakeACK.Frame != 0 {
			window += 2 * c.HandshakeACK.Time.Sub(c.SYN.Time)
		}
		if gap > window {
			return
		}
		race = "answered-by-close"
		what = fmt.Sprintf("the server answered it with %s (frame %d) %s later and no response: it was closing the idle connection", how, sc.Frame, analyze.Dur(gap))
	}
	timeout := "the server announced no Keep-Alive timeout"
	attrs := map[string]any{"idle_ms": analyze.MS(k.idle), "lost_requests": k.lost, "race": race, "server_close": how}
	if k.ka.HasTimeout {
		timeout = fmt.Sprintf("the server had announced Keep-Alive: timeout=%d", int(k.ka.Timeout/time.Second))
		attrs["announced_timeout_s"] = int(k.ka.Timeout / time.Second)
	}
	lost := ""
	if k.lost > 1 {
		lost = fmt.Sprintf(" (%d requests lost this way)", k.lost)
	}
	ctx.Report(analyze.Finding{
		Transaction: k.candTx,
		Time:        q.Start.Time,
		Frames:      analyze.SortedFrames(k.prev.Last, *sc, q.Start, rst),
		Duration:    k.idle,
		Message: fmt.Sprintf("%s (transaction %d) was sent after %s idle on a persistent connection; %s; %s. The request got no response%s and must be retried on a new connection",
			analyze.Describe(q), k.candTx, analyze.Dur(k.idle), what, timeout, lost),
		Hint:  "clients: close idle connections before the server's keep-alive timeout (announced by Keep-Alive: timeout=) and retry idempotent requests that meet a close; servers: announce the timeout so clients can expire connections first",
		Attrs: attrs,
	})
}

// hasGapBefore reports whether the capture misses bytes before capture
// ordinal ord (or lost track of how many holes there were).
func hasGapBefore(c *reassembly.Conn, ord int64) bool {
	if c.GapsDropped > 0 {
		return true
	}
	for _, g := range c.Gaps {
		if g.After.Ord <= ord {
			return true
		}
	}
	return false
}
