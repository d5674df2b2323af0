package reassembly

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// pktSpec describes one test packet at the IP/TCP level.
type pktSpec struct {
	src, dst netip.AddrPort
	flags    Flags
	seq, ack uint32
	win      uint16
	opts     []layers.TCPOption
	payload  []byte
	ipID     uint16
}

// buildIP serialises IPv4 or IPv6 + TCP + payload with gopacket's layers.
func buildIP(t testing.TB, s pktSpec) []byte {
	t.Helper()
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(s.src.Port()), DstPort: layers.TCPPort(s.dst.Port()),
		Seq: s.seq, Ack: s.ack, Window: s.win, Options: s.opts,
		FIN: s.flags.Has(FIN), SYN: s.flags.Has(SYN), RST: s.flags.Has(RST), PSH: s.flags.Has(PSH),
		ACK: s.flags.Has(ACK), URG: s.flags.Has(URG), ECE: s.flags.Has(ECE), CWR: s.flags.Has(CWR),
	}
	var ip gopacket.SerializableLayer
	if s.src.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Id: s.ipID,
			SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
		must(t, tcp.SetNetworkLayerForChecksum(v4))
		ip = v4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(s.src.Addr().AsSlice()), DstIP: net.IP(s.dst.Addr().AsSlice())}
		must(t, tcp.SetNetworkLayerForChecksum(v6))
		ip = v6
	}
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tcp, gopacket.Payload(s.payload)))
	return append([]byte(nil), buf.Bytes()...)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ethertypeOf(ip []byte) layers.EthernetType {
	if ip[0]>>4 == 6 {
		return layers.EthernetTypeIPv6
	}
	return layers.EthernetTypeIPv4
}

// frameFor wraps an IP packet in the link layer of linkType.
func frameFor(t testing.TB, linkType int, ip []byte) []byte {
	t.Helper()
	et := ethertypeOf(ip)
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, append(ls, gopacket.Payload(ip))...))
		return append([]byte(nil), buf.Bytes()...)
	}
	mac1 := net.HardwareAddr{0, 1, 2, 3, 4, 5}
	mac2 := net.HardwareAddr{0, 1, 2, 3, 4, 6}
	switch linkType {
	case linkEthernet:
		return ser(&layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: et})
	case linkSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], mac1)
		binary.BigEndian.PutUint16(h[14:], uint16(et))
		return append(h, ip...)
	case linkSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], uint16(et))
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[11] = 6
		copy(h[12:], mac1)
		return append(h, ip...)
	case linkNull:
		fam := layers.ProtocolFamilyIPv4
		if et == layers.EthernetTypeIPv6 {
			fam = layers.ProtocolFamilyIPv6Linux
		}
		return ser(&layers.Loopback{Family: fam}) // host (little-endian) order
	case linkLoop:
		h := make([]byte, 4)
		fam := uint32(2)
		if et == layers.EthernetTypeIPv6 {
			fam = 24
		}
		binary.BigEndian.PutUint32(h, fam)
		return append(h, ip...)
	case linkRaw, linkIPv4, linkIPv6, linkRawBSD12, linkRawBSD14:
		return ip
	}
	t.Fatalf("no framing for link type %d", linkType)
	return nil
}

// vlanFrame wraps ip in Ethernet with the given 802.1Q/802.1ad tags.
func vlanFrame(t testing.TB, ip []byte, tags ...layers.EthernetType) []byte {
	t.Helper()
	ls := []gopacket.SerializableLayer{&layers.Ethernet{SrcMAC: net.HardwareAddr{0, 1, 2, 3, 4, 5},
		DstMAC: net.HardwareAddr{0, 1, 2, 3, 4, 6}, EthernetType: tags[0]}}
	for i := range tags {
		next := ethertypeOf(ip)
		if i+1 < len(tags) {
			next = tags[i+1]
		}
		ls = append(ls, &layers.Dot1Q{VLANIdentifier: uint16(10 + i), Type: next})
	}
	ls = append(ls, gopacket.Payload(ip))
	buf := gopacket.NewSerializeBuffer()
	must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, ls...))
	return append([]byte(nil), buf.Bytes()...)
}

// recorder is both the Handler and the fake stream sink of every
// connection: it logs events as short strings, so tests compare logs.
type recorder struct {
	log       []string
	segs      []Segment
	gaps      []Gap // handler Gap events
	sinkGaps  []Gap // sink Gap calls, checked against gaps
	incons    []Inconsistency
	ended     []Conn
	started   []*Conn
	delivered [2][]byte // per direction over all connections (for fuzzing single-conn streams)
	holes     [2][][2]uint64
}

