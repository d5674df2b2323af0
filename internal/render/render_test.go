package render

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden (review the diff by hand)")

var t0 = time.Date(2026, 11, 24, 10, 0, 1, 234567000, time.UTC)

// model is a small analysis written by hand: one keep-alive connection with
// two transactions, a gap and a Nagle finding, a refused connection that is
// not HTTP, and a cross-connection finding.
func model() (conns []*analyze.ConnReport, findings []*analyze.Finding, res *Result) {
	client, server := netip.MustParseAddrPort("10.0.0.1:51234"), netip.MustParseAddrPort("10.0.0.2:80")
	at := func(ms float64, frame int64) analyze.Point {
		return analyze.Point{Time: t0.Add(time.Duration(ms * float64(time.Millisecond))), Frame: frame}
	}
	nagle := &analyze.Finding{
		Rule: "nagle-delayed-ack", Severity: analyze.Warning,
		Conn: analyze.ConnRef{ID: 1, Client: client, Server: server}, Transaction: 2,
		Time: t0.Add(41 * time.Millisecond), Frames: []analyze.Frame{{Frame: 10}, {Frame: 11}, {Frame: 12}},
		Duration: 40200 * time.Microsecond,
		Message:  "POST /upload split into headers (212 B) and body (18 B); body held by Nagle until delayed ACK after 40.2 ms",
		Hint:     "write the request in one call, or set TCP_NODELAY",
		Attrs:    map[string]any{"stall_ms": 40.2},
	}
	churn := &analyze.Finding{
		Rule: "no-connection-reuse", Severity: analyze.Warning, Time: t0.Add(300 * time.Millisecond),
		Message: "10.0.0.1 opened 2 sequential connections to 10.0.0.2:80 with one request each",
		Hint:    "keep connections alive", Across: true,
		Related: []analyze.ConnRef{{ID: 1, Client: client, Server: server}, {ID: 2, Client: netip.MustParseAddrPort("10.0.0.1:51236"), Server: server}},
	}
	c1 := &analyze.ConnReport{
		ID: 1, Client: client, Server: server, First: at(0, 1), Last: at(250, 20), EndedBy: "fin", HTTP: true,
		Handshake: 120 * time.Microsecond, HandshakeSeen: true, BytesC2S: 530, BytesS2C: 1450, Segments: 20, Retransmits: 1,
		Gaps:             []analyze.GapReport{{Direction: "server_to_client", Offset: 700, Bytes: 100, After: at(200, 17)}},
		TransactionCount: 2, Findings: []*analyze.Finding{nagle},
		Transactions: []*analyze.TxReport{
			{Index: 1, Method: "GET", Target: "/", Host: "example", Proto: "HTTP/1.1", Status: 200, ResponseBody: 612,
				HasRequest: true, HasResponse: true, ResponseComplete: true, TTFB: 800 * time.Microsecond, Total: 1200 * time.Microsecond,
				Timing: &analyze.Breakdown{Connect: 120 * time.Microsecond, Send: 0, Wait: 800 * time.Microsecond, Receive: 400 * time.Microsecond}},
			{Index: 2, Method: "POST", Target: "/upload", Host: "example", Proto: "HTTP/1.1", Status: 201, RequestBody: 18, ResponseBody: 2,
				HasRequest: true, HasResponse: true, ResponseComplete: true, Gap: true, TTFB: 41 * time.Millisecond, Total: 42 * time.Millisecond,
				Timing: &analyze.Breakdown{Send: 40300 * time.Microsecond, Wait: 700 * time.Microsecond, Receive: time.Millisecond,
					Attributed: map[string]time.Duration{"nagle-delayed-ack": 40200 * time.Microsecond}}},
		},
	}
	c1.Transactions[0].RequestStart, c1.Transactions[0].ResponseStart = http1Pos(at(1, 4)), http1Pos(at(2, 6))
	c1.Transactions[1].RequestStart, c1.Transactions[1].ResponseStart = http1Pos(at(3, 10)), http1Pos(at(44, 14))
	c2 := &analyze.ConnReport{ID: 2, Client: netip.MustParseAddrPort("10.0.0.1:51236"), Server: server,
		First: at(260, 21), Last: at(260.1, 22), EndedBy: "refused", Segments: 2}
	sum := &analyze.Summary{
		Start: t0, End: t0.Add(300 * time.Millisecond), Packets: 22, Connections: 2, HTTPConnections: 1, Refused: 1, Reused: 1,
		Transactions: 2, TxPerConnMin: 2, TxPerConnMedian: 2, TxPerConnMax: 2, Gaps: 1, GapBytes: 100,
		FindingsBySeverity: map[string]int{"warning": 2}, FindingsByRule: map[string]int{"nagle-delayed-ack": 1, "no-connection-reuse": 1},
		Pairs: []analyze.PairCount{{Client: "10.0.0.1", Server: "10.0.0.2:80", Connections: 2}},
	}
	return []*analyze.ConnReport{c1, c2}, []*analyze.Finding{nagle, churn}, &Result{Inputs: []string{"capture.pcap"}, Summary: sum}
}

