package timing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

// HandshakeOverhead: a connection carried one small transaction, and the
// TCP handshake was about half (by default) or more of the time from SYN to
// the end of the response — the connection cost as much as the work.
var HandshakeOverhead = &analyze.Rule{
	ID:       "handshake-overhead",
	Severity: analyze.Info,
	Title:    "one small transaction paid for a whole TCP handshake",
	NewConn:  func(*analyze.Config) analyze.Checker { return &handshakeOverhead{} },
}

// handshakeSlack is taken off the HandshakeShare threshold. The canonical
// case — a handshake of one RTT followed by a one-RTT request/response — is
// exactly 50 % minus the endpoints' processing time (the client's ACK and
// request, the server's response: typically a fraction of a millisecond), so
// a threshold of exactly 0.5 would decide it by that noise. Two percentage
// points cover it on any path longer than a few milliseconds.
const handshakeSlack = 0.02

type handshakeOverhead struct {
	txs   int
	first *http1.Transaction
}

var (
	_ analyze.TransactionChecker = (*handshakeOverhead)(nil)
	_ analyze.EndChecker         = (*handshakeOverhead)(nil)
)

func (h *handshakeOverhead) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	h.txs++
	if h.txs == 1 {
		h.first = t
	} else {
		h.first = nil // only connections with a single transaction
	}
}

func (h *handshakeOverhead) End(ctx *analyze.Ctx) {
	t := h.first
	c := ctx.Conn
	if h.txs == 0 && ctx.TLS().RecordsJudged() {
		h.records(ctx)
		return
	}
	if t == nil || t.Gap || t.Unsolicited || t.Request == nil || t.Response == nil || t.Response.End != http1.EndComplete {
		return
	}
	if c.MidStream || c.RolesGuessed || c.FastOpen || c.SYN.Frame == 0 || c.SYNACK.Frame == 0 || c.HandshakeACK.Frame == 0 || len(c.Gaps) > 0 {
		return // no complete handshake to measure, or TFO sent the request with the SYN
	}
	size := msgBytes(t.Request) + msgBytes(t.Response)
	for _, m := range t.Interim {
		size += msgBytes(m)
	}
	if size > ctx.Config.SmallTransaction {
		return
	}
	// Measure as the client lives it, from wherever the capture sits: the
	// client sent its SYN r_c/2 before the capture point saw it and got the
	// last response byte r_c/2 after, where r_c = SYN-ACK → handshake ACK is
	// the capture point ↔ client round trip. SYN → handshake ACK at the
	// capture point is the client's SYN → SYN-ACK (one full RTT) plus the
	// client's turnaround, at any capture position.
	rc := c.HandshakeACK.Time.Sub(c.SYNACK.Time)
	hs := c.HandshakeACK.Time.Sub(c.SYN.Time)
	what := "the TCP handshake"
	if f := ctx.TLS(); f != nil && f.Facts.ServerHello {
		// decrypted HTTPS: the request waited for TCP's and TLS's handshakes
		hs = t.Request.Start.Time.Sub(c.SYN.Time)
		what = "the TCP and " + f.Facts.VersionName() + " handshakes (SYN to the request)"
	}
	total := t.Response.Last.Time.Sub(c.SYN.Time) + rc
	if hs <= 0 || total <= 0 {
		return
	}
	share := float64(hs) / float64(total)
	if share < ctx.Config.HandshakeShare-handshakeSlack {
		return
	}
	tx := t.Index + 1
	ctx.Report(analyze.Finding{
		Transaction: tx,
		Time:        c.SYN.Time,
		Frames:      analyze.Frames(c.SYN, c.SYNACK, c.HandshakeACK, t.Request.Start, t.Response.Last),
		Duration:    hs,
		Message: fmt.Sprintf("the connection carried one small transaction (%s, %d B in all) and %s took %s of the %s from SYN to the end of the response (%.0f %%)",
			analyze.Describe(t.Request), size, what, analyze.Dur(hs), analyze.Dur(total), 100*share),
		Hint: "reuse connections (keep-alive, a connection pool) so one handshake serves many requests; batch small requests to the same server",
		Attrs: map[string]any{
			"handshake_ms":  analyze.MS(hs),
			"syn_to_end_ms": analyze.MS(total),
			"share":         roundTo(share, 3),
			"bytes":         size,
		},
	})
	ctx.Attribute(tx, hs)
}

