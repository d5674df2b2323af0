package settings

import (
	"fmt"
	"strings"

	"github.com/connlint/connlint/analyze/suite"
)

// ResolveRule turns what a person typed into a rule ID: an exact ID, or one
// that differs only in case (NAGLE-DELAYED-ACK). Anything else is an error
// that suggests the IDs the person probably meant, on one line.
func ResolveRule(typed string) (string, error) {
	if suite.Lookup(typed) != nil {
		return typed, nil
	}
	for _, id := range suite.IDs() {
		if strings.EqualFold(id, typed) {
			return id, nil
		}
	}
	msg := fmt.Sprintf("unknown rule %q", typed)
	if s := SuggestRules(typed); len(s) > 0 {
		msg += "; did you mean " + orList(s) + "?"
	}
	return "", fmt.Errorf("%s (connlint rules lists them)", msg)
}

// SuggestRules lists rule IDs close to typed: those it is a prefix or a part
// of (explain nagle → nagle-delayed-ack), and those within a few edits of
// it (delayed-ack-stal), best first, at most four.
func SuggestRules(typed string) []string {
	t := strings.ToLower(strings.TrimSpace(typed))
	if t == "" {
		return nil
	}
	var prefix, sub, near []string
	for _, id := range suite.IDs() {
		switch {
		case strings.HasPrefix(id, t):
			prefix = append(prefix, id)
		case strings.Contains(id, t) || len(t) > 3 && strings.Contains(t, id):
			sub = append(sub, id)
		case levenshtein(t, id) <= max(2, len(id)/4):
			near = append(near, id)
		}
	}
	out := append(append(prefix, sub...), near...)
	if len(out) > 4 {
		out = out[:4]
	}
	return out
}

// orList words a list as "a", "a or b", "a, b or c".
func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// levenshtein is the edit distance between a and b (bytes: rule IDs are ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// RuleCompletions are the rule IDs with their titles, for shell completion
// ("id\ttitle" is cobra's way to show a description beside a candidate).
func RuleCompletions() []string {
	var out []string
	for _, r := range suite.Rules {
		out = append(out, r.ID+"\t"+r.Title)
	}
	return out
}
