package lifecycle

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// AbortiveClose: an endpoint reset the connection while data was still in
// flight, so the peer lost data it had already been sent. A RST makes the
// receiving TCP discard what its application has not read yet (RFC 9293
// §3.10.7.4), which is why RFC 9112 §9.6 asks servers to close in stages: a
// server that close()s with pipelined requests unread sends a RST, and the
// RST can erase the response the client has not read yet.
//
// Silent when nothing was lost: a RST after both sides finished and every
// byte was acknowledged (browsers, BITS), a RST answering a SYN (refused:
// the summary counts it), a RST after a capture gap that carries no ACK
// (the hole hides whether data was outstanding), a RST answering data
// written after the resetter's
// FIN (keepalive-race, request-after-close report that), and a RST to a peer
// that had itself closed already with nothing it was receiving cut short.
//
// After a capture gap, a RST that carries an ACK still proves something:
// its acknowledgement number says which of the peer's bytes the resetter
// never acknowledged, whatever the hole held. Then the captured peer bytes
// beyond it are reported (holes subtracted), with the transactions the RST
// left unanswered except those whose messages end in a gap; the resetter's
// own unacknowledged bytes are not (the hole may hide the peer's ACKs).
var AbortiveClose = &analyze.Rule{
	ID:       "abortive-close",
	Severity: analyze.Error,
	Title:    "connection reset while data was still in flight",
	NewConn:  func(*analyze.Config) analyze.Checker { return &abortiveClose{} },
}

// maxLostListed bounds the transactions named in one finding.
const maxLostListed = 8

type abortiveClose struct {
	rst     *reassembly.Segment // a copy of the first RST
	sent    [2]uint64           // stream bytes each side had sent before the RST
	acked   [2]uint64           // stream bytes of each side the peer had acknowledged
	ackPos  [2]flow.Pos         // the segment that last advanced acked[d]
	finSent [2]uint64           // sent[peer] when d sent its FIN (valid when fin[d])
	fin     [2]bool
	// finAck[d]: the peer-stream bytes d's FIN acknowledged. Peer data beyond
	// it had not reached d when d closed: it was written into a closing
	// connection (keepalive-race, request-after-close), wherever the capture
	// point was.
	finAck [2]uint64

	unanswered []lostTx // transactions without a complete response (bounded)
	nUnans     int
}

var (
	_ analyze.SegmentChecker     = (*abortiveClose)(nil)
	_ analyze.TransactionChecker = (*abortiveClose)(nil)
	_ analyze.EndChecker         = (*abortiveClose)(nil)
)

type lostTx struct {
	tx       int
	gap      bool // the request or response ends in a capture gap
	req      *http1.Message
	resp     *http1.Message // nil when no response started
	reqStart flow.Pos
}

func (a *abortiveClose) Segment(ctx *analyze.Ctx, s *reassembly.Segment) {
	if a.rst != nil {
		return
	}
	d := s.Dir
	peer := 1 - d
	if s.Flags.Has(reassembly.ACK) && s.AckValid && s.AckOffset > a.acked[peer] {
		a.acked[peer], a.ackPos[peer] = s.AckOffset, s.Pos
	}
	if s.Flags.Has(reassembly.RST) {
		cp := *s
		a.rst = &cp
		return
	}
	if s.Len > 0 && s.Kind != reassembly.SegDuplicate {
		if end := s.Offset + uint64(s.Len); end > a.sent[d] {
			a.sent[d] = end
		}
	}
	if s.Flags.Has(reassembly.FIN) && !a.fin[d] {
		a.fin[d], a.finSent[d], a.finAck[d] = true, a.sent[peer], a.sent[peer]
		if s.Flags.Has(reassembly.ACK) && s.AckValid && s.AckOffset < a.finAck[d] {
			a.finAck[d] = s.AckOffset
		}
	}
}

