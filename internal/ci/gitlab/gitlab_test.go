package gitlab

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

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
	citest.Golden(t, "codequality.json", render(t, citest.Input()))
}

func TestFields(t *testing.T) {
	// Decode generically: every issue must carry exactly GitLab's fields.
	var issues []map[string]any
	if err := json.Unmarshal(render(t, citest.Input()), &issues); err != nil {
		t.Fatal(err)
	}
	if len(issues) != 6 {
		t.Fatalf("%d issues, want 6", len(issues))
	}
	seen := map[string]bool{}
	wantSev := []string{"critical", "major", "critical", "major", "info", "critical"}
	for i, is := range issues {
		for _, k := range []string{"description", "check_name", "fingerprint", "severity"} {
			if s, _ := is[k].(string); s == "" {
				t.Errorf("issue %d: %s missing", i, k)
			}
		}
		loc, _ := is["location"].(map[string]any)
		lines, _ := loc["lines"].(map[string]any)
		if p, _ := loc["path"].(string); p == "" || lines["begin"] == nil {
			t.Errorf("issue %d: location %v", i, loc)
		}
		fp := is["fingerprint"].(string)
		if seen[fp] {
			t.Errorf("issue %d: fingerprint %s repeated", i, fp)
		}
		seen[fp] = true
		if is["severity"] != wantSev[i] {
			t.Errorf("issue %d: severity %v, want %s", i, is["severity"], wantSev[i])
		}
	}
	if is := issues[1]; is["check_name"] != "nagle-delayed-ack" || is["location"].(map[string]any)["lines"].(map[string]any)["begin"] != 10.0 {
		t.Errorf("first finding %v", is)
	}
}

// A re-recording changes ports, frames, times and connection IDs but not
// the fingerprints.
func TestFingerprintSurvivesReRecording(t *testing.T) {
	a := Issues(citest.Input())
	in := citest.Input()
	for i, f := range in.Findings {
		f.Time = f.Time.Add(time.Hour)
		if f.Conn.ID != 0 {
			f.Conn.ID += 100
			f.Conn.Client = netip.AddrPortFrom(f.Conn.Client.Addr(), f.Conn.Client.Port()+uint16(i)+1)
		}
		for j := range f.Related {
			f.Related[j].ID += 100
			f.Related[j].Client = netip.AddrPortFrom(f.Related[j].Client.Addr(), f.Related[j].Client.Port()+7)
		}
		for j := range f.Frames {
			f.Frames[j].Frame += 1000
		}
		f.Duration *= 2
	}
	b := Issues(in)
	for i := range a {
		if a[i].Fingerprint != b[i].Fingerprint {
			t.Errorf("issue %d (%s): fingerprint changed", i, a[i].CheckName)
		}
	}
	// A different server is a different issue.
	in.Findings[1].Conn.Server = netip.MustParseAddrPort("10.0.0.3:80")
	if c := Issues(in); c[1].Fingerprint == a[1].Fingerprint {
		t.Error("fingerprint ignores the server")
	}
}

func TestEmpty(t *testing.T) {
	if got := string(render(t, &ci.Input{})); got != "[]\n" {
		t.Errorf("empty run: %q", got)
	}
}

func TestSeverity(t *testing.T) {
	for s, want := range map[analyze.Severity]string{analyze.Info: "info", analyze.Warning: "major", analyze.Error: "critical"} {
		if got := Severity(s); got != want {
			t.Errorf("Severity(%v) = %q, want %q", s, got, want)
		}
	}
}
