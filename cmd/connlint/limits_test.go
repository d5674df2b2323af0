package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// limitsPcap writes a capture that hits every connection-table and buffer
// limit when analysed with --max-conns 2 --max-ooo-bytes 2000
// --idle-timeout 10s: five keep-alive connections open at once (table
// full), one that goes quiet for a minute while another talks (idle), and
// one whose client data keeps arriving beyond a hole (out of order).
func limitsPcap(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "limits.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	now := t0
	var ipID uint16
	write := func(src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte, payload []byte) {
		ipID++
		b := make([]byte, 54+len(payload))
		copy(b[0:12], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		b[14], b[22], b[23] = 0x45, 64, 6
		binary.BigEndian.PutUint16(b[16:], uint16(40+len(payload)))
		binary.BigEndian.PutUint16(b[18:], ipID)
		copy(b[26:30], src[:])
		copy(b[30:34], dst[:])
		binary.BigEndian.PutUint16(b[34:], sport)
		binary.BigEndian.PutUint16(b[36:], dport)
		binary.BigEndian.PutUint32(b[38:], seq)
		binary.BigEndian.PutUint32(b[42:], ack)
		b[46], b[47] = 5<<4, flags
		binary.BigEndian.PutUint16(b[48:], 65535)
		copy(b[54:], payload)
		ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Millisecond)
	}
	cli, srv := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	req := []byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	open := func(port uint16) {
		write(cli, srv, port, 80, 100, 0, 0x02, nil)
		write(srv, cli, 80, port, 500, 101, 0x12, nil)
		write(cli, srv, port, 80, 101, 501, 0x10, nil)
		write(cli, srv, port, 80, 101, 501, 0x18, req)
		write(srv, cli, 80, port, 501, 101+uint32(len(req)), 0x18, resp)
	}
	// Five at once: with --max-conns 2 three are evicted.
	for port := uint16(40001); port <= 40005; port++ {
		open(port)
	}
	// One goes quiet while another keeps talking for a minute.
	open(40010)
	open(42000)
	cseq, sseq := uint32(101+len(req)), uint32(501+len(resp))
	for i := 0; i < 60; i++ {
		now = now.Add(time.Second)
		write(cli, srv, 42000, 80, cseq, sseq, 0x18, req)
		cseq += uint32(len(req))
		write(srv, cli, 80, 42000, sseq, cseq, 0x18, resp)
		sseq += uint32(len(resp))
	}
	// Out of order: a byte never captured, then 5000 bytes beyond it.
	open(40020)
	body := bytes.Repeat([]byte("x"), 1000)
	seq := uint32(101 + len(req) + 1)
	for i := 0; i < 5; i++ {
		write(cli, srv, 40020, 80, seq, 501+uint32(len(resp)), 0x18, body)
		seq += 1000
	}
	return path
}

// TestLimitsInSummary: when connlint evicts connections or gives up on a
// hole because a limit was hit, the JSON summary counts it and the text
// summary says so.
func TestLimitsInSummary(t *testing.T) {
	path := limitsPcap(t)
	limits := []string{"--max-conns", "2", "--max-ooo-bytes", "2000", "--idle-timeout", "10s"}
	var out, errb bytes.Buffer
	code := run(append([]string{"analyze", "--format", "json", path}, limits...), nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var doc jsonDoc
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	s := doc.Summary
	if s.EvictedFull < 3 || s.EvictedIdle < 1 || s.OutOfOrderDropped < 1 {
		t.Errorf("summary: %d evicted (table full), %d idle-evicted, %d out-of-order bytes dropped; want ≥ 3, ≥ 1, ≥ 1",
			s.EvictedFull, s.EvictedIdle, s.OutOfOrderDropped)
	}
	ended := map[string]int{}
	for _, c := range doc.Connections {
		ended[c.EndedBy]++
	}
	if ended["evicted"] < 3 || ended["idle"] < 1 {
		t.Errorf("connections ended by: %v", ended)
	}
	for _, f := range doc.Findings {
		t.Errorf("finding on an ordinary capture cut by the limits: %s: %s", f.Rule, f.Message)
	}

	out.Reset()
	errb.Reset()
	if code := run(append([]string{"analyze", "--color", "never", path}, limits...), nil, &out, &errb); code != 0 {
		t.Fatalf("text: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "limits:") || !strings.Contains(out.String(), "evicted") {
		t.Errorf("text summary does not mention the limits:\n%s", out.String())
	}
}

// The config file's limits: section sets the same limits as the flags,
// max-ooo-total included.
func TestLimitsFromConfigFile(t *testing.T) {
	path := limitsPcap(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(cfg, []byte("limits: {max-ooo-total: -1}\n"), 0o644)
	if code, _, errs := runCLI("analyze", "--config", cfg, path); code != exitBadInput || !strings.Contains(errs, "c.yaml:1: limits.max-ooo-total must be 0 or more") {
		t.Errorf("a negative max-ooo-total from the file must be refused: exit %d %q", code, errs)
	}
	base, _, _ := analyzeJSON(t, "--config", "", path)
	os.WriteFile(cfg, []byte("limits: {max-ooo-total: 100}\n"), 0o644)
	doc, code, errs := analyzeJSON(t, "--config", cfg, path)
	if code != 0 || base.Summary.OutOfOrderDropped != 0 || doc.Summary.OutOfOrderDropped == 0 {
		t.Errorf("max-ooo-total from the file: exit %d %q, %d out-of-order bytes dropped (default: %d)", code, errs, doc.Summary.OutOfOrderDropped, base.Summary.OutOfOrderDropped)
	}
	os.WriteFile(cfg, []byte("limits: {max-conns: 2, max-ooo-bytes: 2000, idle-timeout: 10s}\n"), 0o644)
	doc, _, _ = analyzeJSON(t, "--config", cfg, path)
	if s := doc.Summary; s.EvictedFull < 3 || s.EvictedIdle < 1 {
		t.Errorf("limits from the file not applied: %d evicted, %d idle-evicted", s.EvictedFull, s.EvictedIdle)
	}
}
