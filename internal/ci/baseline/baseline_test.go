package baseline

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
	"github.com/connlint/connlint/internal/ci/citest"
)

func TestGolden(t *testing.T) {
	var b bytes.Buffer
	if err := New(citest.Input().Findings).Write(&b); err != nil {
		t.Fatal(err)
	}
	citest.Golden(t, "baseline.json", b.Bytes())
}

func roundTrip(t *testing.T, b *Baseline) *Baseline {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// reRecord changes everything a new capture of the same traffic changes:
// ephemeral ports, frame numbers, times, durations, connection IDs.
func reRecord(fs []*analyze.Finding) {
	for i, f := range fs {
		f.Time = f.Time.Add(24 * time.Hour)
		f.Duration += 3 * time.Millisecond
		if f.Conn.ID != 0 {
			f.Conn.ID += 40
			f.Conn.Client = netip.AddrPortFrom(f.Conn.Client.Addr(), 60000+uint16(i))
		}
		for j := range f.Related {
			f.Related[j].Client = netip.AddrPortFrom(f.Related[j].Client.Addr(), 61000+uint16(j))
		}
		for j := range f.Frames {
			f.Frames[j].Frame += 500
		}
	}
}

func TestReRecordingIsHidden(t *testing.T) {
	b := roundTrip(t, New(citest.Input().Findings))
	in := citest.Input()
	reRecord(in.Findings)
	res := b.Filter(in.Findings)
	if len(res.New) != 0 || res.Hidden != 5 || len(res.Gone) != 0 {
		t.Errorf("new %d hidden %d gone %v", len(res.New), res.Hidden, res.Gone)
	}
}

func TestCountsLimitHiding(t *testing.T) {
	in := citest.Input()
	// Record only one of the two nagle findings (same key).
	b := roundTrip(t, New([]*analyze.Finding{in.Findings[1]}))
	res := b.Filter(in.Findings)
	if res.Hidden != 1 || len(res.New) != 4 {
		t.Fatalf("hidden %d new %d", res.Hidden, len(res.New))
	}
	// The earliest occurrence is hidden; the later one is new.
	for _, f := range res.New {
		if f.Rule == "nagle-delayed-ack" && f.Conn.ID != 5 {
			t.Errorf("the later nagle finding should be new, got conn %d", f.Conn.ID)
		}
	}
	// Three recorded, one seen: two gone.
	three := New([]*analyze.Finding{in.Findings[3], in.Findings[3], in.Findings[3]})
	res = three.Filter(in.Findings)
	if len(res.Gone) != 1 || res.Gone[0].Count != 2 || res.Gone[0].Rule != "content-length-mismatch" {
		t.Errorf("gone %+v", res.Gone)
	}
}

func TestKeyDistinguishes(t *testing.T) {
	base := citest.Input().Findings[1] // nagle, 10.0.0.1 → 10.0.0.2:80
	b := New([]*analyze.Finding{base})
	for name, change := range map[string]func(f *analyze.Finding){
		"rule":        func(f *analyze.Finding) { f.Rule = "delayed-ack-stall" },
		"client ip":   func(f *analyze.Finding) { f.Conn.Client = netip.MustParseAddrPort("10.0.0.9:51234") },
		"server port": func(f *analyze.Finding) { f.Conn.Server = netip.MustParseAddrPort("10.0.0.2:8080") },
		"target":      func(f *analyze.Finding) { f.Message = strings.Replace(f.Message, "/ok?size=32", "/other", 1) },
		"method":      func(f *analyze.Finding) { f.Message = strings.Replace(f.Message, "POST", "PUT", 1) },
	} {
		f := *base
		change(&f)
		if res := b.Filter([]*analyze.Finding{&f}); len(res.New) != 1 {
			t.Errorf("a different %s was hidden by the baseline", name)
		}
	}
}

func TestReadRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"version":  `{"version": 2, "findings": []}`,
		"no rule":  `{"version": 1, "findings": [{"server": "10.0.0.2:80", "count": 1}]}`,
		"count":    `{"version": 1, "findings": [{"rule": "pipelining", "count": 0}]}`,
		"unknown":  `{"version": 1, "findings": [{"rule": "pipelining", "count": 1, "frame": 3}]}`,
		"not json": `version: 1`,
	} {
		if _, err := Read(strings.NewReader(doc)); err == nil {
			t.Errorf("%s: accepted %s", name, doc)
		}
	}
}

func TestKeyContent(t *testing.T) {
	in := citest.Input()
	want := map[string]ci.Key{
		"unsafe-retry":            {Rule: "unsafe-retry", Client: "2001:db8::1", Server: "[2001:db8::2]:8080", Method: "POST", Target: "/orders?id=7"},
		"nagle-delayed-ack":       {Rule: "nagle-delayed-ack", Client: "10.0.0.1", Server: "10.0.0.2:80", Method: "POST", Target: "/ok?size=32"},
		"content-length-mismatch": {Rule: "content-length-mismatch", Client: "2001:db8::1", Server: "[2001:db8::2]:8080"},
		"parallel-connections":    {Rule: "parallel-connections", Client: "10.0.0.1", Server: "10.0.0.2:80"},
	}
	for _, f := range in.Findings {
		if got := ci.KeyOf(f); got != want[f.Rule] {
			t.Errorf("%s: key %+v, want %+v", f.Rule, got, want[f.Rule])
		}
	}
}

// TestMatcherAgreesWithFilter: hiding one finding at a time in time order
// hides what Filter hides and leaves the same entries gone.
func TestMatcherAgreesWithFilter(t *testing.T) {
	in := citest.Input()
	b := New(in.Findings[:2])
	res := b.Filter(in.Findings)
	m := b.Matcher()
	var kept int
	for _, f := range ci.Sorted(in.Findings) {
		if !m.Hide(f) {
			kept++
		}
	}
	if kept != len(res.New) || m.Hidden() != res.Hidden || len(m.Gone()) != len(res.Gone) {
		t.Fatalf("Matcher: kept %d hidden %d gone %v; Filter: new %d hidden %d gone %v", kept, m.Hidden(), m.Gone(), len(res.New), res.Hidden, res.Gone)
	}
	if m.Hidden() != 2 {
		t.Errorf("hidden %d, want 2", m.Hidden())
	}
	empty := New(nil).Matcher()
	if empty.Hide(in.Findings[0]) || len(empty.Gone()) != 0 {
		t.Error("an empty baseline hides nothing")
	}
	stale := New(in.Findings).Matcher()
	if g := stale.Gone(); len(g) == 0 {
		t.Error("a baseline nothing was matched against: every entry is gone")
	}
}