func (a *abortiveClose) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if t.Request == nil || (t.Response != nil && t.Response.End == http1.EndComplete) {
		return
	}
	if t.Request.Has(http1.AnomJunkRequest) {
		return // bytes that start no request: nothing a client will resend
	}
	a.nUnans++
	if len(a.unanswered) < 64 {
		gap := t.Request.End == http1.EndGap || (t.Response != nil && t.Response.End == http1.EndGap)
		a.unanswered = append(a.unanswered, lostTx{tx: t.Index + 1, gap: gap, req: t.Request, resp: t.Response, reqStart: t.Request.Start})
	}
}

// abortCand is a RST that lost data: who reset, the transactions it left
// without a (complete) response, and the bytes still unacknowledged.
type abortCand struct {
	rst                     *reassembly.Segment
	by                      flow.Dir // who reset
	lost                    []lostTx
	peerUnacked, ownUnacked uint64
	ackPos                  flow.Pos // the resetter's last ACK that advanced (zero when none)
	// afterGap: a capture gap came before the RST; what is reported is what
	// the RST's own ACK proves (peerUnacked counts captured bytes only)
	afterGap bool
}

func (a *abortiveClose) End(ctx *analyze.Ctx) {
	if c := a.evaluate(ctx.Conn, ctx.TLS()); c != nil {
		a.report(ctx, c)
	}
}

// evaluate decides whether the connection's RST lost data; nil when it did
// not, or when the capture cannot tell.
//
// tlsRecords: a TLS connection that was not decrypted, judged from its
// record layer and TCP alone: the unacknowledged bytes are the evidence
// (there are no transactions to list).
func (a *abortiveClose) evaluate(c *reassembly.Conn, tls *analyze.TLSFlow) *abortCand {
	r := a.rst
	tlsRecords := tls.RecordsJudged()
	if !tlsRecords {
		tls = nil
	}
	// connlint judges HTTP (or HTTPS from its TLS records): a reset SSH
	// session is someone else's business (and its "lost" bytes cannot be
	// tied to transactions)
	if r == nil || c.End == reassembly.EndRefused || !c.HTTP && !tlsRecords {
		return nil
	}
	// one side absent from the capture: what it acknowledged is unknown
	if c.OneSided {
		return nil
	}
	// A RST before the handshake completed answers the SYN: refused, not abortive.
	if !c.MidStream && (c.SYNACK.Frame == 0 || c.SYNACK.Ord > r.Ord) && a.sent[0] == 0 && a.sent[1] == 0 {
		return nil
	}
	if c.OutOfOrderDropped > 0 {
		return nil
	}
	x := r.Dir // who reset
	peer := 1 - x
	afterGap := hasGapBefore(c, r.Ord)
	if afterGap && (c.GapsDropped > 0 || !r.Flags.Has(reassembly.ACK) || !r.AckValid) {
		// the hole hides whether data was outstanding, and the RST says
		// nothing about what its sender had received (or the holes are not
		// all listed, so the captured bytes cannot be counted)
		return nil
	}
	// Data of the peer the resetter never acknowledged. When the resetter had
	// already sent its FIN, bytes the peer sent after that are the peer
	// writing into a closed connection (keepalive-race, request-after-close).
	peerSent := a.sent[peer]
	if a.fin[x] && a.finAck[x] < peerSent {
		peerSent = a.finAck[x]
	}
	cand := &abortCand{rst: r, by: x, ackPos: a.ackPos[x], afterGap: afterGap}
	if peerSent > a.acked[peer] {
		cand.peerUnacked = peerSent - a.acked[peer]
		if afterGap {
			cand.peerUnacked -= holeBytes(c, peer, a.acked[peer], peerSent)
		}
	}
	if a.sent[x] > a.acked[x] && !afterGap {
		cand.ownUnacked = a.sent[x] - a.acked[x]
	}
	if tls != nil {
		cand.peerUnacked = tlsLost(tls, peer, a.acked[peer], peerSent, cand.peerUnacked)
		cand.ownUnacked = tlsLost(tls, x, a.acked[x], a.sent[x], cand.ownUnacked)
		if a.fin[peer] && a.acked[x] >= a.finSent[peer] {
			// everything the resetter sent before the peer's FIN arrived was
			// acknowledged: the rest was written into a closing connection
			// (the keep-alive race), not thrown away by this RST
			cand.ownUnacked = 0
		}
	}
	cand.lost = a.lostBy(r, x)
	if afterGap && cand.peerUnacked == 0 {
		return nil // the RST's ACK proves nothing was lost that the capture holds
	}
	if cand.peerUnacked == 0 && cand.ownUnacked == 0 && len(cand.lost) == 0 {
		return nil // everything delivered and acknowledged: a harmless RST
	}
	if x == flow.ClientToServer && a.fin[x] && len(cand.lost) == 0 && cand.ownUnacked == 0 {
		// The client had finished with every response complete; the bytes it
		// refused arrived after its FIN (unsolicited data, e.g. an injected
		// or duplicated response): nothing it wanted was lost.
		return nil
	}
	if a.fin[peer] && cand.ownUnacked == 0 && !cand.cut() {
		// The peer had already closed (given up waiting, e.g. a client
		// timeout) and nothing it was receiving was cut: the RST destroyed
		// nothing it still read. Why it waited is another rule's story
		// (dumb-proxy-keepalive, a slow server).
		return nil
	}
	return cand
}