func (r *recorder) logf(format string, args ...any) {
	r.log = append(r.log, fmt.Sprintf(format, args...))
}

func dirName(d flow.Dir) string {
	if d == flow.ClientToServer {
		return "c"
	}
	return "s"
}

func (r *recorder) ConnStart(c *Conn) {
	r.started = append(r.started, c)
	r.logf("start %d %v>%v", c.ID, c.Client, c.Server)
}
func (r *recorder) Segment(c *Conn, s *Segment) { r.segs = append(r.segs, *s) }
func (r *recorder) Gap(c *Conn, g Gap)          { r.gaps = append(r.gaps, g) }
func (r *recorder) Inconsistency(c *Conn, x Inconsistency) {
	r.incons = append(r.incons, x)
	r.logf("incons %s @%d +%d first#%d second#%d", dirName(x.Dir), x.Offset, x.Bytes, x.First.Frame, x.Second.Frame)
}
func (r *recorder) ConnEnd(c *Conn) {
	r.ended = append(r.ended, *c)
	r.logf("connend %d %v", c.ID, c.End)
}

// consumers is a ConsumerFactory for tests: the func makes each
// connection's consumer; roles are guessed from payload as in production
// (http1.SenderDir).
type consumers func(c *Conn) Consumer

func (f consumers) NewConsumer(c *Conn) Consumer { return f(c) }

func (consumers) SenderDir(b []byte) (flow.Dir, bool) { return http1.SenderDir(b) }

// httpHandler receives the HTTP/1 events of every connection, with the
// connection, as analyze.Engine does.
type httpHandler interface {
	Message(c *Conn, m *http1.Message)
	Transaction(c *Conn, t *http1.Transaction)
}

// withHTTP returns opts with the production wiring in miniature: an
// http1.Conversation per connection reporting to h (nil: discarded).
func withHTTP(opts Options, h httpHandler) Options {
	if h == nil {
		h = nopHTTP{}
	}
	opts.Consumers = consumers(func(c *Conn) Consumer {
		return http1.NewConversation(httpEvents{h, c}, http1.Options{}, c.MidStream)
	})
	return opts
}

// httpEvents attaches the connection to a Conversation's callbacks.
type httpEvents struct {
	h httpHandler
	c *Conn
}

func (e httpEvents) Message(m *http1.Message)         { e.h.Message(e.c, m) }
func (e httpEvents) Transaction(t *http1.Transaction) { e.h.Transaction(e.c, t) }

type nopHTTP struct{}

func (nopHTTP) Message(*Conn, *http1.Message)         {}
func (nopHTTP) Transaction(*Conn, *http1.Transaction) {}

// sink returns a Consumer that logs into r.
func (r *recorder) sink(c *Conn) Consumer { return &fakeSink{r: r} }

type fakeSink struct {
	r       *recorder
	next    [2]uint64
	started [2]bool
}

func (f *fakeSink) Feed(d flow.Dir, b []byte, pos flow.Pos) {
	if f.started[d] && pos.Offset != f.next[d] {
		panic(fmt.Sprintf("Feed offset %d, expected %d", pos.Offset, f.next[d]))
	}
	f.started[d], f.next[d] = true, pos.Offset+uint64(len(b))
	f.r.delivered[d] = append(f.r.delivered[d], b...)
	f.r.logf("feed %s @%d %q #%d", dirName(d), pos.Offset, b, pos.Frame)
}
func (f *fakeSink) Gap(d flow.Dir, n uint64, pos flow.Pos) {
	if f.started[d] && pos.Offset != f.next[d] {
		panic(fmt.Sprintf("Gap offset %d, expected %d", pos.Offset, f.next[d]))
	}
	f.started[d], f.next[d] = true, pos.Offset+n
	f.r.sinkGaps = append(f.r.sinkGaps, Gap{Dir: d, Offset: pos.Offset, Bytes: n, After: pos})
	f.r.holes[d] = append(f.r.holes[d], [2]uint64{pos.Offset, n})
	f.r.logf("gap %s @%d +%d #%d", dirName(d), pos.Offset, n, pos.Frame)
}
func (f *fakeSink) End(d flow.Dir, how flow.CloseKind, pos flow.Pos) {
	f.r.logf("end %s %s @%d #%d", dirName(d), [...]string{"fin", "rst", "capture-end"}[how], pos.Offset, pos.Frame)
}
func (f *fakeSink) Finish(pos flow.Pos) { f.r.logf("finish #%d", pos.Frame) }

