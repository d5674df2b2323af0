package timing

import (
	"testing"
	"time"

	"github.com/connlint/connlint/analyze/analyzetest"
)

// TestNagleDelayedAckBreakdown: POST headers and body written separately,
// the body held by Nagle until the server's delayed ACK; the finding's
// milliseconds land in its transaction's breakdown, under the rule's ID.
// (TestStallDetector covers the detection cases of both stall rules.)
func TestNagleDelayedAckBreakdown(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenTCP(0, 20, 0.1)
	sc.Data(0, 20.2, 200)
	sc.Ack(1, 80.2)
	sc.Data(0, 80.3, 18)
	sc.Data(1, 100.4, 300)
	sc.Ack(0, 100.5)
	req := sc.Msg(0, 0, 200, 18, "POST /upload")
	resp := sc.Msg(1, 0, 300, 0, "200")
	sc.Settle(req, resp)
	sc.Close(200)
	if len(k.Rec.Conns) != 1 {
		t.Fatal("no connection report")
	}
	fs := k.Rec.ByRule(NagleDelayedAck.ID)
	if len(fs) != 1 || fs[0].Attrs["split"] != "POST /upload: headers 200 B + body 18 B" || fs[0].Attrs["nagle"] != "classic+minshall" {
		t.Fatalf("findings %v", k.Rec.Findings)
	}
	tr := k.Rec.Conns[0].Transactions[0]
	got := tr.Timing.Attributed[NagleDelayedAck.ID]
	if !analyzetest.Near(got, 40*time.Millisecond, 10*time.Microsecond) {
		t.Errorf("attributed %v, want 40ms; findings %v", got, k.Rec.Findings)
	}
}