// lostBy lists the transactions RST r (sent by x) left without a response:
// requests sent before it (and, if the server had closed, before its FIN:
// the later ones are the keep-alive race's), or responses it cut short.
func (a *abortiveClose) lostBy(r *reassembly.Segment, x flow.Dir) []lostTx {
	srv := flow.ServerToClient
	var lost []lostTx
	for _, l := range a.unanswered {
		if l.reqStart.Ord > r.Ord || (a.fin[srv] && l.reqStart.Offset >= a.finAck[srv]) {
			continue
		}
		if l.gap || (l.resp != nil && l.resp.End == http1.EndMalformed) {
			continue // cut by the capture or by bad framing, not by the RST
		}
		if x == flow.ClientToServer && l.resp == nil {
			continue // a client giving up on a silent server loses nothing in flight
		}
		lost = append(lost, l)
	}
	return lost
}

// tlsLost returns the n unacknowledged bytes of direction d in (acked,
// sent], or 0 when they are nothing but d's last alert record (a
// close_notify the reset overtook: no application data lost).
func tlsLost(f *analyze.TLSFlow, d flow.Dir, acked, sent, n uint64) uint64 {
	al := f.LastAlert[d]
	if n > 0 && al[1] == sent && acked >= al[0] {
		return 0
	}
	return n
}

// holeBytes counts the bytes of direction d in [from, to) that fall in
// capture gaps.
func holeBytes(c *reassembly.Conn, d flow.Dir, from, to uint64) uint64 {
	var n uint64
	for _, g := range c.Gaps {
		if g.Dir != d {
			continue
		}
		lo, hi := max(g.Offset, from), min(g.Offset+g.Bytes, to)
		if hi > lo {
			n += hi - lo
		}
	}
	return min(n, to-from)
}

// cut reports whether the RST cut a response short.
func (c *abortCand) cut() bool {
	for _, l := range c.lost {
		if l.resp != nil {
			return true
		}
	}
	return false
}

