package lifecycle

import (
	"fmt"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// KeepAliveMisuse reports contradictions around the Keep-Alive header that a
// person can act on. It is deliberately narrow: the ordinary headers browsers
// and servers send (Connection: keep-alive on HTTP/1.1, Keep-Alive: 115 on a
// request, Keep-Alive: timeout=5, max=100 named by Connection) are not
// findings. It fires on:
//
//   - a server that closed an idle connection before the timeout= it had
//     announced (clients that trust it will race the close, see keepalive-race);
//   - a client that sent more requests on a connection than the max= the
//     server announced;
//   - a Keep-Alive header that the Connection header does not name, so it is
//     not hop-by-hop and a proxy forwards it (RFC 9110 §7.6.1);
//   - a client that reused a connection after an HTTP/1.0 response without
//     Connection: keep-alive, which (RFC 9112 §9.3) means the server closes.
var KeepAliveMisuse = &analyze.Rule{
	ID:       "keepalive-misuse",
	Severity: analyze.Info,
	Title:    "Keep-Alive announcement contradicted by what happened",
	NewConn:  func(*analyze.Config) analyze.Checker { return &keepaliveMisuse{} },
}

type keepaliveMisuse struct {
	// the flags first, in one word (issue 15: a checker per connection)
	headerReported [2]bool
	maxSet         bool // a max= announcement is in force (below)
	maxReported    bool // a request beyond it was reported
	reported10     bool // the reuse after noKA10 was reported
	uncertain      bool // a gap: say nothing about idle closes

	// The last complete response, its announcement and its transaction.
	last   *http1.Message
	lastKA analyze.KeepAlive
	lastTx int
	// lastReq is where the latest request started (idle means: none after last).
	lastReq flow.Pos

	// max=: requests with a 0-based index above maxIndex exceed the announcement.
	maxIndex int
	maxFrom  flow.Pos
	maxAnnTx int
	maxAnn   int

	// An HTTP/1.0 response that did not grant persistence.
	noKA10   *http1.Message
	noKA10Tx int
}

var (
	_ analyze.MessageChecker     = (*keepaliveMisuse)(nil)
	_ analyze.TransactionChecker = (*keepaliveMisuse)(nil)
	_ analyze.EndChecker         = (*keepaliveMisuse)(nil)
)

func (k *keepaliveMisuse) Message(ctx *analyze.Ctx, m *http1.Message) {
	d := m.Dir
	if k.headerReported[d] || !hasHeader(m, "Keep-Alive") || m.HasToken("Connection", "keep-alive") {
		return
	}
	k.headerReported[d] = true
	conn := "it has no Connection header"
	if v := m.Values("Connection"); len(v) > 0 {
		conn = fmt.Sprintf("Connection: %s does not name it", strings.Join(v, ", "))
	}
	v, _ := m.Get("Keep-Alive")
	ctx.Report(analyze.Finding{
		Time:    m.Start.Time,
		Frames:  analyze.Frames(m.Start),
		Message: fmt.Sprintf("%s carries Keep-Alive: %s but %s: the header is not hop-by-hop then, a proxy forwards it to the next hop and the parameters mean nothing on this connection", analyze.Describe(m), v, conn),
		Hint:    "send Keep-Alive only together with Connection: keep-alive (RFC 9110 §7.6.1: hop-by-hop fields must be named in Connection), or drop it",
		Attrs:   map[string]any{"kind": "not-hop-by-hop", "connection": strings.Join(m.Values("Connection"), ", ")},
	})
}

func hasHeader(m *http1.Message, name string) bool {
	_, ok := m.Get(name)
	return ok
}

func (k *keepaliveMisuse) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if t.Gap {
		k.uncertain = true
		k.noKA10, k.maxSet = nil, false
		return
	}
	if q := t.Request; q != nil {
		k.lastReq = q.Start
		if k.maxSet && !k.maxReported && t.Index > k.maxIndex {
			k.maxReported = true
			ctx.Report(analyze.Finding{
				Transaction: t.Index + 1,
				Time:        q.Start.Time,
				Frames:      analyze.Frames(k.maxFrom, q.Start),
				Message: fmt.Sprintf("%s is request %d on this connection, but the server's Keep-Alive: max=%d in response %d allowed only %s after it",
					analyze.Describe(q), t.Index+1, k.maxAnn, k.maxAnnTx, analyze.Plural(int(k.maxAnn), "request")),
				Hint:  "count requests against the server's announced max= and open a new connection when it is used up; a server announcing max= should close with Connection: close on the last one",
				Attrs: map[string]any{"kind": "beyond-max", "max": k.maxAnn, "announced_in_tx": k.maxAnnTx},
			})
		}
		if r := k.noKA10; r != nil && !k.reported10 && q.Start.Ord > r.HeaderEnd.Ord {
			k.reported10 = true
			ctx.Report(analyze.Finding{
				Transaction: t.Index + 1,
				Time:        q.Start.Time,
				Frames:      analyze.Frames(r.Start, q.Start),
				Duration:    q.Start.Time.Sub(r.Last.Time),
				Message: fmt.Sprintf("%s (transaction %d) reused the connection after an HTTP/1.0 %s in transaction %d that did not carry Connection: keep-alive, so the server had not agreed to keep it open",
					analyze.Describe(q), t.Index+1, analyze.Describe(r), k.noKA10Tx),
				Hint:  "an HTTP/1.0 response without Connection: keep-alive ends the connection (RFC 9112 §9.3): open a new one; a server that does keep it open should say Connection: keep-alive",
				Attrs: map[string]any{"kind": "http10-reuse", "response_tx": k.noKA10Tx, "status": r.Status},
			})
		}
	}
	r := t.Response
	if r == nil || r.End != http1.EndComplete {
		return
	}
	k.last, k.lastTx = r, t.Index+1
	k.lastKA = analyze.ParseKeepAlive(r)
	if k.lastKA.HasMax && !r.HasToken("Connection", "close") {
		k.maxSet, k.maxIndex, k.maxFrom, k.maxAnnTx, k.maxAnn = true, t.Index+k.lastKA.Max, r.Start, t.Index+1, k.lastKA.Max
	}
	if r.Major == 1 && r.Minor == 0 && !r.HasToken("Connection", "keep-alive") && !r.HasToken("Connection", "close") {
		// an explicit close is request-after-close's case; this is the implicit one
		k.noKA10, k.noKA10Tx = r, t.Index+1
	} else {
		k.noKA10 = nil
	}
}

