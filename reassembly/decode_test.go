package reassembly

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var (
	v6cli = netip.MustParseAddrPort("[2001:db8::1]:40000")
	v6srv = netip.MustParseAddrPort("[2001:db8::2]:80")
)

func TestDecodeLinkTypes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		link     int
		cli, srv netip.AddrPort
		frame    func([]byte) []byte // nil: frameFor(link)
	}{
		{"ethernet ipv4", linkEthernet, cliAddr, srvAddr, nil},
		{"ethernet ipv6", linkEthernet, v6cli, v6srv, nil},
		{"802.1Q", linkEthernet, cliAddr, srvAddr, func(ip []byte) []byte { return vlanFrame(t, ip, layers.EthernetTypeDot1Q) }},
		{"QinQ ipv6", linkEthernet, v6cli, v6srv, func(ip []byte) []byte {
			return vlanFrame(t, ip, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q)
		}},
		{"sll", linkSLL, cliAddr, srvAddr, nil},
		{"sll2 ipv4", linkSLL2, cliAddr, srvAddr, nil},
		{"sll2 ipv6", linkSLL2, v6cli, v6srv, nil},
		{"null ipv4 little-endian", linkNull, cliAddr, srvAddr, nil},
		{"null ipv6 (10) little-endian", linkNull, v6cli, v6srv, nil},
		{"null ipv6 (30, macOS) big-endian", linkNull, v6cli, v6srv, func(ip []byte) []byte {
			return append(binary.BigEndian.AppendUint32(nil, 30), ip...)
		}},
		{"null ipv6 (28, FreeBSD)", linkNull, v6cli, v6srv, func(ip []byte) []byte {
			return append(binary.LittleEndian.AppendUint32(nil, 28), ip...)
		}},
		{"loop ipv4", linkLoop, cliAddr, srvAddr, nil},
		{"loop ipv6 (24)", linkLoop, v6cli, v6srv, nil},
		{"raw 101 ipv4", linkRaw, cliAddr, srvAddr, nil},
		{"raw 101 ipv6", linkRaw, v6cli, v6srv, nil},
		{"raw 12", linkRawBSD12, cliAddr, srvAddr, nil},
		{"raw 14", linkRawBSD14, v6cli, v6srv, nil},
		{"ipv4 228", linkIPv4, cliAddr, srvAddr, nil},
		{"ipv6 229", linkIPv6, v6cli, v6srv, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ip := buildIP(t, pktSpec{src: tc.cli, dst: tc.srv, flags: PA, seq: 7, ack: 9, win: 1234, payload: []byte("hello"),
				opts: []layers.TCPOption{mssOpt(1460), wsOpt(3)}})
			data := frameFor(t, tc.link, ip)
			if tc.frame != nil {
				data = tc.frame(ip)
			}
			var p tcpPacket
			if r := decode(tc.link, data, &p); r != decodedTCP {
				t.Fatalf("decode = %d", r)
			}
			if netip.AddrPortFrom(p.src, p.sport) != tc.cli || netip.AddrPortFrom(p.dst, p.dport) != tc.srv ||
				p.seq != 7 || p.ack != 9 || p.window != 1234 || p.flags != PA || string(p.payload) != "hello" ||
				p.wireLen != 5 || p.mss != 1460 || p.wscale != 3 {
				t.Errorf("decoded %+v", p)
			}
			// And the whole path: a connection on this link type delivers its bytes.
			r := &recorder{}
			a := newTestAssembler(r, Options{})
			a.Packet(tc.link, data, flow.Pos{Time: time.Unix(1, 0), Frame: 1})
			a.Close()
			if string(r.delivered[0]) != "hello" || len(r.ended) != 1 || r.ended[0].Client != tc.cli {
				t.Errorf("delivered %q, conns %+v", r.delivered[0], r.ended)
			}
		})
	}
}

func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	ip := buildIP(t, pktSpec{src: v6cli, dst: v6srv, flags: PA, seq: 1, payload: []byte("x")})
	// Insert a hop-by-hop (8 bytes) and a destination-options header.
	ext := []byte{60, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0}
	out := append(append(append([]byte(nil), ip[:40]...), ext...), ip[40:]...)
	out[6] = 0
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	var p tcpPacket
	if r := decode(linkRaw, out, &p); r != decodedTCP || string(p.payload) != "x" || p.wireLen != 1 {
		t.Fatalf("decode = %d, %+v", r, p)
	}
	// A non-first fragment: skipped, counted.
	frag := append(append(append([]byte(nil), ip[:40]...), 6, 0, 0, 8, 0, 0, 0, 1), ip[40:]...)
	frag[6] = 44
	binary.BigEndian.PutUint16(frag[4:], uint16(len(frag)-40))
	if r := decode(linkRaw, frag, &p); r != decodedFrag {
		t.Errorf("fragment: decode = %d", r)
	}
}

