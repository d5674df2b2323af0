package timing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

// NagleDelayedAck: the write-write-read pattern. A sent a small segment,
// then had more (less than a full segment) to send; Nagle's algorithm held
// it until the first was acknowledged, and the receiver delayed that ACK
// because it was waiting for the rest of the message before answering.
//
// It is the special case of delayed-ack-stall where the held data was
// sub-MSS behind an unacknowledged sub-MSS segment; StallPass finds both and
// classifies each stall once, so it is reported under one rule only.
var NagleDelayedAck = &analyze.Rule{
	ID:       "nagle-delayed-ack",
	Severity: analyze.Warning,
	Title:    "small write held by Nagle until the peer's delayed ACK",
	Requires: []*analyze.Pass{StallPass},
	NewConn:  func(*analyze.Config) analyze.Checker { return &nagleDelayedAck{} },
}

type nagleDelayedAck struct{}

var _ analyze.TransactionChecker = (*nagleDelayedAck)(nil)

// Transaction reports t's stalls that Nagle explains.
func (*nagleDelayedAck) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	for _, c := range stallsOf(ctx) {
		if !c.nagle {
			continue
		}
		f, sender, receiver := stallFinding(t, c)
		split := nagleSplit(c)
		f.Message = fmt.Sprintf("%s — the %s held %d B (frame %d) behind the unacknowledged %d-B segment (frame %d) until the %s's delayed ACK (frame %d) came %s beyond the RTT; %s",
			split, sender, c.n.n, c.n.pos.frame, c.acked.smallBytes, c.d.pos.frame, receiver, c.k.frame, analyze.Dur(c.stall), nagleVariant(c))
		f.Hint = "write the message in one call (one buffer, or writev), or set TCP_NODELAY on the sending socket"
		f.Attrs["split"] = split
		f.Attrs["nagle"] = "classic+minshall"
		ctx.Report(f)
		ctx.Attribute(f.Transaction, c.stall)
	}
}

// nagleSplit names the message that was split and where, from the stream
// offsets of the held data and the message's header/body boundary:
// "POST /upload: headers 212 B + body 18 B".
func nagleSplit(c *stallCand) string {
	m := c.msgN
	if c.msgD != m {
		return fmt.Sprintf("%s (pipelined behind %s)", analyze.Describe(m), analyze.Describe(c.msgD))
	}
	at := c.n.pos.off
	start := m.Start.Offset
	end := m.Last.Offset + 1
	if m.HeaderBytes <= 0 {
		return fmt.Sprintf("%s: %d B + %d B", analyze.Describe(m), at-start, end-at)
	}
	body := start + uint64(m.HeaderBytes) // first body byte
	bodyBytes := end - body
	if m.BodyBytes > 0 && m.BodyStart.Offset != body {
		// Decrypted TLS: positions are those of the ciphertext (records
		// add headers and tags), sizes are plaintext counts.
		body, bodyBytes = m.BodyStart.Offset, uint64(m.BodyBytes)
	}
	switch {
	case at == body:
		return fmt.Sprintf("%s: headers %d B + body %d B", analyze.Describe(m), m.HeaderBytes, bodyBytes)
	case at < body:
		return fmt.Sprintf("%s: header block split after %d of %d B (body %d B)", analyze.Describe(m), at-start, m.HeaderBytes, end-body)
	}
	return fmt.Sprintf("%s: headers %d B, body split after %d B + %d B", analyze.Describe(m), m.HeaderBytes, at-body, end-at)
}

// nagleVariant says which Nagle explains the hold. Classic Nagle (RFC 896)
// holds a sub-MSS segment while any data is unacknowledged; Linux's
// Minshall variant (tcp_minshall_check) only while a previous sub-MSS
// segment is. The rule fires only when the unacknowledged data included a
// sub-MSS segment, and ACKs are cumulative, so both hold it; a tail held
// behind full-sized segments only is reported as delayed-ack-stall with
// "classic Nagle only".
func nagleVariant(c *stallCand) string {
	return fmt.Sprintf("classic Nagle (RFC 896) and Linux's Minshall variant both hold it, as the unacknowledged segment was itself shorter than the MSS (%d B)", c.mss)
}
