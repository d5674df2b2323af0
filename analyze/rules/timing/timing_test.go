package timing

import (
	"slices"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
)

// The timing tests drive an engine segment by segment with
// analyzetest.Capture: no pcap is needed, so every distinction the rules
// make can be pinned down to the microsecond.

// family is this package's rules, as the suite lists them.
var family = []*analyze.Rule{DelayedAckStall, NagleDelayedAck, HandshakeOverhead, SlowStartFreshConnection}

// timingConfig runs only the timing rules.
func timingConfig() *analyze.Config {
	cfg := analyze.DefaultConfig()
	for _, r := range family {
		cfg.Enabled[r.ID] = true
	}
	return cfg
}

// newCapture starts a capture running the family under cfg (nil: all of
// the family).
func newCapture(t *testing.T, cfg *analyze.Config) *analyzetest.Capture {
	if cfg == nil {
		cfg = timingConfig()
	}
	return analyzetest.NewCapture(t, cfg, family)
}

// TestAttributeBreakdown: a finding's milliseconds land in its
// transaction's breakdown, under the rule's ID.
func TestAttributeBreakdown(t *testing.T) {
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
	tr := k.Rec.Conns[0].Transactions[0]
	got := tr.Timing.Attributed[NagleDelayedAck.ID]
	if !analyzetest.Near(got, 40*time.Millisecond, 10*time.Microsecond) {
		t.Errorf("attributed %v, want 40ms; findings %v", got, k.Rec.Findings)
	}
}

func TestFamilyValid(t *testing.T) {
	if err := analyze.Validate(family); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range family {
		ids = append(ids, r.ID)
	}
	if want := []string{"delayed-ack-stall", "nagle-delayed-ack", "handshake-overhead", "slow-start-fresh-connection"}; !slices.Equal(ids, want) {
		t.Errorf("family %v, want %v", ids, want)
	}
}
