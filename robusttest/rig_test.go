package robusttest

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// TCP flags in wire order.
const (
	fFIN = 0x01
	fSYN = 0x02
	fRST = 0x04
	fPSH = 0x08
	fACK = 0x10
	fPA  = fPSH | fACK
)

const (
	linkEthernet = 1
	hdrLen       = 14 + 20 + 20 // Ethernet, IPv4, TCP without options
	mss          = 1460
)

// endpoint is an IPv4 address and port.
type endpoint struct {
	ip   [4]byte
	port uint16
}

func ep(a, b, c, d byte, port uint16) endpoint { return endpoint{[4]byte{a, b, c, d}, port} }

// frameTemplate is one Ethernet/IPv4/TCP frame whose fields are patched in
// place for every packet: no allocation per packet, so generating tens of
// millions of packets costs little more than processing them.
type frameTemplate struct {
	buf  []byte
	ipID uint16
}

func newFrameTemplate() *frameTemplate {
	b := make([]byte, hdrLen+64<<10)
	copy(b[0:6], []byte{0x02, 0, 0, 0, 0, 2})  // destination MAC
	copy(b[6:12], []byte{0x02, 0, 0, 0, 0, 1}) // source MAC
	binary.BigEndian.PutUint16(b[12:14], 0x0800)
	ip := b[14:]
	ip[0] = 0x45 // IPv4, 20-byte header
	ip[8] = 64   // TTL
	ip[9] = 6    // TCP
	tcp := b[34:]
	tcp[12] = 5 << 4 // 20-byte header
	binary.BigEndian.PutUint16(tcp[14:16], 65535)
	return &frameTemplate{buf: b}
}

// frame returns the template patched for one segment; the slice is reused
// by the next call (the Assembler does not retain packet data).
func (f *frameTemplate) frame(src, dst endpoint, seq, ack uint32, flags byte, payload []byte) []byte {
	b := f.buf
	f.ipID++
	binary.BigEndian.PutUint16(b[16:18], uint16(40+len(payload)))
	binary.BigEndian.PutUint16(b[18:20], f.ipID)
	copy(b[26:30], src.ip[:])
	copy(b[30:34], dst.ip[:])
	binary.BigEndian.PutUint16(b[34:36], src.port)
	binary.BigEndian.PutUint16(b[36:38], dst.port)
	binary.BigEndian.PutUint32(b[38:42], seq)
	binary.BigEndian.PutUint32(b[42:46], ack)
	b[47] = flags
	binary.BigEndian.PutUint16(b[50:52], f.ipID) // checksum: differs per packet like a real one
	n := copy(b[hdrLen:], payload)
	return b[:hdrLen+n]
}

// countingSink keeps counts only, so that the sink itself stays bounded
// (unless keep is set: the fuzzer checks every finding).
type countingSink struct {
	findings map[string]int
	conns    int64
	ends     map[reassembly.EndReason]int64
	keep     bool
	kept     []*analyze.Finding
}

func newCountingSink() *countingSink {
	return &countingSink{findings: map[string]int{}, ends: map[reassembly.EndReason]int64{}}
}

func (s *countingSink) Finding(f *analyze.Finding) {
	s.findings[f.Rule]++
	if s.keep {
		s.kept = append(s.kept, f)
	}
}
func (s *countingSink) Connection(c *analyze.ConnReport) {
	s.conns++
	s.ends[c.Conn.End]++
}

// rig drives an Assembler and an Engine with generated packets and samples
// the live heap.
type rig struct {
	t    testing.TB
	asm  *reassembly.Assembler
	eng  *analyze.Engine
	sink *countingSink
	tmpl *frameTemplate
	t0   time.Time
	now  time.Duration // capture time of the next packet, from t0
	ord  int64

	measure   bool // sample the heap (newRig); newPipe does not
	base      memSample
	peak      memSample
	halves    [2]memSample // peaks before and after halfway()
	late      bool         // halfway() was called
	samples   int
	lastCheck int64
	every     int64 // sample the heap every this many packets (0: only when asked)
}

type memSample struct {
	heapInuse, heapAlloc uint64
}

func readMem() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{heapInuse: ms.HeapInuse, heapAlloc: ms.HeapAlloc}
}

func newRig(t testing.TB, opts reassembly.Options, cfg *analyze.Config) *rig {
	return newRigHTTP(t, opts, http1.Options{}, cfg)
}

