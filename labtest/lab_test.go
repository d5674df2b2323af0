// Package labtest checks connlint against the traffic lab's recordings.
//
// testdata/lab/<scenario>.pcap was recorded from real programs by testdata/lab/lab.sh,
// and <scenario>.truth.json was written by the same generator from what it did (never from
// connlint's output). For each truth file this test runs `connlint analyze --format json`
// on the pcap and compares: every `fire: true` expectation needs at least min_count findings
// of that rule (and, when duration_ms is given, one within tolerance_ms); every `fire: false`
// expectation needs none. A rule that `connlint rules` does not list yet is reported as
// pending (skipped with its ID), never as passed.
//
// CONNLINT_BIN=/path/to/connlint tests that binary instead of building ./cmd/connlint.
package labtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Truth is the schema of <scenario>.truth.json.
type Truth struct {
	Scenario       string        `json:"scenario"`
	Description    string        `json:"description"`
	Pcap           string        `json:"pcap"`
	DelayMsEachWay float64       `json:"delay_ms_each_way"`
	RTTms          float64       `json:"rtt_ms"`
	Expect         []Expectation `json:"expect"`
	// ExpectWithoutKeys (testdata/tls): what connlint must find on the same
	// capture without the key log, judging TLS from its records.
	ExpectWithoutKeys []Expectation `json:"expect_without_keys"`

	// The fields below are used by testdata/trust (see trust_test.go); lab truths leave them out.

	// Source is "recorded" (real programs, testdata/trust/record.sh) or "crafted"
	// (scripts/gentrust: traffic real programs will not produce).
	Source string `json:"source"`
	// Quiet lists severities of which connlint must report no finding at all, except findings
	// of the rules in QuietAllow (the traffic's one true finding, e.g. a Nagle stall).
	Quiet      []string `json:"quiet"`
	QuietAllow []string `json:"quiet_allow"`
	// ProxyChainsMax/Min bound len(summary.proxy_chains): ordinary traffic has none.
	ProxyChainsMax *int `json:"proxy_chains_max"`
	ProxyChainsMin *int `json:"proxy_chains_min"`
	// Transactions is the exact number of transactions in the capture (summary.transactions);
	// AllAnswered says every one pairs a request with its response (none unanswered, none
	// a response without a request).
	Transactions *int           `json:"transactions"`
	AllAnswered  bool           `json:"all_answered"`
	Facts        map[string]any `json:"facts"`
}

type Expectation struct {
	Rule        string   `json:"rule"`
	Fire        bool     `json:"fire"`
	MinCount    int      `json:"min_count"`
	DurationMs  *float64 `json:"duration_ms"`
	ToleranceMs *float64 `json:"tolerance_ms"`
	// Severity, when set, is the severity every finding of the rule must have;
	// MessageContains, text at least one finding's message must contain.
	Severity        string `json:"severity"`
	MessageContains string `json:"message_contains"`
	Note            string `json:"note"`
}

type report struct {
	Version     int          `json:"version"`
	Findings    []finding    `json:"findings"`
	Connections []connection `json:"connections"`
	Summary     struct {
		Transactions int               `json:"transactions"`
		ProxyChains  []json.RawMessage `json:"proxy_chains"`
	} `json:"summary"`
}

type connection struct {
	ID           int    `json:"id"`
	Client       string `json:"client"`
	Server       string `json:"server"`
	Transactions []struct {
		Index      int    `json:"index"`
		Method     string `json:"method"`
		Target     string `json:"target"`
		Status     int    `json:"status"`
		NoResponse bool   `json:"no_response"`
	} `json:"transactions"`
}

type finding struct {
	Rule       string   `json:"rule"`
	Severity   string   `json:"severity"`
	Frames     []int    `json:"frames"`
	DurationMs *float64 `json:"duration_ms"`
	Message    string   `json:"message"`
	Connection struct {
		ID     any    `json:"id"`
		Client string `json:"client"`
		Server string `json:"server"`
	} `json:"connection"`
	Transaction any            `json:"transaction"`
	Details     map[string]any `json:"details"`
}

// The rule catalogue of DESIGN.md (stable IDs).
var catalogue = map[string]bool{
	"delayed-ack-stall": true, "nagle-delayed-ack": true, "handshake-overhead": true, "no-connection-reuse": true,
	"slow-start-fresh-connection": true, "port-churn": true, "parallel-connections": true,
	"pipelined-unsafe-method": true, "pipelining": true, "content-length-mismatch": true,
	"conflicting-framing": true, "unframed-persistent-response": true, "body-on-bodiless-response": true,
	"request-after-close": true, "unsolicited-response": true, "inconsistent-overlap": true,
	"hop-by-hop-forwarded": true, "dumb-proxy-keepalive": true, "keepalive-misuse": true,
	"abortive-close": true, "keepalive-race": true, "unsafe-retry": true,
	"tls-full-handshake-repeated": true,
}

