package labtest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// testdata/trust holds the evidence for issue 12 (no false alarms on ordinary traffic, and the
// cases real programs produce): recordings of real programs (testdata/trust/record.sh) and
// crafted pcaps (scripts/gentrust), each with a truth file in the lab's format plus the trust
// fields (quiet, proxy chain bounds, transaction pairing). TestTrustFiles checks the files
// themselves; TestTrust runs connlint on them and checks every truth (testdata/trust/STATUS.md
// says what each capture shows and what connlint said before issue 12 was fixed).

var severities = map[string]bool{"error": true, "warning": true, "info": true}

func trustDir() string { return filepath.Join(root, "testdata", "trust") }

func TestTrustFiles(t *testing.T) {
	for _, tr := range loadTruthsIn(t, trustDir()) {
		t.Run(tr.Scenario, func(t *testing.T) {
			st, err := os.Stat(filepath.Join(trustDir(), tr.Pcap))
			if err != nil {
				t.Fatalf("pcap missing: %v", err)
			}
			if st.Size() > 2<<20 {
				t.Errorf("%s is %d bytes, over 2 MiB", tr.Pcap, st.Size())
			}
			if tr.Description == "" || (tr.Source != "recorded" && tr.Source != "crafted") {
				t.Errorf("description and source (recorded|crafted) are required")
			}
			if len(tr.Expect) == 0 && len(tr.Quiet) == 0 && tr.ProxyChainsMax == nil && tr.Transactions == nil {
				t.Errorf("asserts nothing")
			}
			for _, e := range tr.Expect {
				if !catalogue[e.Rule] {
					t.Errorf("rule %q is not in the DESIGN.md catalogue", e.Rule)
				}
				if e.Fire && e.MinCount < 1 {
					t.Errorf("%s: fire:true needs min_count >= 1", e.Rule)
				}
				if e.Severity != "" && !severities[e.Severity] {
					t.Errorf("%s: severity %q", e.Rule, e.Severity)
				}
			}
			for _, s := range tr.Quiet {
				if !severities[s] {
					t.Errorf("quiet: severity %q", s)
				}
			}
			for _, r := range tr.QuietAllow {
				if !catalogue[r] {
					t.Errorf("quiet_allow: rule %q is not in the catalogue", r)
				}
			}
		})
	}
}

func TestTrust(t *testing.T) {
	truths := loadTruthsIn(t, trustDir())
	if binary == "" {
		t.Skip(buildErr)
	}
	for _, tr := range truths {
		t.Run(tr.Scenario, func(t *testing.T) {
			rep := analyze(t, filepath.Join(trustDir(), tr.Pcap))
			for i, e := range tr.Expect {
				name := fmt.Sprintf("%d-%s-", i, e.Rule)
				if e.Fire {
					name += "fires"
				} else {
					name += "silent"
				}
				t.Run(name, func(t *testing.T) { check(t, tr, e, rep.Findings) })
			}
			if len(tr.Quiet) > 0 {
				t.Run("quiet", func(t *testing.T) { checkQuiet(t, tr, rep) })
			}
			if tr.ProxyChainsMax != nil || tr.ProxyChainsMin != nil {
				t.Run("proxy-chains", func(t *testing.T) {
					n := len(rep.Summary.ProxyChains)
					if tr.ProxyChainsMax != nil && n > *tr.ProxyChainsMax {
						t.Errorf("%s: %d proxy chains, want at most %d; first: %s", tr.Scenario, n, *tr.ProxyChainsMax, rep.Summary.ProxyChains[0])
					}
					if tr.ProxyChainsMin != nil && n < *tr.ProxyChainsMin {
						t.Errorf("%s: %d proxy chains, want at least %d", tr.Scenario, n, *tr.ProxyChainsMin)
					}
				})
			}
			if tr.Transactions != nil || tr.AllAnswered {
				t.Run("transactions", func(t *testing.T) { checkTransactions(t, tr, rep) })
			}
		})
	}
}

// checkQuiet: no finding of a quiet severity, except of the rules the truth allows.
func checkQuiet(t *testing.T, tr Truth, rep report) {
	for _, f := range rep.Findings {
		if slices.Contains(tr.Quiet, f.Severity) && !slices.Contains(tr.QuietAllow, f.Rule) {
			t.Errorf("%s: must be quiet (%v), got %s %s: %s", tr.Scenario, tr.Quiet, f.Severity, f.Rule, describe(f))
		}
	}
}

func checkTransactions(t *testing.T, tr Truth, rep report) {
	if tr.Transactions != nil && rep.Summary.Transactions != *tr.Transactions {
		t.Errorf("%s: %d transactions, want %d", tr.Scenario, rep.Summary.Transactions, *tr.Transactions)
	}
	if !tr.AllAnswered {
		return
	}
	for _, c := range rep.Connections {
		for _, x := range c.Transactions {
			if x.Method == "" || x.Status == 0 || x.NoResponse {
				t.Errorf("%s: conn %d %s->%s transaction %d not paired (method %q status %d no_response %v)",
					tr.Scenario, c.ID, c.Client, c.Server, x.Index, x.Method, x.Status, x.NoResponse)
			}
		}
	}
}
