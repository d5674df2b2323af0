package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/docs"
)

const labNagle = "../../testdata/lab/nagle-delayed-ack.pcap"
const labNagleControl = "../../testdata/lab/nagle-delayed-ack-nodelay.pcap"

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, nil, &out, &errb)
	return code, out.String(), errb.String()
}

func needFile(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s missing", p)
	}
}

func TestEveryRuleHasAPage(t *testing.T) {
	for _, r := range suite.Rules {
		page, err := docs.RulePage(r.ID)
		if err != nil {
			t.Errorf("rule %s has no docs/rules/%s.md", r.ID, r.ID)
			continue
		}
		for _, section := range []string{"## What it means", "## Why it matters", "## Example", "## How to fix", "## How to silence"} {
			if !strings.Contains(page, section) {
				t.Errorf("docs/rules/%s.md lacks %q", r.ID, section)
			}
		}
		code, out, _ := runCLI("explain", r.ID)
		if code != 0 || out != page {
			t.Errorf("explain %s: exit %d, printed %d bytes of %d", r.ID, code, len(out), len(page))
		}
	}
}

func TestRulesCommand(t *testing.T) {
	code, out, _ := runCLI("rules", "--format", "json")
	var rows []struct{ ID, Severity, Title string }
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil || len(rows) != len(suite.Rules) {
		t.Fatalf("rules --format json: exit %d, %d rows, want %d", code, len(rows), len(suite.Rules))
	}
	code, out, _ = runCLI("rules")
	if code != 0 || !strings.Contains(out, "nagle-delayed-ack") || !strings.Contains(out, "SEVERITY") {
		t.Fatalf("rules text: exit %d\n%s", code, out)
	}
}

func TestLintExitCodes(t *testing.T) {
	needFile(t, labNagle)
	needFile(t, labNagleControl)
	cases := []struct {
		args []string
		want int
	}{
		{[]string{"lint", "--fail-on", "warning", labNagle}, exitFindings},
		{[]string{"lint", "--fail-on", "error", labNagle}, exitOK}, // Nagle is a warning
		{[]string{"lint", "--fail-on", "warning", "--disable", "nagle-delayed-ack", labNagle}, exitOK},
		{[]string{"lint", "--fail-on", "warning", "--set", "nagle-delayed-ack=error", "--fail-on", "error", labNagle}, exitFindings},
		{[]string{"lint", "--fail-on", "warning", labNagleControl}, exitOK},
		{[]string{"lint", "--fail-on", "bogus", labNagle}, exitBadInput},
		{[]string{"lint", "--disable", "no-such-rule", labNagle}, exitBadInput},
		{[]string{"lint", "--fail-on", "warning", labNagle, "no-such-file.pcap"}, exitBadInput},
		{[]string{"analyze", "--format", "yaml", labNagle}, exitBadInput},
		{[]string{"explain", "no-such-rule"}, exitBadInput},
		{[]string{"analyze"}, exitBadInput},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(c.args...)
		if code != c.want {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.want, stderr)
		}
		if code == exitBadInput && (stderr == "" || strings.Count(strings.TrimRight(stderr, "\n"), "\n") > 1) {
			t.Errorf("%v: want a short error on stderr, got %q", c.args, stderr)
		}
	}
	// lint text lines name the file and the first evidence frame
	_, out, _ := runCLI("lint", "--fail-on", "warning", labNagle)
	if !strings.Contains(out, "nagle-delayed-ack.pcap#10: warning nagle-delayed-ack:") {
		t.Errorf("lint line format:\n%s", out)
	}
}

// A damaged file: what could be read is analyzed, then one line on stderr
// naming the file and where it broke, exit 2.
func TestTruncatedInput(t *testing.T) {
	needFile(t, labNagle)
	b, _ := os.ReadFile(labNagle)
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, b[:len(b)*2/3], 0o644)
	code, out, stderr := runCLI("analyze", "--format", "json", cut)
	if code != exitBadInput {
		t.Fatalf("exit %d, want 2", code)
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cut.pcap") || !strings.Contains(lines[0], "frame") {
		t.Fatalf("stderr %q: want one line naming the file and the frame", stderr)
	}
	var doc jsonDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil || doc.Summary.Transactions == 0 {
		t.Fatalf("the readable part was not analyzed: %v, %d transactions", err, doc.Summary.Transactions)
	}
}

