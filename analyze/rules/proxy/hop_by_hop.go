package proxy

import (
	"fmt"
	"strings"

	"github.com/connlint/connlint/analyze"
)

// HopByHopForwarded: the same request or response is seen on two legs of a
// proxy, and the second leg still carries a hop-by-hop field of the first
// (RFC 9110 §7.6.1: an intermediary MUST remove Connection and the fields
// it names before forwarding, and the fields commonly used for one hop —
// Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade — are meant
// for that hop only; Proxy-Authorization/-Authenticate are consumed by the
// proxy, §11.7).
//
// What counts as "still carries": the field was on the first leg and is on
// the second. Connection and Keep-Alive need more, because a proxy
// legitimately sends its own for its own hop (haproxy's "connection:
// keep-alive", nginx's "Connection: close"): the second leg's field must be
// byte-identical to the first's, and for Connection the copy must also be
// shown by something a proxy never generates for itself — a token naming
// another field, another hop-by-hop field forwarded alongside, or
// keep-alive on an HTTP/1.0 request relayed as HTTP/1.0 (the dumb-proxy
// shape). A 101 upgrade that happened on both legs was meant (Upgrade and
// Connection: upgrade are then exempt), and Proxy-Authorization may be
// relayed to a next proxy (an absolute-form target upstream).
var HopByHopForwarded = &analyze.Rule{
	ID:           "hop-by-hop-forwarded",
	Severity:     analyze.Error,
	Title:        "proxy forwarded hop-by-hop headers to the next hop",
	Requires:     []*analyze.Pass{LegsPass},
	NewAggregate: func(*analyze.Config) analyze.Aggregate { return hopByHop{} },
}

// hopByHop looks at each pair LegsPass released.
type hopByHop struct{}

var _ analyze.Aggregate = hopByHop{}

func (hopByHop) Conn(r *analyze.Reporter, _ *analyze.ConnSummary) { hopByHop{}.Flush(r) }

func (hopByHop) Flush(r *analyze.Reporter) {
	for _, ev := range legsOf(r) {
		if ev.b != nil {
			hopByHopPair(r, ev.a, ev.b)
		}
	}
}

// forwardedHop lists the hop-by-hop fields of first that second still
// carries, by name as the first leg wrote them. http10 says both requests
// were HTTP/1.0; upgraded, that the transaction switched protocols on both
// legs; nextProxy, that the second leg was sent to another proxy.
func forwardedHop(first, second *legMsg, http10, upgraded, nextProxy bool) []string {
	var out []string
	add := func(n string) {
		for _, x := range out {
			if strings.EqualFold(x, n) {
				return
			}
		}
		out = append(out, n)
	}
	for _, n := range hopByHopNames {
		f, ok := first.get(n)
		if !ok || !second.has(n) {
			continue
		}
		switch n {
		case "Keep-Alive":
			// a proxy may announce its own: only an identical value is a copy
			if g, _ := second.get(n); g.value != f.value {
				continue
			}
		case "Upgrade":
			if upgraded {
				continue
			}
		case "Proxy-Authorization":
			if nextProxy {
				continue // credentials relayed to the next proxy (RFC 9110 §11.7.4)
			}
		}
		add(f.name)
	}
	for _, tok := range first.conn {
		switch strings.ToLower(tok) {
		case "close", "keep-alive":
			continue
		case "upgrade":
			if upgraded {
				continue
			}
		}
		if second.has(tok) {
			add(tok)
		}
	}
	// Connection itself: an identical copy, and evidence it is a copy
	copied := false
	for _, f := range first.hop {
		if !strings.EqualFold(f.name, "Connection") {
			continue
		}
		for _, g := range second.hop {
			if g == f {
				copied = true
			}
		}
	}
	if copied {
		other := false
		for _, tok := range first.conn {
			switch strings.ToLower(tok) {
			case "close", "keep-alive":
			case "upgrade":
				other = other || !upgraded
			default:
				other = true
			}
		}
		if other || len(out) > 0 || (http10 && first.connHas("keep-alive")) {
			out = append([]string{"Connection"}, out...)
		}
	}
	return out
}

func hopByHopPair(r *analyze.Reporter, a, b *legTx) {
	http10 := a.http10() && b.http10()
	upgraded := a.hasResp && b.hasResp && a.status == 101 && b.status == 101
	nextProxy := b.absolute
	reqHop := forwardedHop(&a.req, &b.req, http10, upgraded, nextProxy)
	var respHop []string
	if a.hasResp && b.hasResp {
		respHop = forwardedHop(&b.resp, &a.resp, http10, upgraded, false)
	}
	if len(reqHop) == 0 && len(respHop) == 0 {
		return
	}
	var parts []string
	var frs []analyze.Frame
	attrs := map[string]any{
		"proxy":         a.conn.ref.Server.String(),
		"proxy_out":     b.conn.ref.Client.String(),
		"client_conn":   a.conn.ref.ID,
		"client_tx":     int(a.index),
		"origin_conn":   b.conn.ref.ID,
		"origin_tx":     int(b.index),
		"request_hop":   []string{},
		"response_hop":  []string{},
		"origin_target": b.target,
	}
	// A finding about two connections has no Conn (DESIGN.md: zero ID for
	// findings about several connections; the text renderer lists it under
	// "Across connections"); Related names the client leg, then the
	// upstream leg. It is dated where the forwarded fields first appear.
	at := b.reqStart
	if len(reqHop) > 0 {
		parts = append(parts, fmt.Sprintf("the request to %s kept %s", b.conn.ref.Server, strings.Join(reqHop, ", ")))
		frs = append(frs, a.reqStart.frame, b.reqStart.frame)
		attrs["request_hop"] = reqHop
	}
	if len(respHop) > 0 {
		parts = append(parts, fmt.Sprintf("the response back to %s kept %s", a.conn.ref.Client, strings.Join(respHop, ", ")))
		frs = append(frs, b.respStart.frame, a.respStart.frame)
		attrs["response_hop"] = respHop
		if len(reqHop) == 0 {
			at = a.respStart
		}
	}
	r.Report(analyze.Finding{
		Time:   at.t,
		Frames: dedupFrames(frs),
		Message: fmt.Sprintf("proxy %s forwarded hop-by-hop headers of %s %s (client conn %d tx %d → upstream conn %d tx %d): %s",
			proxyText(a, b), a.method, legShort(a.target), a.conn.ref.ID, a.index, b.conn.ref.ID, b.index, strings.Join(parts, "; ")),
		Hint:    "a proxy must drop Connection, the fields it names, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade and Proxy-Authorization/-Authenticate before forwarding (RFC 9110 §7.6.1); fix or replace the proxy",
		Related: []analyze.ConnRef{a.conn.ref, b.conn.ref},
		Attrs:   attrs,
	})
}

func legShort(t string) string {
	if len(t) > 80 {
		return t[:77] + "..."
	}
	return t
}

func dedupFrames(fs []analyze.Frame) []analyze.Frame {
	var out []analyze.Frame
	for _, f := range fs {
		if f.Frame == 0 {
			continue
		}
		dup := false
		for _, g := range out {
			dup = dup || g == f
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}
