package github

import (
	"bytes"
	"strings"
	"testing"

	"github.com/connlint/connlint/internal/ci"
	"github.com/connlint/connlint/internal/ci/citest"
)

func TestGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, citest.Input()); err != nil {
		t.Fatal(err)
	}
	citest.Golden(t, "commands", b.Bytes())

	b.Reset()
	if err := WriteSummary(&b, citest.Input()); err != nil {
		t.Fatal(err)
	}
	citest.Golden(t, "summary.md", b.Bytes())
}

// The cases of actions/toolkit's command tests (packages/core/__tests__/command.test.ts).
func TestEscaping(t *testing.T) {
	got := command("some-command", [][2]string{{"name", "percent % percent % cr \r cr \r lf \n lf \n colon : colon : comma , comma ,"}}, "")
	want := "::some-command name=percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon %3A colon %3A comma %2C comma %2C::\n"
	if got != want {
		t.Errorf("property escaping:\n got %q\nwant %q", got, want)
	}
	got = command("some-command", nil, "percent % percent % cr \r cr \r lf \n lf \n colon : comma ,")
	want = "::some-command::percent %25 percent %25 cr %0D cr %0D lf %0A lf %0A colon : comma ,\n"
	if got != want {
		t.Errorf("data escaping:\n got %q\nwant %q", got, want)
	}
	got = command("error", [][2]string{{"file", "a.pcap"}, {"line", ""}, {"title", "t"}}, "m")
	if want := "::error file=a.pcap,title=t::m\n"; got != want {
		t.Errorf("empty property: got %q, want %q", got, want)
	}
}

func unescape(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%").Replace(s)
}

func TestOneLinePerCommand(t *testing.T) {
	in := citest.Input()
	var b bytes.Buffer
	if err := Write(&b, in); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != len(in.Findings)+len(in.Errors) {
		t.Fatalf("%d lines for %d findings and %d errors", len(lines), len(in.Findings), len(in.Errors))
	}
	wantCmd := []string{"error", "warning", "error", "warning", "notice", "error"}
	for i, l := range lines {
		cmd, rest, ok := strings.Cut(strings.TrimPrefix(l, "::"), " ")
		if !ok || cmd != wantCmd[i] {
			t.Errorf("line %d: command %q, want %q: %s", i, cmd, wantCmd[i], l)
		}
		props, msg, ok := strings.Cut(rest, "::")
		if !ok {
			t.Fatalf("line %d has no message: %s", i, l)
		}
		// Properties split on raw commas; values must come back whole.
		for _, p := range strings.Split(props, ",") {
			k, v, _ := strings.Cut(p, "=")
			if k == "file" && !strings.HasPrefix(unescape(v), "captures/") {
				t.Errorf("line %d: file %q", i, unescape(v))
			}
		}
		if i == 2 && unescape(msg) != ci.Report(in, in.Findings[3]) {
			t.Errorf("message does not round-trip:\n%q\n%q", unescape(msg), ci.Report(in, in.Findings[3]))
		}
	}
	if !strings.Contains(lines[2], "file=captures/web%2C v2.pcapng,") {
		t.Errorf("comma in file name not escaped: %s", lines[2])
	}
}

func TestSummaryNoFindings(t *testing.T) {
	in := citest.Input()
	in.Findings, in.Errors = nil, nil
	var b bytes.Buffer
	if err := WriteSummary(&b, in); err != nil {
		t.Fatal(err)
	}
	want := "### connlint: 0 findings in 2 capture files\n\n**Passed:** no finding at or above warning.\n\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestSummaryCellEscaping(t *testing.T) {
	in := citest.Input()
	in.Findings = in.Findings[4:] // parallel-connections
	in.Findings[0].Message = "a | b <script>\nc"
	var b bytes.Buffer
	if err := WriteSummary(&b, in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `| a \| b &lt;script&gt; c (10.0.0.1 → 10.0.0.2:80; captures/api.pcap) |`) {
		t.Errorf("cell not escaped:\n%s", b.String())
	}
}
