// Package github writes a run for GitHub Actions: workflow commands that
// the runner turns into annotations (Write), and a Markdown summary for
// $GITHUB_STEP_SUMMARY (WriteSummary).
//
// One command per finding, "::<level> file=<capture>,title=<rule>
// <connection>::<message, evidence, hint>", with level error → error,
// warning → warning, info → notice; one "::error" per unreadable input.
// No line is given: a capture file has none. Values are escaped as
// actions/toolkit's command.ts does it: the message (data) % → %25,
// CR → %0D, LF → %0A; properties additionally : → %3A and , → %2C.
package github

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// Command maps a severity to its workflow command.
func Command(s analyze.Severity) string {
	switch s {
	case analyze.Error:
		return "error"
	case analyze.Warning:
		return "warning"
	}
	return "notice"
}

var (
	dataEscaper     = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A")
	propertyEscaper = strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C")
)

// EscapeData escapes a command's message.
func EscapeData(s string) string { return dataEscaper.Replace(s) }

// EscapeProperty escapes a command property's value.
func EscapeProperty(s string) string { return propertyEscaper.Replace(s) }

// command formats one workflow command; properties with empty values are
// left out, as the toolkit does.
func command(name string, props [][2]string, msg string) string {
	var b strings.Builder
	b.WriteString("::" + name)
	sep := " "
	for _, p := range props {
		if p[1] == "" {
			continue
		}
		b.WriteString(sep + p[0] + "=" + EscapeProperty(p[1]))
		sep = ","
	}
	b.WriteString("::" + EscapeData(msg) + "\n")
	return b.String()
}

// Write prints one workflow command per unreadable input, then one per
// finding in time order.
func Write(w io.Writer, in *ci.Input) error {
	bw := bufio.NewWriter(w)
	for _, e := range in.Errors {
		bw.WriteString(command("error", [][2]string{{"file", e.File}, {"title", tool(in) + ": unreadable input"}}, e.Message))
	}
	for _, f := range ci.Sorted(in.Findings) {
		title := f.Rule
		if c := ci.ConnName(f); c != "" {
			title += " " + c
		}
		bw.WriteString(command(Command(f.Severity), [][2]string{{"file", in.File(f)}, {"title", title}}, ci.Report(in, f)))
	}
	return bw.Flush()
}

// exampleLen bounds the example message in the summary table, in runes.
const exampleLen = 120

// example is a finding's message, shortened, then where it was: the
// connection (unless the message names it already) and the capture file,
// separated by "; " as file names may hold commas.
func example(in *ci.Input, f *analyze.Finding) string {
	var where []string
	if c := ci.ConnName(f); c != "" && !strings.Contains(f.Message, c) {
		where = append(where, c)
	}
	if file := in.File(f); file != "" {
		where = append(where, file)
	}
	s := truncate(f.Message, exampleLen)
	if len(where) > 0 {
		s += " (" + strings.Join(where, "; ") + ")"
	}
	return s
}

// WriteSummary writes a Markdown summary: a headline, the gate's verdict,
// a table with one row per rule that fired (rule linked to its page,
// severity, count, the first finding as example), worst severity first,
// and the inputs that could not be read. The command side appends it to
// the file $GITHUB_STEP_SUMMARY names.
func WriteSummary(w io.Writer, in *ci.Input) error {
	bw := bufio.NewWriter(w)
	name := tool(in)
	findings := ci.Sorted(in.Findings)
	fmt.Fprintf(bw, "### %s: %s in %s\n\n", name, plural(len(findings), "finding"), plural(len(in.Inputs), "capture file"))

	if in.FailOn != 0 {
		n := 0
		for _, f := range findings {
			if f.Severity >= in.FailOn {
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(bw, "**Failed:** %s at or above %s.\n\n", plural(n, "finding"), in.FailOn)
		} else {
			fmt.Fprintf(bw, "**Passed:** no finding at or above %s.\n\n", in.FailOn)
		}
	}

	type row struct {
		rule    string
		sev     analyze.Severity
		count   int
		example *analyze.Finding
	}
	rows := map[string]*row{}
	var order []*row
	for _, f := range findings {
		r := rows[f.Rule]
		if r == nil {
			r = &row{rule: f.Rule, example: f}
			rows[f.Rule] = r
			order = append(order, r)
		}
		r.count++
		if f.Severity > r.sev {
			r.sev = f.Severity
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, b := order[i], order[j]
		if a.sev != b.sev {
			return a.sev > b.sev
		}
		if a.count != b.count {
			return a.count > b.count
		}
		return a.rule < b.rule
	})
	if len(order) > 0 {
		bw.WriteString("| Rule | Severity | Count | Example |\n| --- | --- | ---: | --- |\n")
		for _, r := range order {
			link := ci.HelpURI(r.rule)
			if m, ok := in.Rule(r.rule); ok && m.HelpURI != "" {
				link = m.HelpURI
			}
			fmt.Fprintf(bw, "| [%s](%s) | %s | %d | %s |\n", cell(r.rule), link, r.sev, r.count, cell(example(in, r.example)))
		}
		bw.WriteString("\n")
	}

	if len(in.Errors) > 0 {
		bw.WriteString("**Could not read:**\n\n")
		for _, e := range in.Errors {
			fmt.Fprintf(bw, "- %s: %s\n", cell(e.File), cell(e.Message))
		}
		bw.WriteString("\n")
	}
	return bw.Flush()
}

// cellEscaper keeps text inside one table cell and out of HTML: GitHub
// renders tags in Markdown, and | ends a cell even inside backticks.
var cellEscaper = strings.NewReplacer("|", `\|`, "\r\n", " ", "\n", " ", "\r", " ", "&", "&amp;", "<", "&lt;", ">", "&gt;")

func cell(s string) string { return cellEscaper.Replace(s) }

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func tool(in *ci.Input) string {
	if in.Tool.Name == "" {
		return "connlint"
	}
	return in.Tool.Name
}