// feed drives a renderer the way the engine does: a connection's findings
// before the connection, cross-connection findings after every connection.
func feed(r Renderer, res *Result) error {
	conns, findings, _ := model()
	r.Finding(findings[0])
	r.Connection(conns[0])
	r.Connection(conns[1])
	r.Finding(findings[1])
	return r.Finish(res)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// TestFormatsGolden renders the model in every registered format, as analyze
// and as lint do, and compares with testdata/<format>.golden and
// testdata/<format>-lint.golden.
func TestFormatsGolden(t *testing.T) {
	t.Setenv(StepSummaryEnv, "") // the github format must not append to a real job summary
	for _, f := range Formats {
		t.Run(f.Name, func(t *testing.T) {
			_, _, res := model()
			var out bytes.Buffer
			if err := feed(f.New(&out, Options{Inputs: res.Inputs}), res); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, f.Name+".golden", out.Bytes())

			out.Reset()
			b := f.NewBatch(&out, Options{})
			for _, path := range []string{"a.pcap", "b.pcap"} {
				_, _, res := model()
				res.Inputs = []string{path}
				if err := feed(b.File(path, res.Inputs), res); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, f.Name+"-lint.golden", out.Bytes())
		})
	}
}

func TestLiveTextGolden(t *testing.T) {
	_, _, res := model()
	var out bytes.Buffer
	if err := feed(Lookup("text").New(&out, Options{Inputs: res.Inputs, Live: true}), res); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "text-live.golden", out.Bytes())
}

func TestColorOnlyWhenAsked(t *testing.T) {
	for _, color := range []bool{false, true} {
		_, _, res := model()
		var out bytes.Buffer
		feed(Lookup("text").New(&out, Options{Inputs: res.Inputs, Color: color}), res)
		if got := strings.Contains(out.String(), "\x1b["); got != color {
			t.Errorf("Color %t: escape codes present %t", color, got)
		}
	}
}

