package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintClosingLine: lint's text ends with files, findings by severity
// and the gate's verdict; --fail-on none never fails on findings.
func TestLintClosingLine(t *testing.T) {
	needFile(t, labNagle)
	cases := []struct {
		args []string
		code int
		last string
	}{
		{[]string{"--fail-on", "warning", labNagle}, exitFindings, "1 file, 11 findings (11 warnings): failed: 11 at or above warning"},
		{[]string{"--fail-on", "error", labNagle}, exitOK, "1 file, 11 findings (11 warnings): passed (none at or above error)"},
		{[]string{"--fail-on", "none", labNagle}, exitOK, "1 file, 11 findings (11 warnings): passed (--fail-on none)"},
		{[]string{"--fail-on", "none", labNagle, "no-such.pcap"}, exitBadInput, "2 files (1 unreadable), 11 findings (11 warnings): failed: unreadable input"},
	}
	for _, c := range cases {
		code, out, _ := runCLI(append([]string{"lint", "--config", ""}, c.args...)...)
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if code != c.code || lines[len(lines)-1] != c.last {
			t.Errorf("lint %v: exit %d, last line %q; want %d, %q", c.args, code, lines[len(lines)-1], c.code, c.last)
		}
	}
}

// TestUnreadableInputsAreReported: an input that cannot be opened keeps its
// place in lint's JSON files (with the error) and is an NDJSON error record;
// the JSON names connlint's version.
func TestUnreadableInputsAreReported(t *testing.T) {
	needFile(t, labNagle)
	code, out, _ := runCLI("lint", "--config", "", "--format", "json", labNagle, "no-such.pcap")
	var doc struct {
		Connlint string `json:"connlint"`
		Files    []struct {
			Inputs []string `json:"inputs"`
			Error  string   `json:"error"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != exitBadInput {
		t.Fatalf("exit %d, %v", code, err)
	}
	if doc.Connlint != version || len(doc.Files) != 2 || doc.Files[1].Inputs[0] != "no-such.pcap" || !strings.Contains(doc.Files[1].Error, "no such file") {
		t.Errorf("JSON: %+v", doc)
	}
	_, out, _ = runCLI("lint", "--config", "", "--format", "ndjson", labNagle, "no-such.pcap")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var rec struct{ Input, Error string }
	if json.Unmarshal([]byte(lines[len(lines)-1]), &rec) != nil || rec.Input != "no-such.pcap" || rec.Error == "" {
		t.Errorf("NDJSON last record %q", lines[len(lines)-1])
	}
}

// TestSuppressions: .connlint.yaml is found walking up from the working
// directory; a suppression hides its findings, one that matched nothing is
// reported (text and JSON), a missing reason and an expired until are
// errors naming file:line.
func TestSuppressions(t *testing.T) {
	needFile(t, labNagle)
	pcap, err := filepath.Abs(labNagle)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	sub := filepath.Join(root, "a", "b")
	os.MkdirAll(sub, 0o755)
	cfg := filepath.Join(root, ".connlint.yaml")
	write := func(s string) { os.WriteFile(cfg, []byte(s), 0o644) }
	t.Chdir(sub)

	write(`fail-on: warning
suppressions:
  - rule: nagle-delayed-ack
    server: 198.18.2.2:80
    reason: lab capture, the mistake is on purpose
  - rule: pipelining
    reason: never seen here
`)
	code, out, stderr := runCLI("lint", "--verbose", pcap)
	if code != exitOK {
		t.Fatalf("suppressed: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "config: "+cfg) {
		t.Errorf("--verbose does not name the config found in a parent: %q", stderr)
	}
	for _, want := range []string{"11 findings suppressed by " + cfg, "suppression #2 (rule=pipelining) matched no finding", "1 file, 0 findings: passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	_, out, _ = runCLI("analyze", "--format", "json", pcap)
	var doc struct {
		Findings []any `json:"findings"`
		Summary  struct {
			BySeverity map[string]int `json:"findings_by_severity"`
		} `json:"summary"`
		Run struct {
			Config     string   `json:"config"`
			Suppressed int      `json:"suppressed"`
			Unused     []string `json:"unused_suppressions"`
		} `json:"run"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Findings) != 0 || len(doc.Summary.BySeverity) != 0 || doc.Run.Config != cfg || doc.Run.Suppressed != 11 || len(doc.Run.Unused) != 1 {
		t.Errorf("JSON: %d findings, by severity %v, run %+v", len(doc.Findings), doc.Summary.BySeverity, doc.Run)
	}

	write(`suppressions:
  - rule: nagle-delayed-ack
    reason: ok
  - rule: nagle-delayed-ack
    reason: was fine until
    until: 2020-01-31
  - rule: pipelining
`)
	code, _, stderr = runCLI("lint", pcap)
	if code != exitBadInput || !strings.Contains(stderr, cfg+":4: suppression #2") || !strings.Contains(stderr, "expired on 2020-01-31") || !strings.Contains(stderr, cfg+":7: suppression #3") || !strings.Contains(stderr, "reason is required") {
		t.Errorf("bad suppressions: exit %d, %q", code, stderr)
	}

	// --config "" reads none, --config FILE that one.
	if code, _, _ := runCLI("lint", "--config", "", "--fail-on", "warning", pcap); code != exitFindings {
		t.Errorf(`--config "": exit %d, want 1 (no suppressions)`, code)
	}
}

// TestBaselineRoundTrip: --write-baseline then --baseline hides exactly
// what was recorded; a missing baseline file is an error, not a pass.
func TestBaselineRoundTrip(t *testing.T) {
	needFile(t, labNagle)
	base := filepath.Join(t.TempDir(), "baseline.json")
	if code, _, _ := runCLI("lint", "--config", "", "--fail-on", "warning", "--write-baseline", base, labNagle); code != exitFindings {
		t.Fatalf("writing the baseline does not change the verdict: exit %d", code)
	}
	code, out, _ := runCLI("lint", "--config", "", "--fail-on", "warning", "--baseline", base, labNagle)
	if code != exitOK || !strings.Contains(out, "baseline "+base+": 11 findings hidden, 0 not seen again") {
		t.Errorf("--baseline: exit %d\n%s", code, out)
	}
	if code, _, stderr := runCLI("lint", "--config", "", "--baseline", base+".missing", labNagle); code != exitBadInput || !strings.Contains(stderr, "--baseline") {
		t.Errorf("missing baseline: exit %d %q", code, stderr)
	}
}