func TestDecodeIPv4Details(t *testing.T) {
	ip := buildIP(t, pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: 1, payload: []byte("abcdef")})
	var p tcpPacket
	// Ethernet padding after the IP packet is not payload.
	if r := decode(linkRaw, append(append([]byte(nil), ip...), 0, 0, 0, 0), &p); r != decodedTCP || string(p.payload) != "abcdef" {
		t.Errorf("padding: %d %q", r, p.payload)
	}
	// Snapshot length cut the payload: captured 3 of 6.
	if r := decode(linkRaw, ip[:len(ip)-3], &p); r != decodedTCP || string(p.payload) != "abc" || p.wireLen != 6 {
		t.Errorf("truncated: %d %q %d", r, p.payload, p.wireLen)
	}
	// Non-first fragment.
	fr := append([]byte(nil), ip...)
	fr[6], fr[7] = 0, 10
	if r := decode(linkRaw, fr, &p); r != decodedFrag {
		t.Errorf("fragment: %d", r)
	}
	// IP options (IHL 6): a NOP option word.
	opt := append(append(append([]byte(nil), ip[:20]...), 1, 1, 1, 0), ip[20:]...)
	opt[0] = 0x46
	binary.BigEndian.PutUint16(opt[2:], uint16(len(opt)))
	if r := decode(linkRaw, opt, &p); r != decodedTCP || string(p.payload) != "abcdef" {
		t.Errorf("options: %d %q", r, p.payload)
	}
	// An unsupported link type is undecodable, not "non-TCP".
	if r := decode(105, ip, &p); r != decodedBad {
		t.Errorf("802.11: decode = %d", r)
	}
	// Truncated headers are undecodable, never a panic.
	for n := range 40 {
		if r := decode(linkRaw, ip[:n], &p); r != decodedBad {
			t.Errorf("%d bytes: decode = %d", n, r)
		}
	}
}

// TCP quoted inside an ICMP error, inside UDP or inside a tunnel must not
// reach the connection table.
func TestDecodeOnlyOuterTCP(t *testing.T) {
	inner := buildIP(t, pktSpec{src: cliAddr, dst: srvAddr, flags: SYN, seq: 1})
	outerSrc, outerDst := net.IP{192, 0, 2, 1}, net.IP{10, 0, 0, 1}
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		must(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
		return append([]byte(nil), buf.Bytes()...)
	}
	icmp := ser(&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: outerSrc, DstIP: outerDst},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, 3)},
		gopacket.Payload(inner[:28]))
	v4udp := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: outerSrc, DstIP: outerDst}
	udp := &layers.UDP{SrcPort: 6343, DstPort: 6343}
	must(t, udp.SetNetworkLayerForChecksum(v4udp))
	sflow := ser(v4udp, udp, gopacket.Payload(inner))
	ipip := ser(&layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: outerSrc, DstIP: outerDst}, gopacket.Payload(inner))
	v6in6 := ser(&layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolIPv4,
		SrcIP: net.ParseIP("2001:db8::9"), DstIP: net.ParseIP("2001:db8::a")}, gopacket.Payload(inner))

	r := &recorder{}
	a := newTestAssembler(r, Options{})
	for i, pkt := range [][]byte{icmp, sflow, ipip, v6in6} {
		a.Packet(linkEthernet, frameFor(t, linkEthernet, pkt), flow.Pos{Time: time.Unix(1, 0), Frame: int64(i + 1)})
	}
	a.Packet(linkEthernet, []byte{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6, 0x08, 0x06, 0, 1}, flow.Pos{Frame: 5}) // ARP
	a.Close()
	if st := a.Stats(); st.NonTCP != 5 || st.Conns != 0 || len(r.started) != 0 {
		t.Errorf("stats %+v, started %d", st, len(r.started))
	}
}

func TestIPv6Connection(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.cli, sr.srv = v6cli, v6srv
	sr.run([]step{
		{from: "c", flags: SYN, seq: ci, want: []string{"start 1 [2001:db8::1]:40000>[2001:db8::2]:80"}},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET /", want: []string{`feed c @0 "GET /" #3`}},
	})
}

// FuzzDecode: no input may panic the decoder or the assembler behind it.
func FuzzDecode(f *testing.F) {
	ip4 := buildIP(f, pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: 1, payload: []byte("GET / HTTP/1.1\r\n"),
		opts: []layers.TCPOption{mssOpt(1460), wsOpt(7), {OptionType: layers.TCPOptionKindSACKPermitted, OptionLength: 2}}})
	ip6 := buildIP(f, pktSpec{src: v6cli, dst: v6srv, flags: SYN, seq: 1})
	for _, link := range []int{linkEthernet, linkSLL, linkSLL2, linkNull, linkLoop, linkRaw, linkIPv4, linkRawBSD12} {
		f.Add(link, frameFor(f, link, ip4))
	}
	for _, link := range []int{linkEthernet, linkSLL2, linkNull, linkRaw, linkIPv6, linkRawBSD14} {
		f.Add(link, frameFor(f, link, ip6))
	}
	f.Add(linkEthernet, vlanFrame(f, ip4, layers.EthernetTypeQinQ, layers.EthernetTypeDot1Q))
	f.Fuzz(func(t *testing.T, link int, data []byte) {
		var p tcpPacket
		if decode(link, data, &p) == decodedTCP && len(p.payload) > p.wireLen {
			t.Fatalf("captured payload %d beyond wire length %d", len(p.payload), p.wireLen)
		}
		a := newTestAssembler(&recorder{}, Options{})
		a.Packet(link, data, flow.Pos{Frame: 1})
		a.Packet(link, data, flow.Pos{Frame: 2, Time: time.Unix(0, int64(time.Second))})
		a.Close()
	})
}
