package analyze

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// Rule is one entry of the catalogue: a value, in the style of
// go/analysis.Analyzer. Per-connection rules set NewConn; rules that look
// across connections set NewAggregate; a rule may set both.
type Rule struct {
	ID       string   // stable, kebab-case, as in DESIGN.md
	Severity Severity // default severity
	Title    string   // one line, no capital, no period
	// Requires lists the passes whose results the rule reads (Ctx.ResultOf,
	// Reporter.ResultOf). The engine runs a pass when an enabled rule
	// requires it, and runs it before the rules on every event.
	Requires []*Pass
	// NewConn returns a fresh per-connection checker: a value implementing
	// at least one of the checker interfaces below (Validate checks it).
	NewConn func(cfg *Config) Checker
	// NewAggregate returns the rule's cross-connection state (one per run).
	NewAggregate func(cfg *Config) Aggregate
}

// Pass is a shared analysis that reports nothing: stall detection, proxy-leg
// pairing. Rules that need it list it in Requires and read its result, which
// is the pass's own per-connection checker (Ctx.ResultOf) or aggregate
// (Reporter.ResultOf); the pass's package gives it a typed accessor. A pass
// runs once per connection however many rules require it.
type Pass struct {
	Name string // kebab-case, distinct from every rule ID
	Doc  string
	// NewConn and NewAggregate are as for a Rule. A pass's checker methods
	// run before any rule's for the same event; its aggregate sees each
	// connection summary before any rule's aggregate.
	NewConn      func(cfg *Config) Checker
	NewAggregate func(cfg *Config) Aggregate
}

// Checker is a per-connection checker: a value implementing one or more of
// SegmentChecker, GapChecker, InconsistencyChecker, MessageChecker,
// TransactionChecker, RecordChecker (TLS records of a connection that was
// not decrypted, tls_records.go) and EndChecker. The engine dispatches by interface, so
// each checker type carries compile-time assertions beside it
// (var _ analyze.TransactionChecker = (*fooChecker)(nil)) and Validate
// rejects a checker that implements none.
type Checker = any

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
	// TransactionChecker sees each transaction once its messages have been
	// delivered (http1 delivers a transaction after its messages).
	TransactionChecker interface {
		Transaction(ctx *Ctx, t *http1.Transaction)
	}
	EndChecker interface{ End(ctx *Ctx) }
	// Recycler is a checker that can serve another connection once its
	// own has ended (it keeps nothing for the aggregate, and nothing keeps
	// it): the engine calls Recycle after the connection's End calls and
	// never touches the checker again. A checker every connection makes
	// (a segment checker: a SYN flood makes one per SYN) can so come from
	// a pool instead of the heap (issue 15).
	Recycler interface{ Recycle() }
)

// isChecker reports whether c implements at least one checker interface.
func isChecker(c Checker) bool {
	switch c.(type) {
	case SegmentChecker, GapChecker, InconsistencyChecker, MessageChecker, TransactionChecker, RecordChecker, EndChecker:
		return true
	}
	return false
}

// Aggregate is a cross-connection rule's (or pass's) state. It sees one
// compact summary per finished connection (never packets), in connection-end
// order, and may report at any time; Flush is called once at the end of the
// run.
type Aggregate interface {
	Conn(r *Reporter, s *ConnSummary)
	Flush(r *Reporter)
}

// Ticker is an Aggregate that also wants to hear that capture time has
// passed with no connection ending: a live capture calls Engine.Advance on
// each of its ticks, and the engine passes the time on to every aggregate
// implementing Ticker. A cross-connection rule uses it to report a finding
// as soon as it is true (the first crossing of its threshold) rather than
// when the run ends. Reading a file never calls it, so an aggregate may
// take its first Tick as the sign that it runs live (findings as things
// happen) and keep its file output unchanged otherwise.
type Ticker interface {
	Aggregate
	// Tick says capture time has reached now. It may report. now never
	// goes back between calls.
	Tick(r *Reporter, now time.Time)
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// Validate checks a suite the way analysis.Validate checks analyzers: unique
// well-formed IDs, a title, a severity and something to run; every checker
// (built with DefaultConfig) implements a checker interface; every required
// pass is well formed and named apart from the rules.
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
		if err := validChecker(r.NewConn); err != nil {
			return fmt.Errorf("rule %q: %w", r.ID, err)
		}
	}
	passes := map[*Pass]bool{}
	for _, r := range rules {
		for _, p := range r.Requires {
			if p == nil {
				return fmt.Errorf("rule %q: nil pass in Requires", r.ID)
			}
			if passes[p] {
				continue
			}
			passes[p] = true
			if !idPattern.MatchString(p.Name) || seen[p.Name] {
				return fmt.Errorf("pass %q: malformed name, or a rule's ID", p.Name)
			}
			if p.NewConn == nil && p.NewAggregate == nil {
				return fmt.Errorf("pass %q: nothing to run", p.Name)
			}
			if err := validChecker(p.NewConn); err != nil {
				return fmt.Errorf("pass %q: %w", p.Name, err)
			}
		}
	}
	return nil
}

var errNotChecker = errors.New("NewConn returns a value that implements no checker interface (check the method signatures)")

func validChecker(newConn func(*Config) Checker) error {
	if newConn == nil {
		return nil
	}
	c := newConn(DefaultConfig())
	if c == nil {
		return errors.New("NewConn returns nil")
	}
	if !isChecker(c) {
		return fmt.Errorf("%w: %T", errNotChecker, c)
	}
	return nil
}