var (
	root     string // module root
	labDir   string
	binary   string // built connlint, "" when the build failed
	buildErr string
)

func TestMain(m *testing.M) {
	wd, _ := os.Getwd()
	root = filepath.Dir(wd)
	labDir = filepath.Join(root, "testdata", "lab")
	tmp, err := os.MkdirTemp("", "connlint-labtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if b := os.Getenv("CONNLINT_BIN"); b != "" { // test a prebuilt binary instead
		binary = b
	} else if truths, _ := filepath.Glob(filepath.Join(labDir, "*.truth.json")); len(truths) > 0 {
		bin := filepath.Join(tmp, "connlint")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/connlint")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Sprintf("connlint does not build yet: %v\n%s", err, lastLines(string(out), 15))
		} else {
			binary = bin
		}
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

func loadTruths(t *testing.T) []Truth { return loadTruthsIn(t, labDir) }

func loadTruthsIn(t *testing.T, dir string) []Truth {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no recordings in %s", dir)
	}
	sort.Strings(files)
	var out []Truth
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tr Truth
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tr); err != nil {
			t.Fatalf("%s: %v", filepath.Base(f), err)
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".truth.json"); tr.Scenario != want {
			t.Fatalf("%s: scenario %q does not match the file name", filepath.Base(f), tr.Scenario)
		}
		out = append(out, tr)
	}
	return out
}

// TestTruthFiles checks the recordings themselves; it needs no connlint.
func TestTruthFiles(t *testing.T) {
	truths := loadTruths(t)
	var total int64
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			st, err := os.Stat(filepath.Join(labDir, tr.Pcap))
			if err != nil {
				t.Skipf("pcap absent: %v", err)
			}
			total += st.Size()
			if st.Size() > 1<<20 {
				t.Errorf("%s is %d bytes, over 1 MiB", tr.Pcap, st.Size())
			}
			if tr.Description == "" || tr.RTTms <= 0 || tr.DelayMsEachWay <= 0 {
				t.Errorf("description, rtt_ms and delay_ms_each_way are required")
			}
			if len(tr.Expect) == 0 {
				t.Errorf("no expectations")
			}
			for _, e := range tr.Expect {
				if !catalogue[e.Rule] {
					t.Errorf("rule %q is not in the DESIGN.md catalogue", e.Rule)
				}
				if e.Fire && e.MinCount < 1 {
					t.Errorf("%s: fire:true needs min_count >= 1", e.Rule)
				}
				if (e.DurationMs == nil) != (e.ToleranceMs == nil) {
					t.Errorf("%s: duration_ms and tolerance_ms go together", e.Rule)
				}
			}
		})
	}
	if total > 20<<20 {
		t.Errorf("lab pcaps total %d bytes, over 20 MiB", total)
	}
}

func implementedRules(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command(binary, "rules", "--format", "json").Output()
	if err != nil {
		t.Skipf("`connlint rules --format json` failed (%v): every expectation pending", err)
	}
	var rules []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &rules); err != nil {
		t.Skipf("`connlint rules --format json` output is not JSON (%v): every expectation pending", err)
	}
	m := map[string]bool{}
	for _, r := range rules {
		m[r.ID] = true
	}
	return m
}

func analyze(t *testing.T, pcap string) report {
	t.Helper()
	cmd := exec.Command(binary, "analyze", "--format", "json", pcap)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var r report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("connlint analyze %s: %v; output not a JSON report: %v\nstderr: %s", filepath.Base(pcap), runErr, err, lastLines(stderr.String(), 10))
	}
	return r
}

func TestLab(t *testing.T) {
	truths := loadTruths(t)
	if binary == "" {
		t.Skip(buildErr)
	}
	impl := implementedRules(t)
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			pcap := filepath.Join(labDir, tr.Pcap)
			if _, err := os.Stat(pcap); err != nil {
				t.Skipf("pcap absent: %v", err)
			}
			var rep *report
			for i, e := range tr.Expect {
				name := fmt.Sprintf("%d-%s-", i, e.Rule)
				if e.Fire {
					name += "fires"
				} else {
					name += "silent"
				}
				t.Run(name, func(t *testing.T) {
					if !impl[e.Rule] {
						t.Skipf("pending: rule %s not implemented", e.Rule)
					}
					if rep == nil {
						r := analyze(t, pcap)
						rep = &r
					}
					check(t, tr, e, rep.Findings)
				})
			}
		})
	}
}

