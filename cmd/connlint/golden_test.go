package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden files for third-party corpus captures (testdata/golden/corpus/*.golden).
//
// Each file starts with a hand-written header of '#' lines:
//
//	# capture: zeek/traces/http/entity_gap.pcap      (path under shared/corpus)
//	# checked: how every line below was verified with tshark, frame by frame
//
// and continues with a compact canonical rendering of `analyze --format json`
// (connections, gaps, transactions, findings; no times, messages or ms figures).
// `go test ./cmd/connlint -run Golden -update` rewrites the bodies and keeps
// the headers: review the diff before committing, a golden only holds lines
// someone verified against the capture.

var updateGolden = flag.Bool("update", false, "rewrite the bodies of testdata/golden/corpus/*.golden")

const goldenTargetMax = 60

func TestGoldenCorpus(t *testing.T) {
	corpus := sharedDir(t, "corpus")
	goldens, err := filepath.Glob(filepath.Join("..", "..", "testdata", "golden", "corpus", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	if len(goldens) == 0 {
		t.Fatal("no golden files under testdata/golden/corpus")
	}
	for _, g := range goldens {
		t.Run(strings.TrimSuffix(filepath.Base(g), ".golden"), func(t *testing.T) {
			raw, err := os.ReadFile(g)
			if err != nil {
				t.Fatal(err)
			}
			header, body, capture := splitGolden(string(raw))
			if capture == "" {
				t.Fatalf("%s: header has no '# capture: PATH' line", g)
			}
			if !strings.Contains(header, "# checked:") {
				t.Errorf("%s: header does not say how it was checked ('# checked: ...')", g)
			}
			path := filepath.Join(corpus, filepath.FromSlash(capture))
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("capture %s: %v", capture, err)
			}
			doc, code, stderr := analyzeJSON(t, path)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			got := canonical(doc)
			if *updateGolden {
				if got != body {
					if err := os.WriteFile(g, []byte(header+got), 0o644); err != nil {
						t.Fatal(err)
					}
					t.Logf("updated %s", g)
				}
				return
			}
			if got != body {
				t.Errorf("%s differs from analyze output (-golden +got):\n%s", g, lineDiff(body, got))
			}
		})
	}
}

// splitGolden returns the leading '#' lines (with their newlines), the rest,
// and the value of the '# capture:' line.
func splitGolden(s string) (header, body, capture string) {
	rest := s
	for rest != "" {
		line := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		if !strings.HasPrefix(line, "#") {
			break
		}
		header += line
		rest = rest[len(line):]
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "# capture:"); ok && capture == "" {
			capture = strings.TrimSpace(v)
		}
	}
	return header, rest, capture
}

// canonical renders the parts of the JSON document a golden file pins down.
func canonical(doc jsonDoc) string {
	var b strings.Builder
	for _, c := range doc.Connections {
		fmt.Fprintf(&b, "conn %d %s -> %s ended=%s mid_stream=%t gaps=%d", c.ID, c.Client, c.Server, c.EndedBy, c.MidStream, len(c.Gaps)+c.GapsDropped)
		if !c.HTTP {
			b.WriteString(" non_http")
		}
		if c.Tunnel {
			b.WriteString(" tunnel")
		}
		if c.RolesGuessed {
			b.WriteString(" roles_guessed")
		}
		b.WriteString("\n")
		for _, g := range c.Gaps {
			fmt.Fprintf(&b, "  gap %s offset=%d bytes=%d frame_after=%d\n", g.Direction, g.Offset, g.Bytes, g.FrameAfter)
		}
		for _, tx := range c.Transactions {
			method, target, status := orDash(tx.Method), orDash(truncTarget(tx.Target)), "-"
			if tx.Status != 0 {
				status = fmt.Sprint(tx.Status)
			}
			fmt.Fprintf(&b, "  tx %d %s %s -> %s req=%d resp=%d frames=%s/%s", tx.Index, method, target, status,
				tx.RequestBytes, tx.ResponseBytes, frameOrDash(tx.RequestFrame), frameOrDash(tx.ResponseFrame))
			if tx.Gap {
				b.WriteString(" [gap]")
			}
			if tx.Unsolicited {
				b.WriteString(" [unsolicited]")
			}
			if tx.NoResponse {
				b.WriteString(" [no_response]")
			}
			b.WriteString("\n")
		}
		if c.TxNotListed > 0 {
			fmt.Fprintf(&b, "  transactions_not_listed=%d of %d\n", c.TxNotListed, c.TxCount)
		}
	}
	for _, f := range doc.Findings {
		fmt.Fprintf(&b, "finding %s %s", f.Rule, f.Severity)
		if f.Connection != nil {
			fmt.Fprintf(&b, " conn=%d", f.Connection.ID)
		}
		if f.Transaction != 0 {
			fmt.Fprintf(&b, " tx=%d", f.Transaction)
		}
		fr := make([]string, len(f.Frames))
		for i, n := range f.Frames {
			fr[i] = fmt.Sprint(n)
		}
		fmt.Fprintf(&b, " frames=%s\n", strings.Join(fr, ","))
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func frameOrDash(n int64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func truncTarget(s string) string {
	if r := []rune(s); len(r) > goldenTargetMax {
		return string(r[:goldenTargetMax]) + "…"
	}
	return s
}

// lineDiff is a small line-oriented diff: lines only in want (-) or only in
// got (+), in order, enough to review a golden change.
func lineDiff(want, got string) string {
	a, b := strings.Split(want, "\n"), strings.Split(got, "\n")
	// longest common subsequence table
	n, m := len(a), len(b)
	l := make([][]int, n+1)
	for i := range l {
		l[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out bytes.Buffer
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			i, j = i+1, j+1
		case j < m && (i == n || l[i][j+1] >= l[i+1][j]):
			fmt.Fprintf(&out, "+%s\n", b[j])
			j++
		default:
			fmt.Fprintf(&out, "-%s\n", a[i])
			i++
		}
	}
	return out.String()
}
