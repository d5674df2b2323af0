package suite

import (
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/rules/framing"
	"github.com/connlint/connlint/reassembly/http1"
)

func TestSuiteValid(t *testing.T) {
	if err := analyze.Validate(Rules); err != nil {
		t.Fatal(err)
	}
	if len(Rules) != 23 || len(IDs()) != 23 {
		t.Errorf("%d rules, want 23", len(Rules))
	}
	for _, id := range IDs() {
		if Lookup(id) == nil || Lookup(id).ID != id {
			t.Errorf("Lookup(%q) fails", id)
		}
	}
	if CheckRuleIDs([]string{"delayed-ack-stall", "no-such-rule"}) == nil {
		t.Error("unknown rule id accepted")
	}
}

// wrongSig has a Transaction method with the wrong parameter type: the
// engine would never call it.
type wrongSig struct{}

func (wrongSig) Transaction(ctx *analyze.Ctx, t *http1.Message) {}

func TestValidateRejects(t *testing.T) {
	mk := func(id string, newConn func(*analyze.Config) analyze.Checker) *analyze.Rule {
		return &analyze.Rule{ID: id, Title: "x", Severity: analyze.Info, NewConn: newConn}
	}
	ok := func(*analyze.Config) analyze.Checker { return framing.ContentLengthMismatch.NewConn(nil) }
	for name, rules := range map[string][]*analyze.Rule{
		"malformed id":         {mk("Bad_ID", ok)},
		"duplicate id":         {framing.ContentLengthMismatch, framing.ContentLengthMismatch},
		"nil checker":          {mk("nil-checker", func(*analyze.Config) analyze.Checker { return nil })},
		"no checker interface": {mk("wrong-sig", func(*analyze.Config) analyze.Checker { return wrongSig{} })},
		"pass named as a rule": {mk("a", ok), {ID: "b", Title: "x", Severity: analyze.Info, NewConn: ok,
			Requires: []*analyze.Pass{{Name: "a", NewConn: ok}}}},
	} {
		if err := analyze.Validate(rules); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
