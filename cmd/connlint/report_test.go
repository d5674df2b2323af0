package main

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Issue 18: what the text and JSON reports say.

const (
	labPortChurn = "../../testdata/lab/port-churn.pcap"
	labRace      = "../../testdata/lab/keepalive-race.pcap"
	labStall     = "../../testdata/lab/delayed-ack-stall.pcap"
)

type packet struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readPcap(t *testing.T, path string) []packet {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("%s missing", path)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []packet
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, packet{ci, data})
	}
}

func writePcap(t *testing.T, path string, ps []packet) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

var connHead = regexp.MustCompile(`(?m)^conn (\d+) `)

// item 6: a finding repeated on many connections is one entry with its
// count, connections and worst examples; --verbose prints each; JSON keeps all.
func TestRepeatedFindingsGrouped(t *testing.T) {
	needFile(t, labPortChurn)
	const msg = "the connection carried one small transaction"
	code, out, _ := runCLI("analyze", "--color", "never", labPortChurn)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if n := strings.Count(out, msg); n != 3 {
		t.Errorf("default text prints %d handshake-overhead messages, want the 3 examples", n)
	}
	for _, want := range []string{"\nRepeated findings", "info handshake-overhead  770 findings on 770 connections",
		"connections: 1, 2, 3,", "… 758 more", "3 examples (longest first):", "(one of 770 alike"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q", want)
		}
	}
	// the examples are the longest
	ex := regexp.MustCompile(`(?m)^      conn \d+  tx 1  frames [\d,]+  ([\d.]+) ms$`).FindAllStringSubmatch(out, -1)
	if len(ex) != 3 {
		t.Fatalf("examples: %v", ex)
	}
	doc, _, _ := analyzeJSON(t, labPortChurn)
	longest := 0.0
	n := 0
	for _, f := range doc.Findings {
		if f.Rule == "handshake-overhead" {
			n++
			longest = max(longest, *f.DurationMS)
		}
	}
	if first, _ := strconv.ParseFloat(ex[0][1], 64); n != 770 || first != float64(int(longest*10+0.5))/10 {
		t.Errorf("JSON has %d handshake-overhead findings (want 770); first example %s ms, longest %.3f ms", n, ex[0][1], longest)
	}
	for _, flag := range []string{"--verbose", "--all"} {
		_, out, _ := runCLI("analyze", "--color", "never", flag, labPortChurn)
		if n := strings.Count(out, msg); n != 770 || strings.Contains(out, "Repeated findings") {
			t.Errorf("%s prints %d handshake-overhead messages, want 770 and no group", flag, n)
		}
	}
}

// item 7: the final report lists connections in id order.
func TestConnectionsInIDOrder(t *testing.T) {
	needFile(t, labPortChurn)
	_, out, _ := runCLI("analyze", "--color", "never", labPortChurn)
	var ids []int
	for _, m := range connHead.FindAllStringSubmatch(out, -1) {
		id, _ := strconv.Atoi(m[1])
		ids = append(ids, id)
	}
	if len(ids) != 800 || !slices.IsSorted(ids) {
		t.Errorf("%d connections, sorted %t: %v…", len(ids), slices.IsSorted(ids), ids[:min(10, len(ids))])
	}
}

// item 9: counts are words ("1 finding"), every connection is counted in
// the summary line, a damaged timestamp gives no negative duration, and
// --max-conns changes neither the connection count nor the span.
func TestSummaryCounts(t *testing.T) {
	needFile(t, labPipelining)
	ps := readPcap(t, labPipelining)
	_, out, _ := runCLI("analyze", "--color", "never", labPipelining)
	for _, want := range []string{"  1 TCP connection: 1 HTTP, 0 not HTTP, 0 without data;", "  1 finding: "} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`\b1 \w+s\b|\(s\)`).MatchString(out) {
		t.Errorf("plural after 1, or (s):\n%s", out)
	}
	// a SYN nobody answered, on another port: counted "without data"
	syn := packet{ps[0].ci, slices.Clone(ps[0].data)}
	binary.BigEndian.PutUint16(syn.data[34:], binary.BigEndian.Uint16(syn.data[34:])+1)
	path := writePcap(t, filepath.Join(t.TempDir(), "syn.pcap"), append(slices.Clone(ps), syn))
	_, out, _ = runCLI("analyze", "--color", "never", path)
	if !strings.Contains(out, "  2 TCP connections: 1 HTTP, 0 not HTTP, 1 without data;") {
		t.Errorf("a SYN-only connection is not counted:\n%s", out)
	}
	// the last packet stamped an hour before the first
	bad := slices.Clone(ps)
	last := len(bad) - 1
	bad[last].ci.Timestamp = bad[0].ci.Timestamp.Add(-time.Hour)
	path = writePcap(t, filepath.Join(t.TempDir(), "damaged.pcap"), bad)
	_, out, _ = runCLI("analyze", "--color", "never", path)
	if regexp.MustCompile(`(^|\s)-\d`).MatchString(out) {
		t.Errorf("negative duration:\n%s", out)
	}
	doc, _, _ := analyzeJSON(t, path)
	for _, c := range doc.Connections {
		if c.DurationMS < 0 {
			t.Errorf("conn %d: duration_ms %v", c.ID, c.DurationMS)
		}
	}
	// --max-conns tracks fewer at once; the summary still counts all
	needFile(t, labPortChurn)
	all, _, _ := analyzeJSON(t, labPortChurn)
	few, _, _ := analyzeJSON(t, "--max-conns", "10", labPortChurn)
	if all.Summary.Connections != 800 || few.Summary.Connections != 800 || few.Summary.End != all.Summary.End || few.Summary.Start != all.Summary.Start {
		t.Errorf("--max-conns 10: %d connections %s → %s; default: %d %s → %s", few.Summary.Connections, few.Summary.Start, few.Summary.End,
			all.Summary.Connections, all.Summary.Start, all.Summary.End)
	}
}

