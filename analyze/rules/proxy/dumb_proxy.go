package proxy

import (
	"fmt"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// DumbProxyKeepAlive is the Keep-Alive hang of RFC 9112 appendix C.2.2
// (RFC 2068 §19.7.1): an HTTP/1.0 client asks its proxy for
// "Connection: Keep-Alive"; a proxy that does not understand Connection
// relays it verbatim; the origin grants persistence and keeps its connection
// open after the response; the proxy, which only knows "the response ends
// when the origin closes", never finishes; the client, told the connection
// persists, waits — for the rest of the response or for an answer to its
// next request — until someone times out.
//
// Two legs in the capture: pair the client's transaction A with the proxy's
// upstream copy B (proxy_legs.go) and require
//
//   - B still carries the keep-alive (Connection or Proxy-Connection token)
//     that A carried: relayed verbatim;
//   - B's response is complete and the upstream connection was not closed
//     within DumbProxyMinHang of it: the origin kept it open;
//   - the client leg stalled for at least DumbProxyMinHang: either A's
//     response never reached the client or reached it that much after the
//     origin sent it (a proxy that buffers until close), or the client's next
//     request on the connection got no answer, or got it that late.
//
// The hang is measured from when the client could have had its answer (the
// origin's last response byte, or the next request's last byte) to when the
// stall ended: the answer arrived, or the first FIN/RST on the client leg
// (who sent it is who gave up), or the end of the capture.
//
// One leg in the capture (at the origin): a request that came through a
// proxy (Via, X-Forwarded-For, Forwarded, or a Proxy-Connection header,
// which only a client-to-proxy hop may carry) and still carries
// Proxy-Connection, or Connection: Keep-Alive on HTTP/1.0, tells that the
// proxy in front did not strip them. That is the precondition of the hang,
// not the hang itself, and is reported at severity warning. Absolute-form
// requests are the client→proxy leg, where Proxy-Connection is legitimate;
// CONNECT tunnels are not HTTP and are never looked at; responses are not
// looked at (a Via on a response is how proxies should behave).
var DumbProxyKeepAlive = &analyze.Rule{
	ID:       "dumb-proxy-keepalive",
	Severity: analyze.Error,
	Title:    "Keep-Alive relayed by a dumb proxy: the client hangs",
	Requires: []*analyze.Pass{LegsPass},
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate {
		return &dumbProxy{minHang: cfg.DumbProxyMinHang, maxShown: max(cfg.CrossMaxEntries, 1), shown: map[*legConn]bool{}}
	},
}

type dumbProxy struct {
	minHang time.Duration
	// shown: connections that got their one-leg warning (one per
	// connection). Bounded by maxShown: when full it is emptied, and a
	// connection still in the store after that could be warned twice.
	shown    map[*legConn]bool
	maxShown int
}

var _ analyze.Aggregate = (*dumbProxy)(nil)

func (d *dumbProxy) Conn(r *analyze.Reporter, _ *analyze.ConnSummary) { d.Flush(r) }

// Flush looks at what LegsPass released (it is called for each
// summary, and once at the end).
func (d *dumbProxy) Flush(r *analyze.Reporter) {
	for _, ev := range legsOf(r) {
		if ev.b != nil {
			d.pair(r, ev.a, ev.b)
		} else {
			d.single(r, ev.a)
		}
	}
}

// keepAliveAsked reports whether m asks for persistence the 1.0 way.
func keepAliveAsked(m *legMsg) bool {
	if m.connHas("keep-alive") {
		return true
	}
	if f, ok := m.get("Proxy-Connection"); ok {
		for t := range http1.HeaderTokens(f.value) {
			if strings.EqualFold(t, "keep-alive") {
				return true
			}
		}
	}
	return false
}

func (d *dumbProxy) pair(r *analyze.Reporter, a, b *legTx) {
	if h := d.evaluate(a, b); h != nil {
		d.report(r, h)
	}
}

// stallKind is how the client leg stalled.
type stallKind uint8

const (
	stallLost      stallKind = iota // the response never reached the client
	stallHeld                       // the proxy held the response until the hang ended
	stallNextLost                   // the client's next request got no answer
	stallNextLate                   // the client's next request waited that long
	stallWaitClose                  // the client, told the connection persists, waited until the proxy closed it after the origin did
)

// dumbProxyCloseFollow is how soon after the origin's close upstream the
// proxy's close of the client leg must come for the first to have caused
// the second (at least; a few client-leg round trips when the capture point
// is away from the proxy). A proxy closing on its own idle timer closes
// independently of the origin's: seconds apart, or before it.
const dumbProxyCloseFollow = 50 * time.Millisecond

// hang is a client leg stalled behind a keep-alive relayed to an origin
// that kept its connection open: pair (a, b), the transaction that
// stalled, from start to end. side is who ended it by closing (flow.Dir),
// -1 when the answer came (closed still set) or when nothing ended it
// before the capture did (closed unset).
type hang struct {
	a, b       *legTx
	stalled    *legTx
	kind       stallKind
	start, end legPos
	side       int
	closed     bool
}

// evaluate decides whether pair (a, b) shows the dumb-proxy hang; nil when
// it does not.
func (d *dumbProxy) evaluate(a, b *legTx) *hang {
	if !keepAliveAsked(&a.req) || !keepAliveAsked(&b.req) || !b.hasResp || !b.respComplete {
		return nil
	}
	// the origin kept its connection open after the response
	up := b.conn
	if p, _, ok := up.closeAfter(b.respEnd.t); ok && p.t.Sub(b.respEnd.t) < d.minHang {
		return nil
	}
	if up.end == reassembly.EndRefused {
		return nil
	}
	cl := a.conn
	h := &hang{a: a, b: b, stalled: a}
	var answered *legPos
	switch {
	case !a.hasResp:
		h.kind, h.start = stallLost, b.respEnd
	case a.respStart.t.Sub(b.respEnd.t) >= d.minHang:
		h.kind, h.start = stallHeld, b.respEnd
		answered = &a.respStart
	default:
		// the response went through; did the client's next request hang?
		var next *legTx
		for _, t := range cl.txs {
			if t.index == a.index+1 {
				next = t
			}
		}
		if next == nil {
			return d.waitClose(a, b)
		}
		if next.gap {
			return nil
		}
		if next.hasResp && next.respStart.t.Sub(next.reqEnd.t) < d.minHang {
			return nil
		}
		h.kind, h.stalled, h.start = stallNextLost, next, next.reqEnd
		if next.hasResp {
			h.kind = stallNextLate
			answered = &next.respStart
		}
	}
	// a client leg already closing before the stall began is some other story
	if p, _, ok := cl.closeAfter(time.Time{}); ok && p.t.Before(h.start.t) {
		return nil
	}
	// the stall ends with the answer, the first close on the client leg, or the capture
	h.end, h.side, h.closed = cl.closeAfter(h.start.t)
	if answered != nil && (!h.closed || answered.ord < h.end.ord) {
		h.end, h.side, h.closed = *answered, -1, true
	}
	if !h.closed {
		h.end = cl.last
	}
	if h.end.t.Sub(h.start.t) < d.minHang {
		return nil
	}
	return h
}

// waitClose is the hang without a next request: the response reached the
// client, which asked for persistence and was granted it, so it kept the
// connection; the proxy, which delimits responses by the origin's close,
// closed the client leg only when the origin's idle timer closed the
// upstream one. Required: the origin closed upstream first (its FIN or
// RST); the proxy's close of the client leg followed within
// dumbProxyCloseFollow (or three client-leg round trips); the client had
// not closed before; and the wait from the last response byte is at least
// DumbProxyMinHang. A proxy closing the idle client leg on its own
// schedule (haproxy's timeout http-keep-alive) closes apart from the
// origin, usually before it: silent.
func (d *dumbProxy) waitClose(a, b *legTx) *hang {
	cl, up := a.conn, b.conn
	if !a.hasResp || !a.respComplete || cl.oneSided || up.oneSided {
		return nil
	}
	oc, oside, ok := up.closeAfter(b.respEnd.t)
	if !ok || oside != int(flow.ServerToClient) {
		return nil // the origin did not close first: the proxy gave up on it, or nobody closed
	}
	pc, pside, ok := cl.closeAfter(time.Time{})
	if !ok || pside != int(flow.ServerToClient) || pc.ord < oc.ord || pc.t.Before(a.respEnd.t) {
		return nil // the client closed first, or the proxy closed before the origin did
	}
	if pc.t.Sub(oc.t) > max(dumbProxyCloseFollow, 3*cl.rtt) {
		return nil // unrelated closes: the proxy's own timer
	}
	h := &hang{a: a, b: b, stalled: a, kind: stallWaitClose, start: a.respEnd, end: pc, side: pside, closed: true}
	if h.end.t.Sub(h.start.t) < d.minHang {
		return nil
	}
	return h
}

// report words the finding for h.
func (d *dumbProxy) report(r *analyze.Reporter, h *hang) {
	a, b, cl, up := h.a, h.b, h.a.conn, h.b.conn
	var what string
	switch h.kind {
	case stallLost:
		what = fmt.Sprintf("the response the origin finished at frame %d never reached the client", b.respEnd.frame.Frame)
	case stallHeld:
		what = fmt.Sprintf("the proxy held the response the origin finished at frame %d", b.respEnd.frame.Frame)
	case stallNextLost:
		what = fmt.Sprintf("the client's next request on the connection (%s %s, transaction %d) got no answer", h.stalled.method, legShort(h.stalled.target), h.stalled.index)
	case stallNextLate:
		what = fmt.Sprintf("the client's next request on the connection (%s %s, transaction %d) waited", h.stalled.method, legShort(h.stalled.target), h.stalled.index)
	case stallWaitClose:
		what = fmt.Sprintf("the client got the response (last byte frame %d) on a connection it was told persists, and waited for it to end", a.respEnd.frame.Frame)
	}
	hang := h.end.t.Sub(h.start.t)
	attrs := map[string]any{
		"client_conn": cl.ref.ID,
		"stalled_tx":  int(h.stalled.index),
		"hang_s":      hang.Seconds(),
		"proxy":       a.conn.ref.Server.String(),
		"proxy_out":   b.conn.ref.Client.String(),
		"origin":      b.conn.ref.Server.String(),
		"origin_conn": b.conn.ref.ID,
		"origin_tx":   int(b.index),
		"client_tx":   int(a.index),
	}
	how := ""
	switch {
	case h.side == int(flow.ClientToServer):
		how = "until the client gave up"
		if cl.rst[0].set() && cl.rst[0] == h.end {
			how += " (RST)"
		}
	case h.side == int(flow.ServerToClient):
		how = "until the proxy closed the client's connection"
		if cl.rst[1].set() && cl.rst[1] == h.end {
			how += " (RST: the request was still unread)"
		}
		if oc, oside, ok := up.closeAfter(b.respEnd.t); ok && oc.ord <= h.end.ord {
			if oside == int(flow.ServerToClient) {
				how += fmt.Sprintf(", %s after the origin closed its idle connection (frame %d, %s after the response: its keep-alive timeout)",
					analyze.DurCoarse(h.end.t.Sub(oc.t)), oc.frame.Frame, analyze.DurCoarse(oc.t.Sub(b.respEnd.t)))
				attrs["origin_keepalive_s"] = oc.t.Sub(b.respEnd.t).Seconds()
			} else {
				how += " (the proxy gave up on the origin)"
			}
		}
	case h.closed:
		how = "before the proxy finally answered"
	default:
		how = "and was still waiting when the capture ended"
	}
	gaveUp := map[int]string{0: "client", 1: "proxy", -1: "nobody (answered late)"}[h.side]
	if !h.closed {
		gaveUp = "capture-end"
	}
	attrs["gave_up"] = gaveUp
	ka := "Connection: Keep-Alive"
	if !b.req.connHas("keep-alive") {
		ka = "Proxy-Connection: Keep-Alive"
	}
	// about two connections: no Conn, Related = client leg, upstream leg
	r.Report(analyze.Finding{
		Time:     h.start.t,
		Frames:   dedupFrames([]analyze.Frame{a.reqStart.frame, b.reqStart.frame, b.respEnd.frame, h.start.frame, h.end.frame}),
		Duration: hang,
		Message: fmt.Sprintf("conn %d: proxy %s relayed %s %s (%s) with %s to %s (conn %d), which kept its connection open after the response; %s: the client hung %s %s",
			cl.ref.ID, proxyText(a, b), a.method, legShort(a.target), a.proto, ka, b.conn.ref.Server, b.conn.ref.ID, what, analyze.DurCoarse(hang), how),
		Hint:    "the proxy must not forward Connection/Keep-Alive/Proxy-Connection (RFC 9110 §7.6.1) and must delimit responses by their framing, not by the origin's close; replace or configure it (or have the client send Connection: close through it)",
		Related: []analyze.ConnRef{cl.ref, b.conn.ref},
		Attrs:   attrs,
	})
}

func (d *dumbProxy) single(r *analyze.Reporter, t *legTx) {
	if t.absolute || d.shown[t.conn] {
		return // the client→proxy leg: Proxy-Connection is legitimate there
	}
	_, pc := t.req.get("Proxy-Connection")
	if !t.req.proxied() && !pc {
		return
	}
	var kept string
	switch {
	case pc:
		kept = "Proxy-Connection"
	case t.http10() && t.req.connHas("keep-alive"):
		kept = "Connection: Keep-Alive"
	default:
		return
	}
	how := "a Proxy-Connection header (only a client talking to its proxy sends one)"
	switch {
	case t.req.via != "":
		how = "Via: " + t.req.via
	case t.req.xff:
		how = "X-Forwarded-For"
	case t.req.fwd:
		how = "Forwarded"
	}
	if len(d.shown) >= d.maxShown {
		clear(d.shown)
	}
	d.shown[t.conn] = true
	// Reported from the aggregator, after the connection itself was
	// rendered: like the two-leg findings it names its connection in
	// Related (and details.conn/tx) rather than in Conn.
	r.Report(analyze.Finding{
		Severity: analyze.Warning,
		Time:     t.reqStart.t,
		Related:  []analyze.ConnRef{t.conn.ref},
		Frames:   []analyze.Frame{t.reqStart.frame},
		Message: fmt.Sprintf("conn %d tx %d: %s %s (%s) from %s came through a proxy (%s) and still carries %s: the proxy in front did not strip it. This is the precondition of the dumb-proxy Keep-Alive hang, not the hang itself (only this leg is in the capture)",
			t.conn.ref.ID, t.index, t.method, legShort(t.target), t.proto, t.conn.ref.Client.Addr(), how, kept),
		Hint: "capture the client side of the proxy too to see whether clients hang; configure the proxy to drop hop-by-hop headers (RFC 9110 §7.6.1)",
		Attrs: map[string]any{
			"one_leg": true,
			"conn":    t.conn.ref.ID,
			"tx":      int(t.index),
			"kept":    kept,
			"proxy":   t.conn.ref.Client.Addr().String(),
		},
	})
}
