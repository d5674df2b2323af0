package ci

import (
	"strings"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/docs"
)

// NewRuleMeta describes a rule from its catalogue entry (id, default
// severity, title) and its embedded page (docs/rules/<id>.md): the full
// description is the page's "What it means" first paragraph. A rule with
// no page gets its title as description rather than an error, so a
// missing page never breaks a CI report (the docs tests catch it).
func NewRuleMeta(id string, sev analyze.Severity, title string) RuleMeta {
	m := RuleMeta{ID: id, Severity: sev, Title: title, Description: title, HelpURI: HelpURI(id)}
	if page, err := docs.RulePage(id); err == nil {
		if d := Describe(page); d != "" {
			m.Description = d
		}
	}
	return m
}

// Describe returns the first paragraph under a rule page's "## What it
// means" heading (or, without that heading, the first paragraph after the
// title), joined into one line.
func Describe(page string) string {
	lines := strings.Split(page, "\n")
	start := 0
	for i, l := range lines {
		if strings.TrimSpace(l) == "## What it means" {
			start = i + 1
			break
		}
	}
	var para []string
	for _, l := range lines[start:] {
		t := strings.TrimSpace(l)
		switch {
		case t == "" && len(para) > 0:
			return strings.Join(para, " ")
		case t == "", strings.HasPrefix(t, "#"):
			if len(para) > 0 {
				return strings.Join(para, " ")
			}
			continue
		default:
			para = append(para, t)
		}
	}
	return strings.Join(para, " ")
}
