package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestCIFormatsGolden renders a lab capture through `analyze --format X`
// for every CI format and compares with testdata/golden/ci/. The SARIF
// output is also validated against the schema, the JUnit output parsed as
// XML. Rewrite with -update and review the diff by hand.
func TestCIFormatsGolden(t *testing.T) {
	needFile(t, labNagle)
	t.Setenv("GITHUB_STEP_SUMMARY", "")
	for _, c := range []struct{ format, golden string }{
		{"sarif", "nagle-delayed-ack.sarif"},
		{"junit", "nagle-delayed-ack.junit.xml"},
		{"github", "nagle-delayed-ack.github.txt"},
		{"gitlab", "nagle-delayed-ack.gitlab.json"},
	} {
		t.Run(c.format, func(t *testing.T) {
			code, out, stderr := runCLI("analyze", "--config", "", "--format", c.format, labNagle)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			switch c.format {
			case "sarif":
				validateSARIFSchema(t, []byte(out))
			case "junit":
				var v struct{}
				if err := xml.Unmarshal([]byte(out), &v); err != nil {
					t.Errorf("JUnit is not well-formed: %v", err)
				}
			}
			path := filepath.Join("..", "..", "testdata", "golden", "ci", c.golden)
			if *updateGolden {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, []byte(out)) {
				t.Errorf("%s differs (-golden +got):\n%s", path, lineDiff(string(want), out))
			}
		})
	}
}

// TestOutputFileAndStepSummary: -o writes the report to a file (stdout
// stays empty) and the github format appends its summary to
// $GITHUB_STEP_SUMMARY, keeping what earlier steps wrote.
func TestOutputFileAndStepSummary(t *testing.T) {
	needFile(t, labNagle)
	dir := t.TempDir()
	summary := filepath.Join(dir, "summary.md")
	os.WriteFile(summary, []byte("earlier step\n"), 0o644)
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	out := filepath.Join(dir, "out.txt")
	code, stdout, stderr := runCLI("lint", "--config", "", "--fail-on", "warning", "--format", "github", "-o", out, labNagle)
	if code != exitFindings || stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), "::warning file="+labNagle+",title=nagle-delayed-ack") {
		t.Errorf("-o file:\n%s", b)
	}
	s, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(s), "earlier step\n") || !strings.Contains(string(s), "nagle-delayed-ack") {
		t.Errorf("job summary:\n%s", s)
	}
	if code, _, stderr := runCLI("analyze", "--config", "", "-o", filepath.Join(dir, "no", "such", "dir"), labNagle); code != exitBadInput || !strings.Contains(stderr, "-o") {
		t.Errorf("-o into a missing directory: exit %d, %s", code, stderr)
	}
}

// validateSARIF checks a log against the SARIF 2.1.0 schema kept with the
// sarif package.
func validateSARIFSchema(t *testing.T, doc []byte) {
	t.Helper()
	f, err := os.Open("../../internal/ci/sarif/testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-schema-2.1.0.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		t.Errorf("SARIF output does not validate: %v", err)
	}
}
