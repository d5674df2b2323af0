// Package suite assembles connlint's rule catalogue in one place, as cmd/vet
// assembles its analyzers: the engine receives the list
// (analyze.NewEngine(cfg, suite.Rules, sink)), since package analyze cannot
// import the rules built on it. Adding a rule is one file and its test in
// its family's package, its page (docs/rules/<id>.md) and one line here.
package suite

import (
	"fmt"
	"slices"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/rules/framing"
	"github.com/connlint/connlint/analyze/rules/lifecycle"
	"github.com/connlint/connlint/analyze/rules/proxy"
	"github.com/connlint/connlint/analyze/rules/timing"
)

// Rules is the catalogue, grouped by family. It is validated when the
// program starts (a checker with a wrong method signature would otherwise
// never run): see mustValidate.
var Rules = mustValidate(slices.Concat(
	// framing: HTTP/1.x message framing and request/response order
	[]*analyze.Rule{
		framing.ContentLengthMismatch,
		framing.ConflictingFraming,
		framing.BodyOnBodilessResponse,
		framing.UnframedPersistentResponse,
		framing.Pipelining,
		framing.PipelinedUnsafeMethod,
		framing.RequestAfterClose,
		framing.UnsolicitedResponse,
		framing.InconsistentOverlap,
	},
	// timing: why an exchange was slow (delayed ACK, Nagle, handshake, slow start)
	[]*analyze.Rule{
		timing.DelayedAckStall,
		timing.NagleDelayedAck,
		timing.HandshakeOverhead,
		timing.SlowStartFreshConnection,
	},
	// lifecycle: how connections are opened, reused and closed (per
	// connection, then across connections)
	[]*analyze.Rule{
		lifecycle.AbortiveClose,
		lifecycle.KeepAliveRace,
		lifecycle.KeepAliveMisuse,
		lifecycle.UnsafeRetry,
		lifecycle.NoConnectionReuse,
		lifecycle.ParallelConnections,
		lifecycle.PortChurn,
		lifecycle.TLSFullHandshakeRepeated,
	},
	// proxy: what happens on the two legs of a proxy (both read
	// proxy.LegsPass, which pairs the legs)
	[]*analyze.Rule{
		proxy.HopByHopForwarded,
		proxy.DumbProxyKeepAlive,
	},
))

func mustValidate(rules []*analyze.Rule) []*analyze.Rule {
	if err := analyze.Validate(rules); err != nil {
		panic(fmt.Sprintf("suite: %v", err))
	}
	return rules
}

// Lookup finds a rule by ID, nil when there is none.
func Lookup(id string) *analyze.Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// IDs lists the rule IDs, sorted.
func IDs() []string {
	ids := make([]string, 0, len(Rules))
	for _, r := range Rules {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// CheckRuleIDs returns an error naming the first unknown rule ID in ids.
func CheckRuleIDs(ids []string) error {
	for _, id := range ids {
		if Lookup(id) == nil {
			return fmt.Errorf("unknown rule %q (connlint rules lists them)", id)
		}
	}
	return nil
}
