// Package gitlab writes a run as a GitLab Code Quality report: a JSON array
// of issues (description, check_name, fingerprint, severity, location with
// path and lines.begin), the subset of the Code Climate issue format GitLab
// reads from an artifacts:reports:codequality file.
//
// Severity mapping (GitLab's scale is info, minor, major, critical,
// blocker): info → info, warning → major, error → critical. A warning is a
// cost paid on every affected request (latency, resources), which is what
// "major" means to a reviewer; an error loses or corrupts data, "critical".
// minor and blocker are not used. An unreadable input is an issue of its
// own, check_name "unreadable-input", severity critical: nothing in it was
// checked.
//
// location.path is the capture file (the first input when a finding's file
// cannot be told, since GitLab requires a path) and lines.begin the first
// evidence frame's number: a capture has no lines, and the frame is what a
// reader opens in Wireshark. The fingerprint is ci.Fingerprints': stable
// across re-recordings and distinct for each occurrence, as GitLab shows
// only the first issue of a fingerprint.
package gitlab

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// Issue is one Code Quality entry.
type Issue struct {
	Description string   `json:"description"`
	CheckName   string   `json:"check_name"`
	Fingerprint string   `json:"fingerprint"`
	Severity    string   `json:"severity"`
	Location    Location `json:"location"`
}

// Location is where an issue is: a file and a line.
type Location struct {
	Path  string `json:"path"`
	Lines Lines  `json:"lines"`
}

// Lines holds the first line of an issue.
type Lines struct {
	Begin int64 `json:"begin"`
}

// UnreadableCheck is the check_name of an unreadable input.
const UnreadableCheck = "unreadable-input"

// Severity maps a connlint severity to GitLab's.
func Severity(s analyze.Severity) string {
	switch s {
	case analyze.Error:
		return "critical"
	case analyze.Warning:
		return "major"
	}
	return "info"
}

// Issues converts a run: unreadable inputs first, then findings in time
// order.
func Issues(in *ci.Input) []Issue {
	out := []Issue{}
	for _, e := range in.Errors {
		sum := sha256.Sum256([]byte(UnreadableCheck + " " + e.File))
		out = append(out, Issue{
			Description: oneLine(e.File + " could not be read: " + e.Message),
			CheckName:   UnreadableCheck,
			Fingerprint: hex.EncodeToString(sum[:]),
			Severity:    "critical",
			Location:    Location{Path: e.File, Lines: Lines{Begin: 1}},
		})
	}
	findings := ci.Sorted(in.Findings)
	fps := ci.Fingerprints(findings)
	for i, f := range findings {
		path := in.File(f)
		if path == "" && len(in.Inputs) > 0 {
			path = in.Inputs[0]
		}
		line := int64(1)
		if len(f.Frames) > 0 && f.Frames[0].Frame > 0 {
			line = f.Frames[0].Frame
		}
		desc := f.Message
		if e := ci.Evidence(in, f); e != "" {
			desc += " (" + e + ")"
		}
		out = append(out, Issue{
			Description: oneLine(desc),
			CheckName:   f.Rule,
			Fingerprint: fps[i],
			Severity:    Severity(f.Severity),
			Location:    Location{Path: path, Lines: Lines{Begin: line}},
		})
	}
	return out
}

// Write writes the report, indented; an empty run is "[]".
func Write(w io.Writer, in *ci.Input) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(Issues(in))
}

// oneLine joins a multi-line message: the merge request widget shows the
// description on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
