package lifecycle

import (
	"reflect"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly/flow"
)

// The lifecycle tests play captures packet by packet with
// analyzetest.Capture (global frame numbers, several connections) and
// assert on what the findings carry: count, evidence, attributes.

// family is this package's rules, as the suite lists them.
var family = []*analyze.Rule{AbortiveClose, KeepAliveRace, KeepAliveMisuse, UnsafeRetry, NoConnectionReuse, ParallelConnections, PortChurn, TLSFullHandshakeRepeated}

// newCapture starts a capture running the family (only rules, when given).
func newCapture(t *testing.T, cfg *analyze.Config, rules ...string) *analyzetest.Capture {
	return analyzetest.NewCapture(t, cfg, family, rules...)
}

// lcCase is one table row: build plays the capture; want findings of the
// rule; attrs are values the first finding's Attrs must hold, check looks
// at anything else about it.
type lcCase struct {
	name  string
	cfg   func(*analyze.Config)
	build func(k *analyzetest.Capture)
	want  int
	attrs map[string]any
	check func(t *testing.T, f *analyze.Finding)
}

func runLC(t *testing.T, rule string, cases []lcCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := analyze.DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			k := newCapture(t, cfg, rule)
			tc.build(k)
			got := k.Close().ByRule(rule)
			if len(got) != tc.want {
				for _, f := range got {
					t.Logf("finding: %s %v", f.Message, f.Attrs)
				}
				t.Fatalf("%s: got %d findings, want %d", rule, len(got), tc.want)
			}
			for _, f := range got {
				if len(f.Frames) == 0 || f.Hint == "" {
					t.Errorf("finding lacks evidence: %+v", f)
				}
			}
			if len(got) == 0 {
				return
			}
			f := got[0]
			for key, v := range tc.attrs {
				if !reflect.DeepEqual(f.Attrs[key], v) {
					t.Errorf("attrs[%q] = %#v, want %#v (attrs %v)", key, f.Attrs[key], v, f.Attrs)
				}
			}
			if tc.check != nil {
				tc.check(t, f)
			}
			if testing.Verbose() {
				t.Logf("%s", f.Message)
			}
		})
	}
}

const (
	cli = "10.0.0.1:50000"
	srv = "10.0.0.2:80"
	c2s = flow.ClientToServer
	s2c = flow.ServerToClient
)

// wantTx checks the finding is about transaction n (1-based).
func wantTx(n int) func(t *testing.T, f *analyze.Finding) {
	return func(t *testing.T, f *analyze.Finding) {
		t.Helper()
		if f.Transaction != n {
			t.Errorf("transaction %d, want %d", f.Transaction, n)
		}
	}
}
