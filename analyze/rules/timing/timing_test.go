package timing

import (
	"slices"
	"testing"

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
