// Package docs embeds the rule pages (docs/rules/<id>.md) so that
// `connlint explain RULE` prints them from the binary.
package docs

import (
	"embed"
	"io/fs"
)

//go:embed rules/*.md
var rules embed.FS

// RulePage returns the Markdown page of a rule.
func RulePage(id string) (string, error) {
	b, err := fs.ReadFile(rules, "rules/"+id+".md")
	return string(b), err
}