func (k *keepaliveMisuse) End(ctx *analyze.Ctx) {
	r := k.last
	if r == nil || k.uncertain || !k.lastKA.HasTimeout || r.HasToken("Connection", "close") {
		return
	}
	c := ctx.Conn
	if len(c.Gaps) > 0 || c.GapsDropped > 0 {
		return
	}
	sc := ctx.Close().Side[flow.ServerToClient]
	if sc == nil || sc.Ord < r.Last.Ord || k.lastReq.Ord > r.Last.Ord {
		return // the server did not close, or a request was outstanding: not idle
	}
	if cc := ctx.Close().Side[flow.ClientToServer]; cc != nil && cc.Ord < sc.Ord {
		return // the client closed first
	}
	idle := sc.Time.Sub(r.Last.Time)
	if idle+ctx.Config.KeepAliveSlack >= k.lastKA.Timeout {
		return
	}
	how := "FIN"
	if c.Halves[flow.ServerToClient].RST == sc {
		how = "RST"
	}
	maxText := ""
	if k.lastKA.HasMax {
		maxText = fmt.Sprintf(", max=%d", k.lastKA.Max)
	}
	ctx.Report(analyze.Finding{
		Transaction: k.lastTx,
		Time:        sc.Time,
		Frames:      analyze.Frames(r.Start, *sc),
		Duration:    idle,
		Message: fmt.Sprintf("the server announced Keep-Alive: timeout=%d%s in %s (transaction %d) but closed the idle connection (%s) after %s, before that timeout: a client trusting the announcement would send its next request into the close",
			int(k.lastKA.Timeout/time.Second), maxText, analyze.Describe(r), k.lastTx, how, analyze.Dur(idle)),
		Hint: "announce the timeout the server really applies (e.g. Apache KeepAliveTimeout, nginx keepalive_timeout's second argument), or stop announcing one",
		Attrs: map[string]any{"kind": "early-close", "idle_ms": analyze.MS(idle),
			"announced_timeout_s": int(k.lastKA.Timeout / time.Second), "server_close": how},
	})
}
