package junit

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"

	"github.com/jstemmer/go-junit-report/v2/junit"

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
	citest.Golden(t, "run.xml", render(t, citest.Input()))
}

// wellFormed reads every token: the decoder rejects unbalanced tags, bad
// escapes and characters XML cannot hold.
func wellFormed(t *testing.T, doc []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
	}
}

func parse(t *testing.T, doc []byte) junit.Testsuites {
	t.Helper()
	wellFormed(t, doc)
	var s junit.Testsuites
	if err := xml.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCounts(t *testing.T) {
	s := parse(t, render(t, citest.Input()))
	// api.pcap: nagle (2 connections) + parallel-connections (info) + 3
	// passing rules; web: content-length-mismatch + unsafe-retry + 3
	// passing rules; broken.pcap: the read error.
	type want struct {
		name                    string
		tests, failures, errors int
		cases                   []string
	}
	wants := []want{
		{"captures/api.pcap", 6, 2, 0, []string{
			"nagle-delayed-ack 10.0.0.1:51234 → 10.0.0.2:80",
			"nagle-delayed-ack 10.0.0.1:51240 → 10.0.0.2:80",
			"parallel-connections 10.0.0.1 → 10.0.0.2:80",
			"content-length-mismatch", "pipelining", "unsafe-retry"}},
		{"captures/web, v2.pcapng", 5, 2, 0, []string{
			"content-length-mismatch [2001:db8::1]:40000 → [2001:db8::2]:8080",
			"unsafe-retry [2001:db8::1]:40002 → [2001:db8::2]:8080",
			"nagle-delayed-ack", "parallel-connections", "pipelining"}},
		{"captures/broken.pcap", 1, 0, 1, []string{"read captures/broken.pcap"}},
	}
	if len(s.Suites) != len(wants) {
		t.Fatalf("%d suites, want %d", len(s.Suites), len(wants))
	}
	if s.Tests != 12 || s.Failures != 4 || s.Errors != 1 {
		t.Errorf("totals: %d tests %d failures %d errors", s.Tests, s.Failures, s.Errors)
	}
	for i, w := range wants {
		ts := s.Suites[i]
		if ts.Name != w.name || ts.Tests != w.tests || ts.Failures != w.failures || ts.Errors != w.errors || len(ts.Testcases) != w.tests {
			t.Errorf("suite %d: %q %d tests (%d cases) %d failures %d errors, want %+v", i, ts.Name, ts.Tests, len(ts.Testcases), ts.Failures, ts.Errors, w)
			continue
		}
		for j, c := range ts.Testcases {
			if c.Name != w.cases[j] {
				t.Errorf("suite %q case %d = %q, want %q", ts.Name, j, c.Name, w.cases[j])
			}
		}
	}
	// The info finding is below the warning gate: passing, with its
	// evidence in system-out.
	info := s.Suites[0].Testcases[2]
	if info.Failure != nil || info.SystemOut == nil || !strings.Contains(info.SystemOut.Data, "frame 40 of captures/api.pcap") {
		t.Errorf("info case: failure %v out %v", info.Failure, info.SystemOut)
	}
	f := s.Suites[0].Testcases[0].Failure
	if f == nil || f.Type != "warning" || !strings.HasPrefix(f.Message, "POST /ok?size=32") || !strings.Contains(f.Data, "frames 10, 11, 12 of captures/api.pcap") {
		t.Errorf("nagle failure %+v", f)
	}
}

func TestFailOn(t *testing.T) {
	for _, c := range []struct {
		gate     analyze.Severity
		failures int
	}{{0, 0}, {analyze.Info, 5}, {analyze.Warning, 4}, {analyze.Error, 2}} {
		in := citest.Input()
		in.FailOn = c.gate
		if s := parse(t, render(t, in)); s.Failures != c.failures {
			t.Errorf("fail-on %v: %d failures, want %d", c.gate, s.Failures, c.failures)
		}
	}
}

func TestGroupsFindingsOfOneConnection(t *testing.T) {
	in := citest.Input()
	second := *in.Findings[1] // nagle on conn 3
	second.Transaction = 3
	second.Severity = analyze.Info
	in.Findings = append(in.Findings, &second)
	s := parse(t, render(t, in))
	c := s.Suites[0].Testcases[0]
	if s.Suites[0].Tests != 6 || c.Failure == nil || !strings.HasPrefix(c.Failure.Message, "2 findings; ") ||
		strings.Count(c.Failure.Data, "evidence: ") != 2 {
		t.Errorf("grouped case %+v", c)
	}
}

func TestUnfitCharacters(t *testing.T) {
	in := citest.Input()
	in.Findings[1].Message = "GET /a\x00\x1b[31m]]> <b>&amp; \xff"
	in.Errors[0].Message = "bad \x01 byte"
	s := parse(t, render(t, in))
	c := s.Suites[0].Testcases[0]
	if c.Failure == nil || !strings.Contains(c.Failure.Data, "GET /a[31m]]> <b>&amp; \uFFFD") {
		t.Errorf("failure body %q", c.Failure.Data)
	}
}

func TestNoFile(t *testing.T) {
	in := citest.Input()
	in.Findings[0].Frames = nil // unsafe-retry: several inputs, no frames
	s := parse(t, render(t, in))
	last := s.Suites[len(s.Suites)-2] // before broken.pcap, which came from Errors
	if last.Name != SeveralInputs || last.Tests != 1 || last.File != "" {
		t.Errorf("suite %q with %d tests, file %q", last.Name, last.Tests, last.File)
	}
}