// newRigHTTP is newRig with the HTTP/1 parser's bounds set.
func newRigHTTP(t testing.TB, opts reassembly.Options, httpOpts http1.Options, cfg *analyze.Config) *rig {
	r := &rig{t: t, sink: newCountingSink(), tmpl: newFrameTemplate(),
		t0: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	r.measure = true
	r.base = readMem()
	r.peak = r.base
	r.eng = analyze.NewEngine(cfg, suite.Rules, r.sink)
	opts.Consumers = r.eng.HTTP1Consumers(httpOpts)
	r.asm = reassembly.NewAssembler(r.eng, opts)
	return r
}

// send processes one packet at the current capture time.
func (r *rig) send(src, dst endpoint, seq, ack uint32, flags byte, payload []byte) {
	r.ord++
	r.asm.Packet(linkEthernet, r.tmpl.frame(src, dst, seq, ack, flags, payload),
		flow.Pos{Time: r.t0.Add(r.now), Frame: r.ord, Ord: r.ord})
	if r.measure && r.every > 0 && r.ord-r.lastCheck >= r.every {
		r.sample()
	}
}

// sample measures the live heap (after a GC) and keeps the peak.
func (r *rig) sample() memSample {
	r.lastCheck = r.ord
	m := readMem()
	r.samples++
	r.peak.heapInuse = max(r.peak.heapInuse, m.heapInuse)
	r.peak.heapAlloc = max(r.peak.heapAlloc, m.heapAlloc)
	h := &r.halves[0]
	if r.late {
		h = &r.halves[1]
	}
	h.heapInuse = max(h.heapInuse, m.heapInuse)
	h.heapAlloc = max(h.heapAlloc, m.heapAlloc)
	return m
}

// halfway marks the middle of an attack: checkFlat compares the peak heap
// of the second half with that of the first (an attack reaches its steady
// state well before its middle; memory may saw-tooth, it must not climb).
func (r *rig) halfway() {
	r.sample()
	r.late = true
}

// finish closes the pipeline and returns the summary.
func (r *rig) finish() *analyze.Summary {
	if r.measure {
		r.sample()
	}
	r.asm.Close()
	s := r.eng.Close()
	st := r.asm.Stats()
	s.Packets, s.NonTCP, s.Undecodable = st.Packets, st.NonTCP, st.Undecodable
	s.EvictedFull, s.EvictedIdle, s.OutOfOrderDropped = st.EvictedFull, st.EvictedIdle, st.OutOfOrderDropped
	return s
}

// growth is the peak live heap above the baseline taken before the run.
func (r *rig) growth() (inuse, alloc int64) {
	return int64(r.peak.heapInuse) - int64(r.base.heapInuse), int64(r.peak.heapAlloc) - int64(r.base.heapAlloc)
}

func (r *rig) report(name string) {
	in, al := r.growth()
	r.t.Logf("%s: %d packets, peak live heap +%s in use (+%s allocated) over %d samples",
		name, r.ord, mib(in), mib(al), r.samples)
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// stress reports whether the attacks run at full size (CONNLINT_STRESS=1).
func stress() bool { return os.Getenv("CONNLINT_STRESS") == "1" }

// scale picks the size of an attack: full under CONNLINT_STRESS=1, ci by
// default, short under -short.
func scale(full, ci, short int) int {
	switch {
	case stress():
		return full
	case testing.Short():
		return short
	}
	return ci
}

// conn is one generated TCP connection with its sequence state.
type conn struct {
	cli, srv endpoint
	cseq     uint32 // next client sequence number
	sseq     uint32 // next server sequence number
}

func newConn(cli, srv endpoint) *conn {
	return &conn{cli: cli, srv: srv, cseq: 1000, sseq: 5000}
}

func (r *rig) handshake(c *conn) {
	r.send(c.cli, c.srv, c.cseq, 0, fSYN, nil)
	r.send(c.srv, c.cli, c.sseq, c.cseq+1, fSYN|fACK, nil)
	c.cseq++
	c.sseq++
	r.send(c.cli, c.srv, c.cseq, c.sseq, fACK, nil)
}

// clientData sends b from the client in segments of at most seg bytes.
func (r *rig) clientData(c *conn, b []byte, seg int) {
	for len(b) > 0 {
		n := min(len(b), seg)
		r.send(c.cli, c.srv, c.cseq, c.sseq, fPA, b[:n])
		c.cseq += uint32(n)
		b = b[n:]
	}
}

func (r *rig) serverData(c *conn, b []byte, seg int) {
	for len(b) > 0 {
		n := min(len(b), seg)
		r.send(c.srv, c.cli, c.sseq, c.cseq, fPA, b[:n])
		c.sseq += uint32(n)
		b = b[n:]
	}
}

func (r *rig) clientAck(c *conn) { r.send(c.cli, c.srv, c.cseq, c.sseq, fACK, nil) }
func (r *rig) serverAck(c *conn) { r.send(c.srv, c.cli, c.sseq, c.cseq, fACK, nil) }

// writeHeapProfile writes a heap profile when CONNLINT_HEAPPROF names a
// file prefix (for looking at what a bound is made of).
func writeHeapProfile(t testing.TB, name string) {
	prefix := os.Getenv("CONNLINT_HEAPPROF")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + name + ".prof")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	pprof.WriteHeapProfile(f)
}