func TestRegistry(t *testing.T) {
	if Names() != "text, json, ndjson, sarif, junit, github or gitlab" {
		t.Errorf("Names() = %q", Names())
	}
	seen := map[string]bool{}
	for _, f := range Formats {
		if f.Name == "" || f.Help == "" || f.New == nil || f.NewBatch == nil || seen[f.Name] {
			t.Errorf("format %+v: needs a unique name, help, New and NewBatch", f)
		}
		seen[f.Name] = true
	}
	if err := Check("yaml"); err == nil || !strings.Contains(err.Error(), "text, json, ndjson, sarif, junit, github or gitlab") {
		t.Errorf("Check(yaml) = %v", err)
	}
	if Lookup("ndjson") == nil || !Lookup("ndjson").Streams || Lookup("json").Streams {
		t.Error("only ndjson streams")
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	n      int
	writes int
}

var errFull = errors.New("no space left on device")

func (w *failAfter) Write(p []byte) (int, error) {
	w.writes++
	if len(p) > w.n {
		n := w.n
		w.n = 0
		return n, errFull
	}
	w.n -= len(p)
	return len(p), nil
}

// Every format, as analyze and as lint, reports the first write error from
// Finish/Close, and stops writing after it.
func TestWriteErrorsReported(t *testing.T) {
	for _, f := range Formats {
		for _, limit := range []int{0, 100} {
			_, _, res := model()
			w := &failAfter{n: limit}
			if err := feed(f.New(w, Options{Inputs: res.Inputs}), res); !errors.Is(err, errFull) {
				t.Errorf("%s after %d bytes: Finish returned %v", f.Name, limit, err)
			}
			if w.writes > 1 && limit == 0 {
				t.Errorf("%s: %d writes after the first failed", f.Name, w.writes-1)
			}
			w = &failAfter{n: limit}
			b := f.NewBatch(w, Options{})
			ferr := feed(b.File("a.pcap", res.Inputs), res)
			if cerr := b.Close(); !errors.Is(ferr, errFull) && !errors.Is(cerr, errFull) {
				t.Errorf("%s lint after %d bytes: errors %v, %v", f.Name, limit, ferr, cerr)
			}
		}
	}
}

func TestWriterShortWrite(t *testing.T) {
	w := NewWriter(shortWriter{})
	if _, err := w.Write([]byte("abc")); err == nil || w.Err() == nil {
		t.Fatal("a short write without an error must count as an error")
	}
	if NewWriter(w) != w {
		t.Fatal("wrapping a Writer must share its error")
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

// http1Pos: TxReport still carries the parser's positions.
func http1Pos(p analyze.Point) flow.Pos {
	return flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame}
}

// Issue 18 item 10: with several inputs every frame names its file: text
// as base#frame (ring1.pcap#1), JSON with *_input indexes.
func TestSeveralInputsGolden(t *testing.T) {
	for _, name := range []string{"text", "json"} {
		conns, findings, res := model()
		res.Inputs = []string{"/var/captures/ring0.pcap", "/var/captures/ring1.pcap"}
		nagle := findings[0]
		nagle.Frames = []analyze.Frame{{Input: 0, Frame: 10}, {Input: 1, Frame: 1}, {Input: 1, Frame: 2}}
		c1 := conns[0]
		c1.Last.Input, c1.Last.Frame = 1, 9
		c1.Gaps[0].After.Input, c1.Gaps[0].After.Frame = 1, 6
		c1.Transactions[1].ResponseStart.Input, c1.Transactions[1].ResponseStart.Frame = 1, 3
		var out bytes.Buffer
		r := Lookup(name).New(&out, Options{Inputs: res.Inputs})
		r.Finding(nagle)
		r.Connection(c1)
		r.Connection(conns[1])
		r.Finding(findings[1])
		if err := r.Finish(res); err != nil {
			t.Fatal(err)
		}
		checkGolden(t, name+"-inputs.golden", out.Bytes())
	}
}

// Issue 18 items 6 and 7: connections print in id order whatever order
// they ended in; a finding repeated on many connections is grouped.
func TestGroupingAndOrder(t *testing.T) {
	client, server := netip.MustParseAddrPort("10.0.0.1:50000"), netip.MustParseAddrPort("10.0.0.2:80")
	var out bytes.Buffer
	r := Lookup("text").New(&out, Options{Inputs: []string{"x.pcap"}})
	for _, id := range []uint64{5, 3, 1, 4, 2} {
		f := &analyze.Finding{Rule: "handshake-overhead", Severity: analyze.Info, Conn: analyze.ConnRef{ID: id, Client: client, Server: server},
			Transaction: 1, Time: t0.Add(time.Duration(id) * time.Millisecond), Frames: []analyze.Frame{{Frame: int64(id)}},
			Duration: time.Duration(id) * time.Millisecond, Message: fmt.Sprintf("handshake took %d.0 ms of %d ms (%d %%)", id, 10+id, 40+id)}
		r.Finding(f)
		r.Connection(&analyze.ConnReport{ID: id, Client: client, Server: server, HTTP: true, First: analyze.Point{Time: t0}, Last: analyze.Point{Time: t0},
			EndedBy: "fin", Findings: []*analyze.Finding{f}})
	}
	_, _, res := model()
	if err := r.Finish(res); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	var last int
	for _, id := range []string{"conn 1 ", "conn 2 ", "conn 3 ", "conn 4 ", "conn 5 "} {
		i := strings.Index(s, "\n"+id)
		if i < last {
			t.Errorf("%q out of order:\n%s", id, s)
		}
		last = i
	}
	for _, want := range []string{"info handshake-overhead  5 findings on 5 connections", "connections: 1, 2, 3, 4, 5", "3 examples (longest first):",
		"      conn 5  tx 1  frames 5  5.0 ms\n          handshake took 5.0 ms", "conn 4  tx 1", "conn 3  tx 1"} {
		if !strings.Contains(s, want) {
			t.Errorf("lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "handshake took") != 3 {
		t.Errorf("want the 3 longest examples only:\n%s", s)
	}
}

func TestWrapLine(t *testing.T) {
	line := "      POST /upload split into headers (212 B) and body (18 B); body held by Nagle until delayed ACK after 40.2 ms"
	got := wrapLine(line, 50)
	for _, l := range got {
		if visible(l) > 50 {
			t.Errorf("%q is %d wide", l, visible(l))
		}
	}
	if strings.Join(strings.Fields(strings.Join(got, " ")), " ") != strings.Join(strings.Fields(line), " ") {
		t.Errorf("words lost: %q", got)
	}
	if !strings.HasPrefix(got[1], "          P") && !strings.HasPrefix(got[1], "          ") {
		t.Errorf("continuation not indented: %q", got[1])
	}
	frames := "  warning nagle  frames " + strings.Repeat("ring1.pcap#41,", 8) + "x"
	for _, l := range wrapLine(frames, 60) {
		if visible(l) > 60 {
			t.Errorf("frame list not broken at commas: %q", l)
		}
	}
	if got := wrapLine(line, 0); len(got) != 1 || got[0] != line {
		t.Errorf("width 0 wrapped: %q", got)
	}
}
