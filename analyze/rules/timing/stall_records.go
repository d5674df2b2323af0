package timing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
)

// Stalls judged from TLS records (a TLS connection that was not decrypted):
// the same TCP evidence as for HTTP, with records in place of messages
// (StallPass.Record). The findings say so: Attrs "judged_from" is
// "tls-records" and the message names the exchange instead of a message.

var (
	_ analyze.RecordChecker = (*nagleDelayedAck)(nil)
	_ analyze.RecordChecker = (*delayedAckStall)(nil)
)

// Record reports the Nagle stalls confirmed by record r.
func (*nagleDelayedAck) Record(ctx *analyze.Ctx, r *analyze.TLSRecord) {
	for _, c := range recordStallsOf(ctx) {
		if !c.nagle {
			continue
		}
		f, sender, receiver, what := recordStallFinding(ctx, c)
		f.Message = fmt.Sprintf("%s (judged from TLS records, not decrypted): the %s wrote it in pieces and held %d B (frame %d) behind the unacknowledged %d-B segment (frame %d) until the %s's delayed ACK (frame %d) came %s beyond the RTT; %s",
			what, sender, c.n.n, c.n.pos.frame, c.acked.smallBytes, c.d.pos.frame, receiver, c.k.frame, analyze.Dur(c.stall), nagleVariant(c))
		f.Hint = "write each message in one call (one buffer, so one TLS record: python's ssl, OpenSSL's SSL_write and most TLS stacks send one record per write), or set TCP_NODELAY on the sending socket"
		f.Attrs["nagle"] = "classic+minshall"
		ctx.Report(f)
	}
}

// Record reports the other delayed-ACK stalls confirmed by record r.
func (*delayedAckStall) Record(ctx *analyze.Ctx, r *analyze.TLSRecord) {
	for _, c := range recordStallsOf(ctx) {
		if c.nagle {
			continue
		}
		f, sender, receiver, what := recordStallFinding(ctx, c)
		f.Message = fmt.Sprintf("%s (judged from TLS records, not decrypted): the %s's next %d B (frame %d) left only when the %s's ACK (frame %d) of %d B (frame %d) arrived, %s after the data — %s beyond the %s to the %s, with no data to carry it: a delayed ACK (RFC 1122 §4.2.3.2) stalled the %s",
			what, sender, c.n.n, c.n.pos.frame, receiver, c.k.frame, c.acked.ackOff-c.acked.prevUna, c.d.pos.frame,
			analyze.Dur(c.ackDelay), analyze.Dur(c.stall), analyze.RTTWords(c.rB), receiver, sender)
		if c.tail {
			f.Message += fmt.Sprintf("; the held %d B were less than a full segment (MSS %d) behind full-sized unacknowledged data: classic Nagle (RFC 896: BSD, macOS, Windows) holds such a tail, Linux's Minshall variant does not — or the congestion window was one segment", c.n.n, c.mss)
			f.Attrs["nagle"] = "classic-only"
		}
		f.Hint = "send each message in one write (one TLS record) and set TCP_NODELAY on the sender; a receiver that knows it will not answer at once can ACK immediately (Linux TCP_QUICKACK)"
		ctx.Report(f)
	}
}

// recordStallFinding is what both stall rules' record findings share; what
// names the data ("the response of TLS exchange 2").
func recordStallFinding(ctx *analyze.Ctx, c *stallCand) (f analyze.Finding, sender, receiver, what string) {
	sender, receiver = "client", "server"
	what = fmt.Sprintf("the request of TLS exchange %d", c.exchange)
	if c.dir == flow.ServerToClient {
		sender, receiver = "server", "client"
		what = fmt.Sprintf("the response of TLS exchange %d", c.exchange)
	}
	f = c.finding(c.exchange, sender)
	f.Attrs["judged_from"] = "tls-records"
	if t := ctx.TLS(); t != nil && t.Facts.SNI != "" {
		f.Attrs["sni"] = t.Facts.SNI
	}
	return f, sender, receiver, what
}
