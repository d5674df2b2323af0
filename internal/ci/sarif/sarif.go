// Package sarif writes a run as SARIF 2.1.0 (OASIS), the format GitHub code
// scanning and other result viewers import, using owenrumney/go-sarif's
// model.
//
// Mapping:
//   - one run; tool.driver has name, version, informationUri and one
//     rule entry per enabled rule: id, shortDescription (title),
//     fullDescription (the page's first paragraph), helpUri (the rule
//     page), defaultConfiguration.level;
//   - severity → level: error → "error", warning → "warning", info → "note";
//   - one result per finding: ruleId/ruleIndex, level, message (message,
//     evidence line, hint), a location whose artifactLocation.uri is the
//     capture file (relative paths stay relative) and whose logical location
//     is the connection ("client → server", kind "connection", with the
//     transaction in its fully qualified name), partialFingerprints
//     "connlint/v1" (see ci.Fingerprints), and properties: frames (file and
//     number), time, duration_ms, connection, transaction, related, hint,
//     attrs;
//   - capture files are listed as run artifacts;
//   - one invocation: executionSuccessful is false when an input could not
//     be read, and each such input is a toolExecutionNotification (level
//     error) located at the file.
//
// A pcap has no lines, so locations carry no region.
package sarif

import (
	"io"
	"net/url"
	"strconv"

	"github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// FingerprintName is the partialFingerprints key of connlint's stable
// finding fingerprint; the version changes if the key's recipe does.
const FingerprintName = "connlint/v1"

// Level maps a severity to a SARIF level.
func Level(s analyze.Severity) string {
	switch s {
	case analyze.Error:
		return sarif.LevelError
	case analyze.Warning:
		return sarif.LevelWarning
	}
	return sarif.LevelNote
}

// URI turns a file path as given into a SARIF URI reference: relative
// paths stay relative, characters a URI cannot hold are percent-encoded.
func URI(path string) string {
	u := url.URL{Path: path}
	return u.String()
}

// Write writes in as one SARIF 2.1.0 log, indented.
func Write(w io.Writer, in *ci.Input) error {
	rep := sarif.NewReport()
	rep.AddRun(build(in))
	return rep.PrettyWrite(w)
}

func build(in *ci.Input) *sarif.Run {
	run := sarif.NewRun()
	run.Tool = sarif.NewTool()
	run.Tool.Driver = sarif.NewToolComponent().WithName(in.Tool.Name)
	if in.Tool.Version != "" {
		run.Tool.Driver.WithVersion(in.Tool.Version)
	}
	if in.Tool.InfoURI != "" {
		run.Tool.Driver.WithInformationURI(in.Tool.InfoURI)
	}
	for _, r := range in.Rules {
		addRule(run, r)
	}
	for _, file := range in.Inputs {
		run.AddDistinctArtifact(URI(file))
	}

	findings := ci.Sorted(in.Findings)
	fps := ci.Fingerprints(findings)
	for i, f := range findings {
		if run.GetRuleIndex(f.Rule) < 0 {
			// A finding of a rule the caller did not describe still
			// needs a rule entry for its ruleIndex.
			addRule(run, ci.RuleMeta{ID: f.Rule, Severity: f.Severity, HelpURI: ci.HelpURI(f.Rule)})
		}
		res := run.CreateResultForRule(f.Rule).
			WithLevel(Level(f.Severity)).
			WithMessage(sarif.NewTextMessage(ci.Report(in, f))).
			WithPartialFingerprints(map[string]string{FingerprintName: fps[i]})
		res.AddLocation(location(in, f))
		res.WithProperties(properties(in, f))
	}

	inv := sarif.NewInvocation().WithExecutionSuccessful(len(in.Errors) == 0)
	for _, e := range in.Errors {
		n := sarif.NewNotification().
			WithLevel(sarif.LevelError).
			WithMessage(sarif.NewTextMessage(e.File + ": " + e.Message))
		n.Locations = append(n.Locations, sarif.NewLocationWithPhysicalLocation(
			sarif.NewPhysicalLocation().WithArtifactLocation(sarif.NewSimpleArtifactLocation(URI(e.File)))))
		inv.ToolExecutionNotifications = append(inv.ToolExecutionNotifications, n)
	}
	run.AddInvocation(inv)
	return run
}

func addRule(run *sarif.Run, r ci.RuleMeta) {
	d := run.AddRule(r.ID).
		WithDefaultConfiguration(sarif.NewReportingConfiguration().WithLevel(Level(r.Severity)))
	if r.Title != "" {
		d.WithShortDescription(sarif.NewMultiformatMessageString().WithText(r.Title))
	}
	if r.Description != "" {
		d.WithFullDescription(sarif.NewMultiformatMessageString().WithText(r.Description))
	}
	if r.HelpURI != "" {
		d.WithHelpURI(r.HelpURI)
	}
}

func location(in *ci.Input, f *analyze.Finding) *sarif.Location {
	loc := sarif.NewLocation()
	if file := in.File(f); file != "" {
		loc.WithPhysicalLocation(sarif.NewPhysicalLocation().
			WithArtifactLocation(sarif.NewSimpleArtifactLocation(URI(file))))
	}
	if name := ci.ConnName(f); name != "" {
		fq := name
		if f.Transaction > 0 {
			fq += " tx " + strconv.Itoa(f.Transaction)
		}
		loc.LogicalLocations = append(loc.LogicalLocations,
			sarif.NewLogicalLocation().WithName(name).WithFullyQualifiedName(fq).WithKind("connection"))
	}
	return loc
}

// properties carries the evidence for machines, named as the JSON output
// names it (docs/json.md), with frames naming their file.
func properties(in *ci.Input, f *analyze.Finding) *sarif.PropertyBag {
	p := sarif.NewPropertyBag()
	frames := make([]map[string]any, 0, len(f.Frames))
	for _, fr := range f.Frames {
		m := map[string]any{"frame": fr.Frame}
		if fr.Input >= 0 && fr.Input < len(in.Inputs) {
			m["file"] = in.Inputs[fr.Input]
		}
		frames = append(frames, m)
	}
	p.Add("frames", frames)
	if t := ci.Timestamp(f.Time); t != "" {
		p.Add("time", t)
	}
	if f.Duration > 0 {
		p.Add("duration_ms", ci.MS(f.Duration))
	}
	if f.Conn.ID != 0 {
		p.Add("connection", connRef(f.Conn))
	}
	if f.Transaction > 0 {
		p.Add("transaction", f.Transaction)
	}
	if len(f.Related) > 0 {
		rel := make([]map[string]any, len(f.Related))
		for i, r := range f.Related {
			rel[i] = connRef(r)
		}
		p.Add("related", rel)
	}
	if f.Hint != "" {
		p.Add("hint", f.Hint)
	}
	if len(f.Attrs) > 0 {
		p.Add("attrs", f.Attrs)
	}
	return p
}

func connRef(c analyze.ConnRef) map[string]any {
	m := map[string]any{"id": c.ID}
	if c.Client.IsValid() {
		m["client"] = c.Client.String()
	}
	if c.Server.IsValid() {
		m["server"] = c.Server.String()
	}
	return m
}