// report words the finding for c.
func (a *abortiveClose) report(ctx *analyze.Ctx, c *abortCand) {
	r, x := c.rst, c.by
	who, other := "server", "client"
	if x == flow.ClientToServer {
		who, other = "client", "server"
	}
	var parts []string
	attrs := map[string]any{"reset_by": who}
	if len(c.lost) > 0 {
		parts = append(parts, lostText(c.lost, x))
		var ids, cut []int
		for _, l := range c.lost {
			ids = append(ids, l.tx)
			if l.resp != nil {
				cut = append(cut, l.tx)
			}
		}
		attrs["unanswered_transactions"] = ids
		if len(cut) > 0 {
			attrs["cut_transactions"] = cut
		}
	}
	if c.ownUnacked > 0 {
		parts = append(parts, fmt.Sprintf("%d bytes it had sent were not yet acknowledged by the %s", c.ownUnacked, other))
		attrs["unacked_bytes_sent"] = c.ownUnacked
	}
	if c.peerUnacked > 0 {
		parts = append(parts, fmt.Sprintf("%d bytes the %s had sent were never acknowledged", c.peerUnacked, other))
		attrs["unacked_bytes_received"] = c.peerUnacked
		if c.afterGap {
			parts[len(parts)-1] += " (captured bytes beyond the RST's acknowledgement number; the capture has a hole before the RST, so only what the RST's ACK proves is counted)"
			attrs["after_gap"] = true
		}
	}
	ev := []flow.Pos{}
	if len(c.lost) > 0 {
		ev = append(ev, c.lost[0].reqStart)
	}
	if c.ackPos.Frame != 0 {
		ev = append(ev, c.ackPos)
	}
	ev = append(ev, r.Pos)
	tx := 0
	if len(c.lost) > 0 {
		tx = c.lost[0].tx
	}
	consequence := "the client loses what it had not read yet, and the unanswered requests must be sent again"
	if len(c.lost) == 0 {
		consequence = "the " + other + " loses what it had not read yet"
	}
	if x == flow.ClientToServer {
		consequence = "the rest of the response was thrown away"
		if len(c.lost) == 0 {
			consequence = "the server's data in flight was thrown away"
		}
	}
	hint := "close in stages: shut down the sending side (FIN), keep reading until the peer closes or a timeout, then close (RFC 9112 §9.6; Apache's lingering close); never close() with unread data"
	if x == flow.ClientToServer {
		hint = "a client that resets loses the rest of the response: read it to the end (or close with FIN) before closing; if it gave up on purpose (timeout, cancel), this is the cost"
	}
	judged := ""
	if f := ctx.TLS(); !ctx.Conn.HTTP && f.RecordsJudged() {
		attrs["judged_from"] = "tls-records"
		judged = " (judged from TLS records and TCP, not decrypted)"
		if f.Unanswered && f.UnansweredAt.Ord < r.Ord && x == flow.ServerToClient {
			parts = append(parts, fmt.Sprintf("the client's last TLS application data (frame %d) had no answer", f.UnansweredAt.Frame))
			ev = append([]flow.Pos{f.UnansweredAt}, ev...)
		}
	}
	ctx.Report(analyze.Finding{
		Transaction: tx,
		Time:        r.Time,
		Frames:      analyze.Frames(ev...),
		Message:     fmt.Sprintf("the %s reset the connection (RST, frame %d)%s while %s: %s", who, r.Frame, judged, strings.Join(parts, " and "), consequence),
		Hint:        hint,
		Attrs:       attrs,
	})
}

// lostText names the transactions a RST left without (complete) responses.
func lostText(lost []lostTx, x flow.Dir) string {
	var names []string
	for i, l := range lost {
		if i == maxLostListed {
			names = append(names, "…")
			break
		}
		s := "transaction " + strconv.Itoa(l.tx) + " " + analyze.Describe(l.req)
		if l.resp != nil {
			s += fmt.Sprintf(" (%s cut after %d body bytes)", analyze.Describe(l.resp), l.resp.BodyBytes)
		}
		names = append(names, s)
	}
	verb := "had no complete response"
	if x == flow.ServerToClient {
		verb = analyze.WasWere(len(lost)) + " unanswered"
	}
	n := fmt.Sprintf("%s %s", analyze.Plural(len(lost), "request"), verb)
	return n + " (" + strings.Join(names, ", ") + ")"
}
