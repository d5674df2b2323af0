package suppress

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci/citest"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func known(id string) bool {
	for _, r := range citest.Input().Rules {
		if r.ID == id {
			return true
		}
	}
	return false
}

// The config as the command side decodes it from .connlint.yaml.
const config = `
suppressions:
  - rule: nagle-delayed-ack
    server: 10.0.0.2:80
    target: /ok*
    reason: the test server writes headers and body separately; fixed upstream in 2.0
    until: 2026-05-01
  - rule: unsafe-retry
    client: 2001:db8::/64
    reason: retries are deduplicated by idempotency key
  - server: 10.0.0.0/8
    rule: parallel-connections
    reason: load test opens many connections on purpose
  - rule: pipelining
    reason: never fires here
`

func decode(t *testing.T, doc string) []Suppression {
	t.Helper()
	var c struct {
		Suppressions []Suppression `yaml:"suppressions"`
	}
	if err := yaml.Unmarshal([]byte(doc), &c); err != nil {
		t.Fatal(err)
	}
	return c.Suppressions
}

func TestYAMLAndApply(t *testing.T) {
	list := decode(t, config)
	if len(list) != 4 || list[0].Until != "2026-05-01" || list[1].Client != "2001:db8::/64" {
		t.Fatalf("decoded %+v", list)
	}
	s, err := Compile(list, now, known)
	if err != nil {
		t.Fatal(err)
	}
	kept, sup := s.Filter(citest.Input().Findings)
	if len(kept) != 1 || kept[0].Rule != "content-length-mismatch" {
		t.Errorf("kept %d findings: %v", len(kept), kept)
	}
	if len(sup) != 4 || sup[0].By.Rule != "unsafe-retry" || sup[1].By.Rule != "nagle-delayed-ack" {
		t.Errorf("suppressed %+v", sup)
	}
	u := s.Unused()
	if len(u) != 1 || u[0].Index != 4 || u[0].String() != "suppression #4 (rule=pipelining) matched no finding" {
		t.Errorf("unused %v", u)
	}
}

func TestMatch(t *testing.T) {
	fs := citest.Input().Findings // 0 unsafe-retry v6, 1 nagle, 2 nagle, 3 clm v6, 4 parallel (cross)
	for _, c := range []struct {
		s    Suppression
		want []bool
	}{
		{Suppression{Rule: "nagle-delayed-ack"}, []bool{false, true, true, false, false}},
		{Suppression{Server: "10.0.0.2:80"}, []bool{false, true, true, false, true}},
		{Suppression{Server: "10.0.0.2:81"}, []bool{false, false, false, false, false}},
		{Suppression{Server: "10.0.0.2"}, []bool{false, true, true, false, true}},
		{Suppression{Server: "[2001:db8::2]:8080"}, []bool{true, false, false, true, false}},
		{Suppression{Client: "10.0.0.1"}, []bool{false, true, true, false, true}},
		{Suppression{Client: "2001:db8::/32"}, []bool{true, false, false, true, false}},
		{Suppression{Target: "/orders*"}, []bool{true, false, false, false, false}},
		{Suppression{Target: "/ok?size=32"}, []bool{false, true, true, false, false}},
		{Suppression{Target: "*"}, []bool{false, false, false, false, false}}, // * does not cross /
		{Suppression{Target: "/*"}, []bool{true, true, true, false, false}},   // no target: never
		{Suppression{Rule: "nagle-delayed-ack", Client: "10.0.0.9"}, []bool{false, false, false, false, false}},
	} {
		c.s.Reason = "test"
		s, err := Compile([]Suppression{c.s}, now, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range fs {
			if _, got := s.Match(f); got != c.want[i] {
				t.Errorf("%s on finding %d (%s): %v, want %v", c.s, i, f.Rule, got, c.want[i])
			}
		}
	}
}

func TestCompileErrors(t *testing.T) {
	for _, c := range []struct {
		s    Suppression
		want string
	}{
		{Suppression{Rule: "pipelining"}, "suppression #1 (rule=pipelining): reason is required"},
		{Suppression{Reason: "x"}, "suppression #1 ((no selector)): no rule, server, client or target"},
		{Suppression{Rule: "nagle", Reason: "x"}, `unknown rule "nagle"`},
		{Suppression{Server: "10.0.0.2:http", Reason: "x"}, `server "10.0.0.2:http" is not ip:port, ip or CIDR`},
		{Suppression{Client: "10.0.0.1:5000", Reason: "x"}, `client "10.0.0.1:5000" is not an ip or CIDR`},
		{Suppression{Target: "/a[", Reason: "x"}, `target "/a[" is not a valid glob`},
		{Suppression{Rule: "pipelining", Reason: "x", Until: "May 1"}, `until "May 1" is not a date`},
		{Suppression{Rule: "pipelining", Reason: "x", Until: "2026-04-30"}, "suppression #1 (rule=pipelining): expired on 2026-04-30"},
	} {
		_, err := Compile([]Suppression{c.s}, now, known)
		var e *Error
		if err == nil || !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want %q", c.s, err, c.want)
		}
	}
	// until is inclusive: valid through that day.
	if _, err := Compile([]Suppression{{Rule: "pipelining", Reason: "x", Until: "2026-05-01"}}, now, known); err != nil {
		t.Errorf("until today: %v", err)
	}
	// All problems at once, each naming its entry.
	_, err := Compile([]Suppression{{Rule: "pipelining"}, {Rule: "pipelining", Reason: "ok"}, {Reason: "x", Until: "2020-01-01"}}, now, known)
	if msg := err.Error(); !strings.Contains(msg, "#1") || strings.Contains(msg, "#2") || strings.Count(msg, "#3") != 2 {
		t.Errorf("joined errors:\n%s", msg)
	}
}

func TestFirstMatchWins(t *testing.T) {
	s, err := Compile([]Suppression{{Rule: "nagle-delayed-ack", Reason: "a"}, {Server: "10.0.0.2:80", Reason: "b"}}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	fs := citest.Input().Findings
	if by, _ := s.Match(fs[1]); by.Reason != "a" {
		t.Errorf("matched %q", by.Reason)
	}
	_, _ = s.Match(fs[4])
	if u := s.Unused(); len(u) != 0 {
		t.Errorf("unused %v", u)
	}
	var none []*analyze.Finding
	if kept, sup := s.Filter(none); len(kept) != 0 || sup != nil {
		t.Error("filter of nothing")
	}
}
