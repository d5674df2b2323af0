// Package junit writes a run as JUnit XML (the testsuites/testsuite/
// testcase dialect GitLab's unit test reports and Jenkins read), using
// go-junit-report's junit model.
//
// Layout (decided so that CI shows both what failed and that rules ran):
//   - one <testsuite> per capture file, named by the file as given;
//   - one <testcase> per rule per connection that has findings, named
//     "<rule> <client> → <server>" with classname = rule ID; a
//     cross-connection finding is named by its client IP and server;
//     several findings of one rule on one connection share the test case;
//   - the test case fails (<failure>) when one of its findings is at or
//     above Input.FailOn (the --fail-on gate): message = the worst
//     finding's message, type = its severity, body = every finding's
//     message, evidence and hint. Findings below the gate make a passing
//     test case whose <system-out> carries them, so they stay visible;
//   - one passing <testcase> named by the rule ID for each enabled rule
//     that found nothing in that file;
//   - an unreadable input is a test case "read <file>" with an <error>, in
//     its file's suite (or a suite of its own when nothing of it was read);
//   - findings whose file cannot be told (no frames, several inputs) go to
//     a suite named "(several inputs)".
package junit

import (
	"encoding/xml"
	"io"
	"strconv"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// SeveralInputs names the suite of findings not tied to one capture file.
const SeveralInputs = "(several inputs)"

// Write writes in as one <testsuites> document with an XML declaration.
func Write(w io.Writer, in *ci.Input) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	s := Build(in)
	return s.WriteXML(w)
}

// group is one rule on one connection within one file.
type group struct {
	rule, conn string
	findings   []*analyze.Finding
}

// suite collects one file's groups in order of their first finding.
type suite struct {
	name   string
	groups []*group
	index  map[[2]string]*group
	errs   []ci.InputError
}

func (s *suite) add(f *analyze.Finding) {
	k := [2]string{f.Rule, ci.ConnName(f)}
	g := s.index[k]
	if g == nil {
		g = &group{rule: k[0], conn: k[1]}
		s.index[k] = g
		s.groups = append(s.groups, g)
	}
	g.findings = append(g.findings, f)
}

// Build returns the JUnit model of a run, for callers that want to merge
// it with other test results before writing.
func Build(in *ci.Input) junit.Testsuites {
	var order []*suite
	byName := map[string]*suite{}
	get := func(name string) *suite {
		s := byName[name]
		if s == nil {
			s = &suite{name: name, index: map[[2]string]*group{}}
			byName[name] = s
			order = append(order, s)
		}
		return s
	}
	for _, file := range in.Inputs {
		get(file)
	}
	for _, f := range ci.Sorted(in.Findings) {
		file := in.File(f)
		if file == "" {
			file = SeveralInputs
		}
		get(file).add(f)
	}
	for _, e := range in.Errors {
		s := get(e.File)
		s.errs = append(s.errs, e)
	}

	readable := map[string]bool{}
	for _, file := range in.Inputs {
		readable[file] = true
	}
	out := junit.Testsuites{Name: tool(in)}
	for i, s := range order {
		ts := junit.Testsuite{Name: s.name, ID: i, Time: "0"}
		if s.name != SeveralInputs {
			ts.File = s.name
		}
		for _, e := range s.errs {
			ts.AddTestcase(junit.Testcase{
				Name: "read " + e.File, Classname: tool(in), Time: "0",
				Error: &junit.Result{Message: clean(e.Message), Type: "read error", Data: clean(e.File + ": " + e.Message)},
			})
		}
		fired := map[string]bool{}
		for _, g := range s.groups {
			fired[g.rule] = true
			ts.AddTestcase(testcase(in, g))
		}
		// Rules ran on the files in Inputs only: a file that could
		// not be read at all lists no rules as passed.
		if readable[s.name] {
			for _, r := range in.Rules {
				if !fired[r.ID] {
					ts.AddTestcase(junit.Testcase{Name: r.ID, Classname: r.ID, Time: "0"})
				}
			}
		}
		out.AddSuite(ts)
	}
	return out
}

func testcase(in *ci.Input, g *group) junit.Testcase {
	name := g.rule
	if g.conn != "" {
		name += " " + g.conn
	}
	tc := junit.Testcase{Name: name, Classname: g.rule, Time: "0"}
	worst := g.findings[0]
	reports := make([]string, len(g.findings))
	for i, f := range g.findings {
		if f.Severity > worst.Severity {
			worst = f
		}
		reports[i] = f.Severity.String() + " " + f.Rule + ": " + ci.Report(in, f)
	}
	body := clean(strings.Join(reports, "\n\n"))
	if in.FailOn != 0 && worst.Severity >= in.FailOn {
		msg := worst.Message
		if n := len(g.findings); n > 1 {
			msg = strconv.Itoa(n) + " findings; " + msg
		}
		tc.Failure = &junit.Result{Message: clean(msg), Type: worst.Severity.String(), Data: body}
	} else {
		tc.SystemOut = &junit.Output{Data: body}
	}
	return tc
}

// clean drops what XML 1.0 cannot carry (control characters other than
// tab and newline, invalid UTF-8): encoding/xml escapes attributes, but
// writes CDATA as given, and a parser rejects the whole file for one such
// byte.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF:
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func tool(in *ci.Input) string {
	if in.Tool.Name == "" {
		return "connlint"
	}
	return in.Tool.Name
}