// item 10: with several inputs every frame says its file: text as
// base#frame, JSON with the *_input index of each frame.
func TestFramesAcrossInputs(t *testing.T) {
	needFile(t, labNagle)
	ps := readPcap(t, labNagle)
	dir := t.TempDir()
	// frames 10, 11, 12 are the first Nagle finding: cut between 10 and 11
	a := writePcap(t, filepath.Join(dir, "ring0.pcap"), ps[:10])
	b := writePcap(t, filepath.Join(dir, "ring1.pcap"), ps[10:])
	code, out, stderr := runCLI("analyze", "--color", "never", a, b)
	if code != 0 {
		t.Fatalf("exit %d %s", code, stderr)
	}
	if !strings.Contains(out, "frames ring0.pcap#10,ring1.pcap#1,ring1.pcap#2") || strings.Contains(out, dir+"/ring0.pcap#") {
		t.Errorf("text evidence does not name the files by base name:\n%.1500s", out)
	}
	if !strings.Contains(out, "frames ring0.pcap#1–ring1.pcap#") {
		t.Errorf("the connection's frame range does not name both files:\n%.600s", out)
	}
	var raw struct {
		Inputs   []string `json:"inputs"`
		Findings []struct {
			Frames      []int64 `json:"frames"`
			FrameInputs []int   `json:"frame_inputs"`
		} `json:"findings"`
		Connections []struct {
			FirstInput *int `json:"first_frame_input"`
			LastInput  *int `json:"last_frame_input"`
			LastFrame  int64
		} `json:"connections"`
	}
	_, js, _ := runCLI("analyze", "--format", "json", a, b)
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		t.Fatal(err)
	}
	f := raw.Findings[0]
	if !slices.Equal(f.Frames, []int64{10, 1, 2}) || !slices.Equal(f.FrameInputs, []int{0, 1, 1}) {
		t.Errorf("first finding: frames %v inputs %v, want [10 1 2] [0 1 1]", f.Frames, f.FrameInputs)
	}
	c := raw.Connections[0]
	if c.FirstInput == nil || *c.FirstInput != 0 || c.LastInput == nil || *c.LastInput != 1 {
		t.Errorf("connection: first_frame_input %v, last_frame_input %v", c.FirstInput, c.LastInput)
	}
	// one input: no *_input fields at all
	_, js, _ = runCLI("analyze", "--format", "json", labNagle)
	if strings.Contains(js, "_input") || strings.Contains(js, "frame_inputs") {
		t.Errorf("one input: JSON has input indexes")
	}
	// the same base name in two directories: paths are kept
	os.Mkdir(filepath.Join(dir, "x"), 0o755)
	c2 := writePcap(t, filepath.Join(dir, "x", "ring0.pcap"), ps[10:])
	_, out, _ = runCLI("analyze", "--color", "never", a, c2)
	if !strings.Contains(out, a+"#10,"+c2+"#1") {
		t.Errorf("colliding base names are not told apart:\n%.1500s", out)
	}
}

// item 12: keepalive-race lists its frames in capture order, the RST it
// cites included; delayed-ack-stall does not print a 0.0 ms RTT.
func TestEvidenceFrames(t *testing.T) {
	needFile(t, labRace)
	doc, _, _ := analyzeJSON(t, labRace)
	cited := regexp.MustCompile(`frame (\d+)`)
	n := 0
	for _, f := range doc.Findings {
		if f.Rule != "keepalive-race" {
			continue
		}
		n++
		if !slices.IsSorted(f.Frames) {
			t.Errorf("frames %v not in capture order", f.Frames)
		}
		for _, m := range cited.FindAllStringSubmatch(f.Message, -1) {
			fr, _ := strconv.ParseInt(m[1], 10, 64)
			if !slices.Contains(f.Frames, fr) {
				t.Errorf("message cites frame %d, frames are %v: %s", fr, f.Frames, f.Message)
			}
		}
	}
	if n == 0 {
		t.Fatal("no keepalive-race finding")
	}
	needFile(t, labStall)
	doc, _, _ = analyzeJSON(t, labStall)
	n = 0
	for _, f := range doc.Findings {
		if f.Rule == "delayed-ack-stall" {
			n++
			if strings.Contains(f.Message, "0.0 ms") || !strings.Contains(f.Message, "RTT (under 0.1 ms)") {
				t.Errorf("loopback RTT: %s", f.Message)
			}
		}
	}
	if n == 0 {
		t.Fatal("no delayed-ack-stall finding")
	}
}
