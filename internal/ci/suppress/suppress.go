// Package suppress applies the suppressions of a config file
// (.connlint.yaml):
//
//	suppressions:
//	  - rule: nagle-delayed-ack      # rule ID; empty = any rule
//	    server: 10.0.0.2:80          # ip:port, ip (any port) or CIDR
//	    client: 10.0.0.0/24          # ip or CIDR (never a port: it changes every run)
//	    target: /upload/*            # glob (path.Match) on the request target
//	    reason: vendor SDK, ticket OPS-12   # required
//	    until: 2026-06-30            # optional; after that day (UTC) it is an error
//
// Every field given must match; at least one of rule, server, client and
// target must be given. The target is the request's (ci.Request): a
// finding not about one request never matches a target glob; path.Match's
// "*" does not cross "/". Finding the file and decoding it is the
// command's job; this package validates the list (Compile), matches
// findings (Match, Filter) and reports the suppressions that matched
// nothing (Unused), as golangci-lint reports unused exclusions.
package suppress

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// Suppression is one config entry.
type Suppression struct {
	Rule   string `yaml:"rule,omitempty" json:"rule,omitempty"`
	Server string `yaml:"server,omitempty" json:"server,omitempty"`
	Client string `yaml:"client,omitempty" json:"client,omitempty"`
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	Reason string `yaml:"reason" json:"reason"`
	Until  string `yaml:"until,omitempty" json:"until,omitempty"` // YYYY-MM-DD, inclusive
}

// String names the entry by its selectors, for messages.
func (s Suppression) String() string {
	var parts []string
	for _, p := range [][2]string{{"rule", s.Rule}, {"server", s.Server}, {"client", s.Client}, {"target", s.Target}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	if len(parts) == 0 {
		return "(no selector)"
	}
	return strings.Join(parts, " ")
}

// Error is a problem with one entry. Index is 1-based, in config order.
type Error struct {
	Index   int
	Entry   Suppression
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("suppression #%d (%s): %s", e.Index, e.Entry, e.Problem)
}

// compiled is an entry with its addresses parsed.
type compiled struct {
	Suppression
	serverAP   netip.AddrPort // exact ip:port
	serverNet  netip.Prefix   // ip (as /32 or /128) or CIDR, any port
	clientNet  netip.Prefix
	hasServer  bool
	hasClient  bool
	serverPort bool
}

// Set is a validated list of suppressions that remembers which matched.
type Set struct {
	list []compiled
	hits []int
}

// Compile validates the list at time now: a missing reason, an entry with
// no selector, an unparsable address, glob or date, a rule that known
// rejects (known may be nil), and an until date that has passed are
// errors. All problems are returned together (errors.Join of *Error).
func Compile(list []Suppression, now time.Time, known func(rule string) bool) (*Set, error) {
	s := &Set{hits: make([]int, len(list))}
	var errs []error
	for i, e := range list {
		c, problems := compile(e, now, known)
		for _, p := range problems {
			errs = append(errs, &Error{Index: i + 1, Entry: e, Problem: p})
		}
		s.list = append(s.list, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func compile(e Suppression, now time.Time, known func(string) bool) (compiled, []string) {
	c := compiled{Suppression: e}
	var problems []string
	if strings.TrimSpace(e.Reason) == "" {
		problems = append(problems, "reason is required: say why this finding is accepted")
	}
	if e.Rule == "" && e.Server == "" && e.Client == "" && e.Target == "" {
		problems = append(problems, "no rule, server, client or target: it would suppress everything")
	}
	if e.Rule != "" && known != nil && !known(e.Rule) {
		problems = append(problems, fmt.Sprintf("unknown rule %q", e.Rule))
	}
	if e.Server != "" {
		c.hasServer = true
		if ap, err := netip.ParseAddrPort(e.Server); err == nil {
			c.serverAP, c.serverPort = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
		} else if p, err := prefix(e.Server); err == nil {
			c.serverNet = p
		} else {
			problems = append(problems, fmt.Sprintf("server %q is not ip:port, ip or CIDR", e.Server))
		}
	}
	if e.Client != "" {
		c.hasClient = true
		if p, err := prefix(e.Client); err == nil {
			c.clientNet = p
		} else {
			problems = append(problems, fmt.Sprintf("client %q is not an ip or CIDR (no port: client ports change every run)", e.Client))
		}
	}
	if e.Target != "" {
		if _, err := path.Match(e.Target, ""); err != nil {
			problems = append(problems, fmt.Sprintf("target %q is not a valid glob: %v", e.Target, err))
		}
	}
	if e.Until != "" {
		day, err := time.Parse(time.DateOnly, e.Until)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("until %q is not a date (YYYY-MM-DD)", e.Until))
		case !now.Before(day.AddDate(0, 0, 1)):
			problems = append(problems, fmt.Sprintf("expired on %s: remove it or, if the reason still holds, extend until", e.Until))
		}
	}
	return c, problems
}

// prefix parses an ip (as a one-address prefix) or a CIDR.
func prefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return p.Masked(), nil
}

func (c *compiled) match(f *analyze.Finding) bool {
	if c.Rule != "" && c.Rule != f.Rule {
		return false
	}
	if c.hasServer || c.hasClient {
		p, ok := ci.Pair(f)
		if !ok {
			return false
		}
		if c.hasServer {
			srv := netip.AddrPortFrom(p.Server.Addr().Unmap(), p.Server.Port())
			if !p.Server.IsValid() ||
				c.serverPort && srv != c.serverAP ||
				!c.serverPort && !c.serverNet.Contains(srv.Addr()) {
				return false
			}
		}
		if c.hasClient && (!p.Client.IsValid() || !c.clientNet.Contains(p.Client.Addr().Unmap())) {
			return false
		}
	}
	if c.Target != "" {
		_, target := ci.Request(f)
		if ok, _ := path.Match(c.Target, target); target == "" || !ok {
			return false
		}
	}
	return true
}

// Match returns the first suppression that covers f, and records the hit.
func (s *Set) Match(f *analyze.Finding) (Suppression, bool) {
	for i := range s.list {
		if s.list[i].match(f) {
			s.hits[i]++
			return s.list[i].Suppression, true
		}
	}
	return Suppression{}, false
}

// Suppressed is a finding a suppression covered.
type Suppressed struct {
	Finding *analyze.Finding
	By      Suppression
}

// Filter splits findings into those kept and those suppressed.
func (s *Set) Filter(fs []*analyze.Finding) (kept []*analyze.Finding, suppressed []Suppressed) {
	kept = []*analyze.Finding{}
	for _, f := range fs {
		if by, ok := s.Match(f); ok {
			suppressed = append(suppressed, Suppressed{Finding: f, By: by})
			continue
		}
		kept = append(kept, f)
	}
	return kept, suppressed
}

// Unused is a suppression that matched nothing. Index is 1-based.
type Unused struct {
	Index int
	Suppression
}

func (u Unused) String() string {
	return fmt.Sprintf("suppression #%d (%s) matched no finding", u.Index, u.Suppression)
}

// Unused lists, in config order, the suppressions that matched nothing so
// far: fixed problems whose suppression can go, or entries that never
// matched what their author meant.
func (s *Set) Unused() []Unused {
	var out []Unused
	for i, n := range s.hits {
		if n == 0 {
			out = append(out, Unused{Index: i + 1, Suppression: s.list[i].Suppression})
		}
	}
	return out
}