// gzip, stdin and several inputs: the same traffic, evidence naming files.
func TestInputsGzipStdinAndMerge(t *testing.T) {
	needFile(t, labNagle)
	b, _ := os.ReadFile(labNagle)
	gz := filepath.Join(t.TempDir(), "n.pcap.gz")
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	os.WriteFile(gz, buf.Bytes(), 0o644)
	plain, _, _ := analyzeJSON(t, labNagle)
	zipped, code, _ := analyzeJSON(t, gz)
	if code != 0 || len(zipped.Findings) != len(plain.Findings) || zipped.Summary.Packets != plain.Summary.Packets {
		t.Fatalf("gzip: exit %d, %d findings vs %d", code, len(zipped.Findings), len(plain.Findings))
	}
	var out, errb bytes.Buffer
	var piped jsonDoc
	if c := run([]string{"analyze", "--format", "json", "-"}, bytes.NewReader(buf.Bytes()), &out, &errb); c != 0 ||
		json.Unmarshal(out.Bytes(), &piped) != nil || len(piped.Findings) != len(plain.Findings) {
		t.Fatalf("gzip on stdin: exit %d, stderr %q", c, errb.String())
	}
	// two inputs: text evidence names the file
	code, text, _ := runCLI("analyze", "--color", "never", labNagle, labNagleControl)
	if code != 0 || !strings.Contains(text, "nagle-delayed-ack.pcap#10") {
		t.Fatalf("merged inputs: exit %d, evidence does not name the file:\n%.600s", code, text)
	}
}

func TestConfigFile(t *testing.T) {
	needFile(t, labNagle)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("disable: [nagle-delayed-ack]\nfail-on: warning\n"), 0o644)
	if code, _, errs := runCLI("lint", "--config", cfg, labNagle); code != exitOK {
		t.Errorf("config disables the rule: exit %d %s", code, errs)
	}
	os.WriteFile(cfg, []byte("severity: {nagle-delayed-ack: error}\nfail-on: error\n"), 0o644)
	if code, _, _ := runCLI("lint", "--config", cfg, labNagle); code != exitFindings {
		t.Errorf("config raises the severity: exit %d", code)
	}
	if code, _, _ := runCLI("lint", "--config", cfg, "--fail-on", "error", "--set", "nagle-delayed-ack=info", labNagle); code != exitOK {
		t.Errorf("flags must win over the file: exit %d", code)
	}
	os.WriteFile(cfg, []byte("thresholds: {stal-min: 5ms}\n"), 0o644)
	if code, _, errs := runCLI("lint", "--config", cfg, labNagle); code != exitBadInput || !strings.Contains(errs, "stal-min") {
		t.Errorf("a misspelt key must be an error: exit %d %q", code, errs)
	}
	if code, _, _ := runCLI("lint", "--config", filepath.Join(dir, "missing.yaml"), labNagle); code != exitBadInput {
		t.Errorf("an explicit missing config must be an error: exit %d", code)
	}
}

// failingWriter fails every write, like stdout on a full disk.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) {
	return 0, errors.New("write /dev/stdout: no space left on device")
}

// Output that cannot be written is an error (exit 2, one line), never a
// silent success: analyze in every format, lint, rules, explain, version.
func TestWriteErrors(t *testing.T) {
	needFile(t, labNagle)
	const want = "connlint: writing output: write /dev/stdout: no space left on device\n"
	for _, args := range [][]string{
		{"analyze", labNagle}, {"analyze", "--format", "json", labNagle}, {"analyze", "--format", "ndjson", labNagle},
		{"lint", labNagle}, {"lint", "--fail-on", "warning", labNagle}, {"lint", "--format", "json", labNagle},
		{"lint", "--format", "ndjson", labNagle}, {"rules"}, {"rules", "--format", "json"}, {"explain", "pipelining"}, {"version"},
	} {
		var errb bytes.Buffer
		code := run(args, nil, failingWriter{}, &errb)
		if code != exitBadInput || errb.String() != want {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 and %q", args, code, errb.String(), want)
		}
	}
}

// The same through the built binary with stdout on /dev/full.
func TestWriteErrorDevFull(t *testing.T) {
	needFile(t, labNagle)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer full.Close()
	bin := filepath.Join(t.TempDir(), "connlint")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"analyze", "--format", "json", labNagle}, {"analyze", labNagle}, {"lint", labNagle}} {
		cmd := exec.Command(bin, args...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = full, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitBadInput || errb.String() != "connlint: writing output: write /dev/stdout: no space left on device\n" {
			t.Errorf("%v > /dev/full: %v, stderr %q", args, err, errb.String())
		}
	}
}
