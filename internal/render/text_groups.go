package render

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/connlint/connlint/analyze"
)

// A group is one finding repeated across connections: the same rule and the
// same message once numbers, addresses and ports are set aside (770
// handshake-overhead paragraphs that differ only in their milliseconds are
// one entry). The text report prints a group once, with its count, its
// connections and its worst examples; JSON keeps every finding.
type group struct {
	rule     string
	severity analyze.Severity
	findings []*analyze.Finding
	conns    []uint64 // distinct, in id order
}

// groupMin: a shape seen at most this often is printed finding by finding
// (the examples would show every one of them anyway).
const groupMin = 3

// groupExamples is how many of a group's findings are printed in full.
const groupExamples = 3

const repeatedTitle = "Repeated findings"

// shapeNumbers matches what differs between findings of one shape:
// bracketed IPv6 addresses, IPv4 addresses, ports, counts and measurements.
var shapeNumbers = regexp.MustCompile(`\[[0-9a-fA-F:.]*\](:\d+)?|\d+([.:]\d+)*`)

// shape is a finding's grouping key: rule and message with numbers blanked.
func shape(f *analyze.Finding) string {
	return f.Rule + "\x00" + shapeNumbers.ReplaceAllString(f.Message, "#")
}

// groupFindings finds the shapes repeated more than groupMin times on at
// least two connections; conns is in id order, so a group's connections
// are too.
func groupFindings(conns []shownConn) ([]*group, map[*analyze.Finding]*group) {
	byShape := map[string]*group{}
	var order []*group
	for _, c := range conns {
		for _, f := range c.findings {
			k := shape(f)
			g := byShape[k]
			if g == nil {
				g = &group{rule: f.Rule, severity: f.Severity}
				byShape[k] = g
				order = append(order, g)
			}
			g.findings = append(g.findings, f)
			if n := len(g.conns); n == 0 || g.conns[n-1] != c.id {
				g.conns = append(g.conns, c.id)
			}
		}
	}
	var groups []*group
	byFinding := map[*analyze.Finding]*group{}
	for _, g := range order {
		if len(g.findings) <= groupMin || len(g.conns) < 2 {
			continue
		}
		groups = append(groups, g)
		for _, f := range g.findings {
			byFinding[f] = g
		}
	}
	sort.SliceStable(groups, func(i, j int) bool {
		a, b := groups[i], groups[j]
		if a.severity != b.severity {
			return a.severity > b.severity
		}
		if len(a.findings) != len(b.findings) {
			return len(a.findings) > len(b.findings)
		}
		return a.rule < b.rule
	})
	return groups, byFinding
}

// worst are a group's examples: the longest measured durations first, then
// the earliest.
func (g *group) worst(n int) []*analyze.Finding {
	fs := append([]*analyze.Finding(nil), g.findings...)
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Duration != fs[j].Duration {
			return fs[i].Duration > fs[j].Duration
		}
		return fs[i].Time.Before(fs[j].Time)
	})
	return fs[:min(n, len(fs))]
}

// maxListedConns bounds the connection ids printed in one list.
const maxListedConns = 12

// connList is "1, 2, 3, … 758 more".
func connList(ids []uint64) string {
	var s []string
	for i, id := range ids {
		if i == maxListedConns {
			s = append(s, fmt.Sprintf("… %d more", len(ids)-i))
			break
		}
		s = append(s, fmt.Sprint(id))
	}
	return strings.Join(s, ", ")
}

func (r *textRenderer) writeGroups(groups []*group) {
	if len(groups) == 0 {
		return
	}
	w, p := r.w, r.p
	fmt.Fprintf(w, "\n%s %s\n", p.head(repeatedTitle), p.dim("the same finding on several connections; --verbose prints each one"))
	for _, g := range groups {
		fmt.Fprintf(w, "  %s %s  %s on %s\n", p.sev(g.severity), p.bold(g.rule), nof(len(g.findings), "finding"), nof(len(g.conns), "connection"))
		fmt.Fprintf(w, "      %s %s\n", p.dim("connections:"), connList(g.conns))
		ex := g.worst(groupExamples)
		fmt.Fprintf(w, "      %s\n", p.dim(fmt.Sprintf("%s (longest first):", nof(len(ex), "example"))))
		for _, f := range ex {
			fmt.Fprintf(w, "      %s%s\n", p.bold(fmt.Sprintf("conn %d", f.Conn.ID)), r.evidence(f))
			fmt.Fprintf(w, "          %s\n", f.Message)
		}
		if h := ex[0].Hint; h != "" {
			fmt.Fprintf(w, "      %s %s\n", p.dim("hint:"), h)
		}
	}
}

// nof is a count with its noun: "1 finding", "2 findings".
func nof[T ~int | ~int64 | ~uint64](n T, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