// msgBytes is a message's size on the wire (start line, headers, body).
func msgBytes(m *http1.Message) int64 {
	if m == nil {
		return 0
	}
	return int64(m.HeaderBytes) + m.BodyBytes
}

func roundTo(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}

// records judges a TLS connection that was not decrypted: one exchange of
// application data (a client run of records answered by the server), small,
// and the handshakes — TCP's round trip, then TLS's (two for a full TLS 1.2
// handshake, one for TLS 1.3 or a resumed TLS 1.2 session) — took the
// threshold share of SYN → end of the answer. The handshake time is SYN →
// the first application-data record: everything before it was the
// connection's set-up.
func (h *handshakeOverhead) records(ctx *analyze.Ctx) {
	c, f := ctx.Conn, ctx.TLS()
	if f.Exchanges != 1 || f.Unanswered || f.FirstRequest.Frame == 0 || f.FirstResponseEnd.Frame == 0 {
		return
	}
	if c.MidStream || c.RolesGuessed || c.FastOpen || c.SYN.Frame == 0 || c.SYNACK.Frame == 0 || c.HandshakeACK.Frame == 0 || len(c.Gaps) > 0 {
		return
	}
	size := f.AppBytes[0] + f.AppBytes[1]
	if size > ctx.Config.SmallTransaction {
		return
	}
	rc := c.HandshakeACK.Time.Sub(c.SYNACK.Time)
	hs := f.FirstRequest.Time.Sub(c.SYN.Time)
	total := f.FirstResponseEnd.Time.Sub(c.SYN.Time) + rc
	if hs <= 0 || total <= 0 {
		return
	}
	share := float64(hs) / float64(total)
	if share < ctx.Config.HandshakeShare-handshakeSlack {
		return
	}
	kind, tlsRTs := "a full", 1
	if f.Facts.Resumed {
		kind = "a resumed"
	}
	if f.Facts.Version <= 0x0303 && !f.Facts.Resumed {
		tlsRTs = 2
	}
	if f.Facts.EarlyData && f.FirstRequest.Ord < c.HandshakeACK.Ord+1 || f.Facts.EarlyData && f.HandshakeDone.Frame != 0 && f.FirstRequest.Ord < f.HandshakeDone.Ord {
		tlsRTs = 0 // the request went as 0-RTT early data
	}
	ctx.Report(analyze.Finding{
		Transaction: 1,
		Time:        c.SYN.Time,
		Frames:      analyze.Frames(c.SYN, c.SYNACK, c.HandshakeACK, f.FirstRequest, f.FirstResponseEnd),
		Duration:    hs,
		Message: fmt.Sprintf("the connection carried one small exchange of TLS application data (%d B up, %d B down in records; judged from TLS records, not decrypted) and the handshakes before the request could leave — TCP (1 round trip) and %s %s handshake (%s) — took %s of the %s from SYN to the end of the response (%.0f %%)",
			f.AppBytes[0], f.AppBytes[1], kind, f.Facts.VersionName(), analyze.Plural(tlsRTs, "round trip"), analyze.Dur(hs), analyze.Dur(total), 100*share),
		Hint: "reuse connections (keep-alive, a connection pool) so one TCP and TLS handshake serve many requests; resume TLS sessions (tickets) when a new connection is needed",
		Attrs: map[string]any{
			"handshake_ms":    analyze.MS(hs),
			"syn_to_end_ms":   analyze.MS(total),
			"share":           roundTo(share, 3),
			"bytes":           size,
			"tcp_round_trips": 1,
			"tls_round_trips": tlsRTs,
			"tls_resumed":     f.Facts.Resumed,
			"judged_from":     "tls-records",
		},
	})
	ctx.Attribute(1, hs)
}
