package timing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// DelayedAckStall: a sender (A) waited for an ACK that the receiver (B)
// held back with its delayed-ACK timer (RFC 1122 §4.2.3.2), and A's next
// data left only when that ACK arrived.
var DelayedAckStall = &analyze.Rule{
	ID:       "delayed-ack-stall",
	Severity: analyze.Warning,
	Title:    "sender blocked until the receiver's delayed ACK arrived",
	Requires: []*analyze.Pass{StallPass},
	NewConn:  func(*analyze.Config) analyze.Checker { return &delayedAckStall{} },
}

type delayedAckStall struct{}

var _ analyze.TransactionChecker = (*delayedAckStall)(nil)

// Transaction reports t's stalls that are not Nagle's (nagle-delayed-ack has those).
func (*delayedAckStall) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	for _, c := range stallsOf(ctx) {
		if !c.nagle {
			reportStall(ctx, t, c)
		}
	}
}

// stallFinding is what both stall rules' findings share.
func stallFinding(t *http1.Transaction, c *stallCand) (f analyze.Finding, sender, receiver string) {
	sender, receiver = "client", "server"
	if c.dir == flow.ServerToClient {
		sender, receiver = "server", "client"
	}
	f = c.finding(t.Index+1, sender)
	return f, sender, receiver
}

// finding is the evidence every stall finding carries (HTTP messages or
// TLS records alike): the frames of the held-back data, the delayed ACK and
// the released data, the stall, and the measured facts.
func (c *stallCand) finding(tx int, sender string) analyze.Finding {
	return analyze.Finding{
		Transaction: tx,
		Time:        c.d.pos.pos().Time,
		Frames:      analyze.Frames(c.d.pos.pos(), c.k.pos(), c.n.pos.pos()),
		Duration:    c.stall,
		// At most 8 entries: a map that small is one allocation.
		Attrs: map[string]any{
			"stall_ms":           analyze.MS(c.stall),
			"ack_delay_ms":       analyze.MS(c.ackDelay),
			"rtt_to_receiver_ms": analyze.MS(c.rB),
			"held_bytes":         c.n.n,
			"mss":                c.mss,
			"sender":             sender,
		},
	}
}

// reportStall reports a delayed-ACK stall that is not Nagle's.
func reportStall(ctx *analyze.Ctx, t *http1.Transaction, c *stallCand) {
	f, sender, receiver := stallFinding(t, c)
	what := analyze.Describe(c.msgN)
	if c.msgN.Dir == flow.ServerToClient && t.Request != nil {
		what += " to " + analyze.Describe(t.Request)
	}
	f.Message = fmt.Sprintf("%s: the %s's next %d B (frame %d) left only when the %s's ACK (frame %d) of %d B (frame %d) arrived, %s after the data — %s beyond the %s to the %s, with no data to carry it: a delayed ACK (RFC 1122 §4.2.3.2) stalled the %s",
		what, sender, c.n.n, c.n.pos.frame, receiver, c.k.frame, c.acked.ackOff-c.acked.prevUna, c.d.pos.frame,
		analyze.Dur(c.ackDelay), analyze.Dur(c.stall), analyze.RTTWords(c.rB), receiver, sender)
	if c.tail {
		f.Message += fmt.Sprintf("; the held %d B were less than a full segment (MSS %d) behind full-sized unacknowledged data: classic Nagle (RFC 896: BSD, macOS, Windows) holds such a tail, Linux's Minshall variant does not — or the congestion window was one segment", c.n.n, c.mss)
		f.Attrs["nagle"] = "classic-only"
	}
	f.Hint = "send each message in one write and set TCP_NODELAY on the sender; a receiver that knows it will not answer at once can ACK immediately (Linux TCP_QUICKACK)"
	ctx.Report(f)
	ctx.Attribute(f.Transaction, c.stall)
}
