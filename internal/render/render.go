// Package render turns analyze's output model (Finding, ConnReport,
// Summary) into the output formats. One registry (Formats) drives the
// --format flag's validation, its help text and the dispatch, so a format is
// added in one file plus one line in Formats. Renderers read only analyze's
// output model.
package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/connlint/connlint/analyze"
)

// Result is what one analysis run produced, for the end of a report.
type Result struct {
	Inputs  []string
	Summary *analyze.Summary
	// ReadErr is the damage met while reading (nil when every input was
	// read to its end).
	ReadErr error
	// Live holds a live capture's own counts (nil for files).
	Live *LiveCounts
}

// LiveCounts are what a live capture adds to the summary.
type LiveCounts struct {
	Captured     int64 // packets read from libpcap (tcpdump's "captured")
	QueueDropped int64 // captured, but dropped because the analysis fell behind
	// Withheld counts findings not reported because their connection lost
	// packets to a kernel or queue drop (treated as a capture gap).
	Withheld int64
}

// Renderer is an analyze.Sink that also writes the end of the report.
// Finish returns the first error met writing (see Writer).
type Renderer interface {
	analyze.Sink
	Finish(res *Result) error
}

// Options are what a renderer may be told besides where to write.
type Options struct {
	Inputs []string // the run's inputs, to name files in evidence
	Color  bool     // text: ANSI colour
	All    bool     // text: every TCP connection and every finding in full
	// Verbose: text prints every finding in full, instead of grouping the
	// ones repeated across connections and folding repeats within one.
	Verbose bool
	// Width: text wraps lines to this many columns (the terminal's); 0 means
	// no wrapping (stdout is not a terminal).
	Width int
	Live  bool // a live capture (sniff): print findings the moment they are found

	// Version is connlint's version (JSON and the CI formats name it).
	Version string
	// Config says which rules ran and at what severity (the CI formats
	// list every enabled rule); nil means every rule at its default.
	Config *analyze.Config
	// FailOn is the gate (JUnit failures, the GitHub summary's verdict);
	// 0 when nothing fails the run.
	FailOn analyze.Severity
	// Info is what the command learns while running (config file,
	// suppressions, baseline); JSON reports it. May be nil.
	Info *Info
}

// Batch renders a lint run: one analysis per input file, into one output.
type Batch interface {
	// File starts the report of one file; its Finish ends it.
	File(path string, inputs []string) Renderer
	// Close ends the run's output and returns the first write error.
	Close() error
}

// Format is one output format.
type Format struct {
	Name string
	Help string // a few words for --help
	// Streams says the format writes each finding as soon as it is found,
	// rather than at the end: what a pipe or a live capture wants.
	Streams bool
	// New renders one analysis (analyze, sniff).
	New func(w io.Writer, o Options) Renderer
	// NewBatch renders a lint run.
	NewBatch func(w io.Writer, o Options) Batch
}

// Formats is the registry, in the order help lists them.
var Formats = []*Format{
	{Name: "text", Help: "a report for people", New: newText, NewBatch: newTextBatch},
	{Name: "json", Help: "one JSON document (docs/json.md)", New: newJSONFormat, NewBatch: newJSONBatch},
	{Name: "ndjson", Help: "one JSON finding per line, as found", Streams: true, New: newNDJSON, NewBatch: newNDJSONBatch},
	{Name: "sarif", Help: "SARIF 2.1.0 for code scanning (docs/ci.md)", New: newSARIF, NewBatch: newSARIFBatch},
	{Name: "junit", Help: "JUnit XML test report", New: newJUnit, NewBatch: newJUnitBatch},
	{Name: "github", Help: "GitHub Actions annotations (+ job summary)", New: newGitHub, NewBatch: newGitHubBatch},
	{Name: "gitlab", Help: "GitLab Code Quality JSON", New: newGitLab, NewBatch: newGitLabBatch},
}

// ErrorSink is a Batch that records inputs that could not be opened at
// all, so the output names them instead of dropping them.
type ErrorSink interface {
	Unreadable(path string, err error)
}

// Lookup finds a format by name; nil when there is none.
func Lookup(name string) *Format {
	for _, f := range Formats {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// Names lists the format names as prose: "text, json or ndjson".
func Names() string {
	var b strings.Builder
	for i, f := range Formats {
		switch {
		case i == 0:
		case i == len(Formats)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
	}
	return b.String()
}

// FlagHelp is the --format flag's usage line.
func FlagHelp() string { return "output format: " + Names() }

// Check validates a --format value.
func Check(name string) error {
	if Lookup(name) == nil {
		return fmt.Errorf("unknown --format %q (want %s)", name, Names())
	}
	return nil
}