func newTestAssembler(r *recorder, opts Options) *Assembler {
	opts.Consumers = consumers(r.sink)
	return NewAssembler(r, opts)
}

// step is one packet of a step table, from the client ("c") or server ("s")
// of the test connection, and what it must cause.
type step struct {
	from  string // "c" or "s"
	flags Flags
	seq   uint32
	ack   uint32
	data  string
	win   uint16 // default 65535
	zwin  bool   // advertise a zero window
	opts  []layers.TCPOption
	dt    time.Duration // time since the previous step (default 1 ms)
	dup   bool          // re-send the previous packet's exact bytes at the same time
	ipID  uint16
	kind  SegKind  // expected Segment kind
	want  []string // expected log lines (feeds, gaps, ends, inconsistencies, starts/ends)
}

var (
	cliAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	srvAddr = netip.MustParseAddrPort("10.0.0.2:80")
)

type stepRun struct {
	t        *testing.T
	r        *recorder
	a        *Assembler
	link     int
	cli, srv netip.AddrPort
	now      time.Time
	frame    int64
	last     []byte
	ipID     uint16
}

func newStepRun(t *testing.T, opts Options) *stepRun {
	r := &recorder{}
	return &stepRun{t: t, r: r, a: newTestAssembler(r, opts), link: linkEthernet,
		cli: cliAddr, srv: srvAddr, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (sr *stepRun) run(steps []step) {
	t := sr.t
	t.Helper()
	for i, st := range steps {
		var data []byte
		if st.dup {
			data = sr.last
		} else {
			sr.ipID++
			src, dst := sr.cli, sr.srv
			if st.from == "s" {
				src, dst = dst, src
			}
			win := st.win
			if win == 0 && !st.zwin {
				win = 65535
			}
			id := st.ipID
			if id == 0 {
				id = sr.ipID
			}
			data = frameFor(t, sr.link, buildIP(t, pktSpec{src: src, dst: dst, flags: st.flags, seq: st.seq, ack: st.ack,
				win: win, opts: st.opts, payload: []byte(st.data), ipID: id}))
			dt := st.dt
			if dt == 0 {
				dt = time.Millisecond
			}
			sr.now = sr.now.Add(dt)
		}
		sr.last = data
		sr.frame++
		nlog, nseg := len(sr.r.log), len(sr.r.segs)
		sr.a.Packet(sr.link, data, flow.Pos{Time: sr.now, Frame: sr.frame, Ord: sr.frame})
		got := sr.r.log[nlog:]
		if !equalStrings(got, st.want) {
			t.Errorf("step %d (frame %d): events\n got: %s\nwant: %s", i, sr.frame, strings.Join(got, " | "), strings.Join(st.want, " | "))
		}
		if len(sr.r.segs) > nseg {
			if k := sr.r.segs[len(sr.r.segs)-1].Kind; k != st.kind {
				t.Errorf("step %d (frame %d): kind %v, want %v", i, sr.frame, k, st.kind)
			}
		}
	}
}

// close ends the capture and checks the remaining events.
func (sr *stepRun) close(want ...string) {
	t := sr.t
	t.Helper()
	n := len(sr.r.log)
	sr.a.Close()
	if got := sr.r.log[n:]; !equalStrings(got, want) {
		t.Errorf("close: events\n got: %s\nwant: %s", strings.Join(got, " | "), strings.Join(want, " | "))
	}
	if len(sr.r.gaps) != len(sr.r.sinkGaps) {
		t.Fatalf("handler saw %d gaps, sink %d", len(sr.r.gaps), len(sr.r.sinkGaps))
	}
	for i, g := range sr.r.gaps {
		s := sr.r.sinkGaps[i]
		if g.Dir != s.Dir || g.Offset != s.Offset || g.Bytes != s.Bytes || g.After.Frame != s.After.Frame {
			t.Errorf("gap %d: handler %+v, sink %+v", i, g, s)
		}
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mssOpt(mss uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(mss >> 8), byte(mss)}}
}

func wsOpt(shift byte) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{shift}}
}

// handshake returns the three handshake steps for client ISN ci and server ISN si.
func handshake(ci, si uint32) []step {
	return []step{
		{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
		{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
	}
}

type layersOpt = layers.TCPOption