func check(t *testing.T, tr Truth, e Expectation, all []finding) {
	var got []finding
	for _, f := range all {
		if f.Rule == e.Rule {
			got = append(got, f)
		}
	}
	if e.Severity != "" {
		for _, f := range got {
			if f.Severity != e.Severity {
				t.Errorf("%s: rule %s: want severity %s, got %s: %s", tr.Scenario, e.Rule, e.Severity, f.Severity, describe(f))
			}
		}
	}
	if e.MessageContains != "" && len(got) > 0 {
		found := false
		for _, f := range got {
			found = found || strings.Contains(f.Message, e.MessageContains)
		}
		if !found {
			t.Errorf("%s: rule %s: no finding's message contains %q; first: %s", tr.Scenario, e.Rule, e.MessageContains, describe(got[0]))
		}
	}
	if !e.Fire {
		if len(got) > 0 {
			t.Errorf("%s: rule %s must not fire, got %d finding(s), first: %s", tr.Scenario, e.Rule, len(got), describe(got[0]))
		}
		return
	}
	if len(got) < e.MinCount {
		t.Errorf("%s: rule %s: want >= %d finding(s), got %d (%s)", tr.Scenario, e.Rule, e.MinCount, len(got), e.Note)
		for _, f := range got {
			t.Logf("  got: %s", describe(f))
		}
		return
	}
	if e.DurationMs != nil {
		want, tol := *e.DurationMs, *e.ToleranceMs
		var seen []string
		for _, f := range got {
			if f.DurationMs != nil && math.Abs(*f.DurationMs-want) <= tol {
				return
			}
			if f.DurationMs == nil {
				seen = append(seen, "none")
			} else {
				seen = append(seen, fmt.Sprintf("%.1f", *f.DurationMs))
			}
		}
		t.Errorf("%s: rule %s: no finding with duration %.1f±%.1f ms; got %s (%s)", tr.Scenario, e.Rule, want, tol, strings.Join(seen, ", "), e.Note)
	}
}

func describe(f finding) string {
	d := "-"
	if f.DurationMs != nil {
		d = fmt.Sprintf("%.1f ms", *f.DurationMs)
	}
	return fmt.Sprintf("conn %v %s->%s txn %v frames %v %s: %s", f.Connection.ID, f.Connection.Client, f.Connection.Server, f.Transaction, f.Frames, d, f.Message)
}

// coFindings are the true second findings of a lab scenario, beside the
// rules its truth expects: each is the same wire event seen by another rule
// whose claim also holds there.
var coFindings = map[string][]string{
	// the server's RST cut a response short (content-length-mismatch) and
	// destroyed data the client had not read (abortive-close)
	"abortive-close":          {"content-length-mismatch"},
	"content-length-mismatch": {"abortive-close"},
	// five (568) one-request connections to a server that offered
	// keep-alive: no-connection-reuse holds as well
	"handshake-overhead": {"no-connection-reuse"},
	"port-churn":         {"no-connection-reuse"},
	// the first connection died by the server's RST with the request unanswered
	"retry-idempotent": {"abortive-close"},
	"unsafe-retry":     {"abortive-close"},
}

// TestLabNoUnexpectedAlarms: on every lab recording, a finding at error or
// warning must be of a rule the truth expects to fire (or a listed
// co-finding). Controls (every expectation silent) must therefore be free of
// errors and warnings: the lab's ordinary traffic stays quiet (issue 12), and
// a scenario may not gain a second, unexplained alarm.
func TestLabNoUnexpectedAlarms(t *testing.T) {
	truths := loadTruths(t)
	if binary == "" {
		t.Skip(buildErr)
	}
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			pcap := filepath.Join(labDir, tr.Pcap)
			if _, err := os.Stat(pcap); err != nil {
				t.Skipf("pcap absent: %v", err)
			}
			firing := map[string]bool{}
			for _, r := range coFindings[tr.Scenario] {
				firing[r] = true
			}
			for _, e := range tr.Expect {
				if e.Fire {
					firing[e.Rule] = true
				}
			}
			for _, f := range analyze(t, pcap).Findings {
				if (f.Severity == "error" || f.Severity == "warning") && !firing[f.Rule] {
					t.Errorf("%s: unexpected %s %s: %s", tr.Scenario, f.Severity, f.Rule, describe(f))
				}
			}
		})
	}
}
