package ci

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
)

func TestNewRuleMetaFromPages(t *testing.T) {
	for _, r := range suite.Rules {
		m := NewRuleMeta(r.ID, r.Severity, r.Title)
		if m.Description == r.Title || len(m.Description) < 40 || strings.Contains(m.Description, "\n") || strings.HasPrefix(m.Description, "#") {
			t.Errorf("%s: description %q", r.ID, m.Description)
		}
		if m.HelpURI != RuleDocsBase+r.ID+".md" || m.Severity != r.Severity || m.Title != r.Title {
			t.Errorf("%s: %+v", r.ID, m)
		}
	}
	if m := NewRuleMeta("no-such-rule", analyze.Info, "a title"); m.Description != "a title" {
		t.Errorf("missing page: description %q", m.Description)
	}
}

func TestDescribe(t *testing.T) {
	page := "# x (warning)\n\n## What it means\n\nFirst line\nsecond line.\n\nSecond paragraph.\n"
	if got := Describe(page); got != "First line second line." {
		t.Errorf("got %q", got)
	}
	if got := Describe("# x\n\nIntro text.\n\n## Why\n\nmore"); got != "Intro text." {
		t.Errorf("no heading: got %q", got)
	}
}

func TestRequest(t *testing.T) {
	for _, c := range []struct {
		msg            string
		attrs          map[string]any
		method, target string
	}{
		{"POST /ok?size=32: headers 93 B + body 48 B", nil, "POST", "/ok?size=32"},
		{"GET /a (transaction 2) was sent after", nil, "GET", "/a"},
		{"GET /a:b c", nil, "GET", "/a:b"},
		{"OPTIONS *", nil, "OPTIONS", "*"},
		{"response 200 was followed by 12 body bytes", nil, "", ""},
		{"conn 3 tx 2: GET / (x) from", nil, "", ""},
		{"10.0.0.1 → 10.0.0.2:80: 8 connections", nil, "", ""},
		{"anything", map[string]any{"method": "PUT", "target": "/x"}, "PUT", "/x"},
	} {
		m, tg := Request(&analyze.Finding{Message: c.msg, Attrs: c.attrs})
		if m != c.method || tg != c.target {
			t.Errorf("%q: %q %q, want %q %q", c.msg, m, tg, c.method, c.target)
		}
	}
}

func TestFingerprintsPerOccurrence(t *testing.T) {
	a := &analyze.Finding{Rule: "r", Conn: analyze.ConnRef{ID: 1, Client: netip.MustParseAddrPort("10.0.0.1:1000"), Server: netip.MustParseAddrPort("10.0.0.2:80")}}
	b := *a
	b.Conn.Client = netip.MustParseAddrPort("10.0.0.1:2000") // same key
	c := *a
	c.Rule = "s"
	fp := Fingerprints([]*analyze.Finding{a, &b, &c})
	if fp[0] == fp[1] || fp[0] == fp[2] || len(fp[0]) != 64 {
		t.Errorf("fingerprints %v", fp)
	}
	// The first occurrence of a key has the same fingerprint whatever else is there.
	if again := Fingerprints([]*analyze.Finding{&c, &b}); again[1] != fp[0] || again[0] != fp[2] {
		t.Errorf("fingerprints depend on other keys: %v vs %v", again, fp)
	}
}

func TestFileAndEvidence(t *testing.T) {
	in := &Input{Inputs: []string{"a.pcap", "b.pcap"}}
	f := &analyze.Finding{Frames: []analyze.Frame{{Input: 1, Frame: 4}}}
	if in.File(f) != "b.pcap" {
		t.Errorf("file %q", in.File(f))
	}
	if got := Evidence(in, f); got != "frame 4 of b.pcap" {
		t.Errorf("evidence %q", got)
	}
	f.Frames = nil
	if in.File(f) != "" || (&Input{Inputs: []string{"only.pcap"}}).File(f) != "only.pcap" {
		t.Error("file of a finding without frames")
	}
	f.Frames = []analyze.Frame{{Input: 5, Frame: 1}}
	if in.File(f) != "" {
		t.Error("out-of-range input named a file")
	}
	if Evidence(nil, &analyze.Finding{}) != "" {
		t.Error("evidence of nothing")
	}
}
