// Package ci holds what the CI output formats (subpackages sarif, junit,
// github, gitlab) and baselines share: one plain Input describing a run,
// and the few ways of naming a finding they all need (its capture file, its
// connection, its evidence, and a key that survives re-recording).
//
// Each format is a function Write(w io.Writer, in *ci.Input) error that
// reads only this package's Input and analyze's output model, so the
// command side can register it as a --format without further glue.
package ci

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
)

// RuleDocsBase is where rule pages are published: HelpURI appends
// "<id>.md". SARIF help URIs, JUnit and the GitHub summary link there.
const RuleDocsBase = "https://github.com/connlint/connlint/blob/main/docs/rules/"

// HelpURI is the published page of a rule.
func HelpURI(id string) string { return RuleDocsBase + id + ".md" }

// Tool names the program that produced the findings.
type Tool struct {
	Name    string // "connlint"
	Version string // as `connlint version` prints it
	InfoURI string // project home page
}

// RuleMeta describes one enabled rule. Formats list every rule given here
// (SARIF rule entries, JUnit passing test cases), not only those that fired.
type RuleMeta struct {
	ID          string
	Severity    analyze.Severity // default severity
	Title       string           // one line, no capital, no period
	Description string           // the page's "What it means" first paragraph, one line
	HelpURI     string
}

// InputError is an input that could not be read (or was cut short): the
// formats report it as a tool failure, never silently drop it.
type InputError struct {
	File    string
	Message string
}

// Input is one run as the CI formats see it.
type Input struct {
	Tool Tool
	// Inputs are the capture files, as given on the command line (relative
	// paths stay relative: CI systems resolve them against the checkout).
	// analyze.Frame.Input indexes this slice.
	Inputs []string
	Rules  []RuleMeta
	// Findings in any order; formats sort a copy (see Sorted).
	Findings []*analyze.Finding
	// Origin, when set, names the input of findings that have no frames
	// (cross-connection findings of a lint run, where each file is analysed
	// on its own), as an index into Inputs.
	Origin map[*analyze.Finding]int
	Errors []InputError
	// FailOn is the gate (--fail-on): findings at or above it fail. Zero
	// means none does (--fail-on none). Only formats with a pass/fail notion
	// per item (JUnit) read it.
	FailOn analyze.Severity
}

// Rule returns the metadata of a rule, and false when the rule is not in
// in.Rules (a finding of a rule the caller did not describe).
func (in *Input) Rule(id string) (RuleMeta, bool) {
	for _, r := range in.Rules {
		if r.ID == id {
			return r, true
		}
	}
	return RuleMeta{}, false
}

// File is the capture file a finding's evidence is in: the input of its
// first frame, or the only input. "" when that cannot be told (no frames
// and several inputs).
func (in *Input) File(f *analyze.Finding) string {
	if len(f.Frames) > 0 {
		if i := f.Frames[0].Input; i >= 0 && i < len(in.Inputs) {
			return in.Inputs[i]
		}
		return ""
	}
	if i, ok := in.Origin[f]; ok && i >= 0 && i < len(in.Inputs) {
		return in.Inputs[i]
	}
	if len(in.Inputs) == 1 {
		return in.Inputs[0]
	}
	return ""
}

// Sorted returns the findings ordered by time, connection, transaction and
// rule (the order the text and JSON renderers use), without changing the
// slice given.
func Sorted(fs []*analyze.Finding) []*analyze.Finding {
	out := append([]*analyze.Finding(nil), fs...)
	analyze.SortFindings(out)
	return out
}

// Timestamp formats a capture time as the JSON output does (UTC, µs).
func Timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// MS is a duration in milliseconds rounded to 1 µs, as JSON prints it.
func MS(d time.Duration) float64 {
	return float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
}

// Pair is the client and server a finding is about: its connection, or
// for cross-connection findings (zero Conn) the first related one.
func Pair(f *analyze.Finding) (analyze.ConnRef, bool) {
	if f.Conn.ID != 0 || f.Conn.Server.IsValid() {
		return f.Conn, true
	}
	if len(f.Related) > 0 {
		return f.Related[0], true
	}
	return analyze.ConnRef{}, false
}

// ConnName names the connection of a finding as "client → server"; a
// cross-connection finding is named by its client IP (the port differs
// from connection to connection) and server. "" when it has neither.
func ConnName(f *analyze.Finding) string {
	c, ok := Pair(f)
	if !ok {
		return ""
	}
	client := addrPort(c.Client)
	if f.Conn.ID == 0 && c.Client.IsValid() {
		client = c.Client.Addr().Unmap().String()
	}
	return client + " → " + addrPort(c.Server)
}

func addrPort(a netip.AddrPort) string {
	if !a.IsValid() {
		return "?"
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()).String()
}

// Evidence is the one-line evidence of a finding: frames (with their
// capture file), capture time, measured duration, connection and
// transaction. in may be nil (no file names then).
func Evidence(in *Input, f *analyze.Finding) string {
	var parts []string
	if len(f.Frames) > 0 {
		nums := make([]string, len(f.Frames))
		for i, fr := range f.Frames {
			nums[i] = strconv.FormatInt(fr.Frame, 10)
		}
		s := "frames "
		if len(nums) == 1 {
			s = "frame "
		}
		s += strings.Join(nums, ", ")
		if in != nil {
			if file := in.File(f); file != "" {
				s += " of " + file
			}
		}
		parts = append(parts, s)
	}
	if !f.Time.IsZero() {
		parts = append(parts, "at "+Timestamp(f.Time))
	}
	if f.Duration > 0 {
		parts = append(parts, "duration "+strconv.FormatFloat(MS(f.Duration), 'f', -1, 64)+" ms")
	}
	if c := ConnName(f); c != "" {
		s := "connections " + c
		if f.Conn.ID != 0 {
			s = "connection " + strconv.FormatUint(f.Conn.ID, 10) + " (" + c + ")"
		}
		if f.Transaction > 0 {
			s += " transaction " + strconv.Itoa(f.Transaction)
		}
		parts = append(parts, s)
	}
	if n := len(f.Related); n > 0 && f.Conn.ID == 0 {
		parts = append(parts, fmt.Sprintf("%d related connections", n))
	}
	return strings.Join(parts, "; ")
}

// Report is the full text of a finding for formats that have one text
// field (SARIF message, JUnit failure body, GitHub annotation): the
// message, the evidence line and the hint, one per line.
func Report(in *Input, f *analyze.Finding) string {
	s := f.Message
	if e := Evidence(in, f); e != "" {
		s += "\nevidence: " + e
	}
	if f.Hint != "" {
		s += "\nhint: " + f.Hint
	}
	return s
}

// SeverityOrder lists severities from the worst down.
var SeverityOrder = []analyze.Severity{analyze.Error, analyze.Warning, analyze.Info}
