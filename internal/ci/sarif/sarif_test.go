package sarif

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
	"github.com/connlint/connlint/internal/ci/citest"
)

func render(t *testing.T, in *ci.Input) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestGolden(t *testing.T) {
	citest.Golden(t, "run.sarif", render(t, citest.Input()))
}

// schema compiles the official SARIF 2.1.0 schema (OASIS sarif-spec,
// sarif-2.1/schema/sarif-schema-2.1.0.json, committed in testdata).
func schema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(s *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return s.Validate(v)
}

func TestSchema(t *testing.T) {
	s := schema(t)
	clean := citest.Input()
	clean.Errors = nil
	empty := &ci.Input{Tool: ci.Tool{Name: "connlint", Version: "0.9.0"}}
	noFrames := citest.Input()
	noFrames.Findings[0].Frames = nil // several inputs: no file to name
	for name, in := range map[string]*ci.Input{"fixture": citest.Input(), "no errors": clean, "empty": empty, "no frames": noFrames} {
		if err := validate(s, render(t, in)); err != nil {
			t.Errorf("%s: output does not validate against SARIF 2.1.0: %v", name, err)
		}
	}
	// The validator must be able to fail: a level SARIF does not define.
	bad := bytes.Replace(render(t, citest.Input()), []byte(`"level": "note"`), []byte(`"level": "info"`), 1)
	if err := validate(s, bad); err == nil {
		t.Error("a result with level \"info\" validated; the schema check is vacuous")
	}
}

// log is the part of a SARIF log the content test reads.
type log struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name, Version string
				Rules         []struct {
					ID                   string
					ShortDescription     struct{ Text string }
					FullDescription      struct{ Text string }
					HelpURI              string
					DefaultConfiguration struct{ Level string }
				}
			}
		}
		Results []struct {
			RuleID    string
			RuleIndex int
			Level     string
			Message   struct{ Text string }
			Locations []struct {
				PhysicalLocation struct {
					ArtifactLocation struct{ URI string }
				}
				LogicalLocations []struct{ Name, FullyQualifiedName, Kind string }
			}
			PartialFingerprints map[string]string
			Properties          map[string]any
		}
		Invocations []struct {
			ExecutionSuccessful        bool
			ToolExecutionNotifications []struct {
				Level   string
				Message struct{ Text string }
			}
		}
	}
}

func TestContent(t *testing.T) {
	in := citest.Input()
	var l log
	if err := json.Unmarshal(render(t, in), &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(l.Runs))
	}
	run := l.Runs[0]
	d := run.Tool.Driver
	if d.Name != "connlint" || d.Version != "0.9.0" || len(d.Rules) != len(in.Rules) {
		t.Errorf("driver %s %s with %d rules", d.Name, d.Version, len(d.Rules))
	}
	levels := map[string]string{}
	for _, r := range d.Rules {
		levels[r.ID] = r.DefaultConfiguration.Level
		if r.HelpURI != ci.HelpURI(r.ID) || r.ShortDescription.Text == "" || r.FullDescription.Text == "" {
			t.Errorf("rule %s: help %q short %q full %q", r.ID, r.HelpURI, r.ShortDescription.Text, r.FullDescription.Text)
		}
	}
	want := map[string]string{"content-length-mismatch": "error", "nagle-delayed-ack": "warning", "parallel-connections": "note", "pipelining": "note", "unsafe-retry": "error"}
	for id, lv := range want {
		if levels[id] != lv {
			t.Errorf("rule %s default level %q, want %q", id, levels[id], lv)
		}
	}
	if len(run.Results) != 5 {
		t.Fatalf("%d results, want 5", len(run.Results))
	}
	// Results are in time order: the first is the nagle finding at T0.
	r := run.Results[0]
	if r.RuleID != "nagle-delayed-ack" || d.Rules[r.RuleIndex].ID != r.RuleID || r.Level != "warning" {
		t.Errorf("first result %s index %d level %s", r.RuleID, r.RuleIndex, r.Level)
	}
	if !strings.Contains(r.Message.Text, "frames 10, 11, 12 of captures/api.pcap") || !strings.Contains(r.Message.Text, "44.7 ms") {
		t.Errorf("message lacks the evidence: %q", r.Message.Text)
	}
	loc := r.Locations[0]
	if loc.PhysicalLocation.ArtifactLocation.URI != "captures/api.pcap" ||
		len(loc.LogicalLocations) != 1 || loc.LogicalLocations[0].FullyQualifiedName != "10.0.0.1:51234 → 10.0.0.2:80 tx 2" {
		t.Errorf("location %+v", loc)
	}
	if r.Properties["duration_ms"] != 44.7 || r.Properties["transaction"] != 2.0 || r.Properties["time"] != "2026-03-14T09:26:53.589793Z" {
		t.Errorf("properties %v", r.Properties)
	}
	// The two nagle findings share a key but not a fingerprint.
	if a, b := run.Results[0].PartialFingerprints[FingerprintName], run.Results[3].PartialFingerprints[FingerprintName]; a == "" || a == b {
		t.Errorf("fingerprints %q %q", a, b)
	}
	// The file name with a space and a comma is percent-encoded.
	for _, r := range run.Results {
		if r.RuleID == "content-length-mismatch" && r.Locations[0].PhysicalLocation.ArtifactLocation.URI != "captures/web,%20v2.pcapng" {
			t.Errorf("uri %q", r.Locations[0].PhysicalLocation.ArtifactLocation.URI)
		}
	}
	inv := run.Invocations[0]
	if inv.ExecutionSuccessful || len(inv.ToolExecutionNotifications) != 1 ||
		!strings.HasPrefix(inv.ToolExecutionNotifications[0].Message.Text, "captures/broken.pcap: ") {
		t.Errorf("invocation %+v", inv)
	}
}

func TestUndescribedRule(t *testing.T) {
	in := citest.Input()
	in.Rules = nil
	var l log
	if err := json.Unmarshal(render(t, in), &l); err != nil {
		t.Fatal(err)
	}
	run := l.Runs[0]
	if len(run.Tool.Driver.Rules) != 4 {
		t.Errorf("%d rule entries for 4 rules that fired", len(run.Tool.Driver.Rules))
	}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
	}
}

func TestLevel(t *testing.T) {
	for s, want := range map[analyze.Severity]string{analyze.Error: "error", analyze.Warning: "warning", analyze.Info: "note"} {
		if got := Level(s); got != want {
			t.Errorf("Level(%v) = %q, want %q", s, got, want)
		}
	}
}
