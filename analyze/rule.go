package analyze

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// Rule is one entry of the catalogue: a value, in the style of
// go/analysis.Analyzer. Per-connection rules set NewConn; rules that look
// across connections set NewAggregate.
type Rule struct {
	ID       string   // stable, kebab-case, as in DESIGN.md
	Severity Severity // default severity
	Title    string   // one line, no capital, no period
	// NewConn returns a fresh per-connection checker, or nil when the rule
	// has nothing to do per connection. It may implement any of the
	// SegmentChecker, MessageChecker, ... interfaces below.
	NewConn func(cfg *Config) any
	// NewAggregate returns the rule's cross-connection state (one per run).
	NewAggregate func(cfg *Config) Aggregate
}

// The interfaces a per-connection checker may implement. Each method gets
// the connection's Ctx, which reports findings and exposes the Conn.
type (
	SegmentChecker interface {
		Segment(ctx *Ctx, s *reassembly.Segment)
	}
	GapChecker interface {
		Gap(ctx *Ctx, g reassembly.Gap)
	}
	InconsistencyChecker interface {
		Inconsistency(ctx *Ctx, x reassembly.Inconsistency)
	}
	MessageChecker interface {
		Message(ctx *Ctx, m *http1.Message)
	}
	TransactionChecker interface {
		Transaction(ctx *Ctx, t *http1.Transaction)
	}
	EndChecker interface{ End(ctx *Ctx) }
)

// Aggregate is a cross-connection rule's state. It sees one compact summary
// per finished connection (never packets), in connection-end order, and may
// report at any time; Flush is called once at the end of the run.
type Aggregate interface {
	Conn(r *Reporter, s *ConnSummary)
	Flush(r *Reporter)
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Validate checks the registry the way analysis.Validate checks analyzers:
// unique well-formed IDs, a title, a severity and something to run.
func Validate(rules []*Rule) error {
	seen := map[string]bool{}
	for _, r := range rules {
		if !idPattern.MatchString(r.ID) {
			return fmt.Errorf("rule %q: malformed id", r.ID)
		}
		if seen[r.ID] {
			return fmt.Errorf("rule %q: duplicate id", r.ID)
		}
		seen[r.ID] = true
		if r.Title == "" || r.Severity < Info || r.Severity > Error {
			return fmt.Errorf("rule %q: missing title or severity", r.ID)
		}
		if r.NewConn == nil && r.NewAggregate == nil {
			return fmt.Errorf("rule %q: nothing to run", r.ID)
		}
	}
	return nil
}

// Lookup finds a rule by ID.
func Lookup(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// IDs lists the registered rule IDs, sorted.
func IDs() []string {
	ids := make([]string, 0, len(Rules))
	for _, r := range Rules {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}
