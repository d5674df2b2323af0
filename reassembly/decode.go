package reassembly

import (
	"encoding/binary"
	"net/netip"
)

// Link types (pcap LINKTYPE_ numbers) the decoder understands.
const (
	linkNull     = 0   // BSD loopback: 4-byte address family in the capturing host's byte order
	linkEthernet = 1   //
	linkRawBSD12 = 12  // DLT_RAW on some BSDs (OpenBSD uses 14 for DLT_RAW's value)
	linkRawBSD14 = 14  //
	linkRaw      = 101 // raw IPv4 or IPv6, version from the first nibble
	linkLoop     = 108 // OpenBSD loopback: address family in network byte order
	linkSLL      = 113 // Linux "cooked" capture v1
	linkIPv4     = 228
	linkIPv6     = 229
	linkSLL2     = 276 // Linux "cooked" capture v2
)

// Ethertypes.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100 // 802.1Q
	etherQinQ  = 0x88a8 // 802.1ad
	etherQinQ1 = 0x9100 // pre-standard QinQ
	etherQinQ2 = 0x9200
)

// maxVLANTags bounds the tag walk so that a frame of nothing but tags cannot
// make decoding loop for long.
const maxVLANTags = 8

// maxIPv6ExtHeaders bounds the extension-header walk for the same reason.
const maxIPv6ExtHeaders = 16

// decodeResult says what decode found.
type decodeResult uint8

const (
	decodedTCP   decodeResult = iota
	decodedOther              // well-formed, but not TCP directly over the outer IP header
	decodedBad                // truncated or malformed link/IP/TCP header
	decodedFrag               // an IP fragment that does not carry the TCP header
)

// tcpPacket is one decoded TCP segment. The decoder fills a caller-owned value
// so that decoding allocates nothing; payload aliases the packet data.
type tcpPacket struct {
	src, dst     netip.Addr
	sport, dport uint16
	seq, ack     uint32
	flags        Flags
	window       uint16
	csum         uint16
	ipID         uint16 // IPv4 identification (0 for IPv6); part of the duplicate fingerprint
	mss          uint16 // 0 when the option is absent
	wscale       int8   // -1 when the option is absent
	sackOK       bool
	sack         bool
	hasTS        bool
	tsval        uint32
	wireLen      int    // payload length on the wire, from the IP length fields
	payload      []byte // captured payload (shorter than wireLen when the snapshot cut it)
	fragment     bool   // a first fragment: the payload continues in fragments we do not reassemble
}

// decode parses one packet of the given link type into p. It never panics on
// malformed input and never allocates.
func decode(linkType int, data []byte, p *tcpPacket) decodeResult {
	switch linkType {
	case linkEthernet:
		if len(data) < 14 {
			return decodedBad
		}
		return decodeEther(binary.BigEndian.Uint16(data[12:14]), data[14:], p)
	case linkSLL:
		if len(data) < 16 {
			return decodedBad
		}
		return decodeEther(binary.BigEndian.Uint16(data[14:16]), data[16:], p)
	case linkSLL2:
		if len(data) < 20 {
			return decodedBad
		}
		return decodeEther(binary.BigEndian.Uint16(data[0:2]), data[20:], p)
	case linkNull, linkLoop:
		if len(data) < 4 {
			return decodedBad
		}
		// The family is in the capturing host's byte order for NULL and in
		// network order for LOOP; in practice both appear for both, so accept
		// either order. AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24
		// (NetBSD/OpenBSD), 28 (FreeBSD) or 30 (macOS).
		fam := binary.LittleEndian.Uint32(data)
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data)
		}
		switch fam {
		case 2:
			return decodeIPv4(data[4:], p)
		case 10, 24, 28, 30:
			return decodeIPv6(data[4:], p)
		}
		return decodedOther
	case linkRaw, linkRawBSD12, linkRawBSD14:
		if len(data) == 0 {
			return decodedBad
		}
		switch data[0] >> 4 {
		case 4:
			return decodeIPv4(data, p)
		case 6:
			return decodeIPv6(data, p)
		}
		return decodedBad
	case linkIPv4:
		return decodeIPv4(data, p)
	case linkIPv6:
		return decodeIPv6(data, p)
	}
	// A link type we do not decode (802.11, PPP, ...): report it as
	// undecodable rather than "not TCP", so that a capture we cannot read
	// does not look like a capture without TCP.
	return decodedBad
}

// decodeEther decodes what follows an ethertype, walking VLAN tags.
func decodeEther(etype uint16, b []byte, p *tcpPacket) decodeResult {
	for range maxVLANTags {
		switch etype {
		case etherIPv4:
			return decodeIPv4(b, p)
		case etherIPv6:
			return decodeIPv6(b, p)
		case etherVLAN, etherQinQ, etherQinQ1, etherQinQ2:
			if len(b) < 4 {
				return decodedBad
			}
			etype = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		default:
			// ARP, LLDP, 802.3 length fields, MPLS, PPPoE, ...: not ours.
			return decodedOther
		}
	}
	return decodedBad
}

func decodeIPv4(b []byte, p *tcpPacket) decodeResult {
	if len(b) < 20 || b[0]>>4 != 4 {
		return decodedBad
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || ihl > len(b) {
		return decodedBad
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	wire := total
	switch {
	case total == 0:
		// TSO/GSO super-packets captured before segmentation carry 0.
		wire = len(b)
	case total < ihl:
		return decodedBad
	case total < len(b):
		b = b[:total] // link-layer padding (Ethernet minimum frame size)
	}
	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&0x1fff != 0 {
		return decodedFrag // a later fragment: no TCP header in it
	}
	if b[9] != 6 {
		return decodedOther // ICMP (even quoting TCP), UDP, tunnels: only the outer TCP counts
	}
	p.src = netip.AddrFrom4([4]byte(b[12:16]))
	p.dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.ipID = binary.BigEndian.Uint16(b[4:6])
	p.fragment = frag&0x2000 != 0
	return decodeTCP(b[ihl:], wire-ihl, p)
}

func decodeIPv6(b []byte, p *tcpPacket) decodeResult {
	if len(b) < 40 || b[0]>>4 != 6 {
		return decodedBad
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	wire := plen
	switch {
	case plen == 0:
		wire = len(b) - 40 // jumbogram or TSO: trust the capture
	case 40+plen < len(b):
		b = b[:40+plen]
	}
	p.src = netip.AddrFrom16([16]byte(b[8:24]))
	p.dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.ipID = 0
	p.fragment = false
	next := b[6]
	b = b[40:]
	for range maxIPv6ExtHeaders {
		var hlen int
		switch next {
		case 6:
			return decodeTCP(b, wire, p)
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination, mobility, HIP, shim6
			if len(b) < 2 {
				return decodedBad
			}
			hlen = (int(b[1]) + 1) * 8
		case 51: // AH counts in 4-byte units, minus 2
			if len(b) < 2 {
				return decodedBad
			}
			hlen = (int(b[1]) + 2) * 4
		case 44: // fragment
			if len(b) < 8 {
				return decodedBad
			}
			if binary.BigEndian.Uint16(b[2:4])&0xfff8 != 0 {
				return decodedFrag
			}
			p.fragment = b[3]&1 != 0
			hlen = 8
		default:
			// ESP, no-next-header, ICMPv6, UDP, tunnels (4, 41, 47): not ours.
			return decodedOther
		}
		if hlen > len(b) {
			return decodedBad
		}
		next = b[0]
		b = b[hlen:]
		wire -= hlen
	}
	return decodedBad
}

// decodeTCP decodes a TCP header; wire is the TCP segment's length on the
// wire according to the IP header (may exceed len(b) when the capture was cut).
func decodeTCP(b []byte, wire int, p *tcpPacket) decodeResult {
	if len(b) < 20 {
		return decodedBad
	}
	hlen := int(b[12]>>4) * 4
	if hlen < 20 || hlen > len(b) || wire < hlen {
		return decodedBad
	}
	p.sport = binary.BigEndian.Uint16(b[0:2])
	p.dport = binary.BigEndian.Uint16(b[2:4])
	p.seq = binary.BigEndian.Uint32(b[4:8])
	p.ack = binary.BigEndian.Uint32(b[8:12])
	p.flags = Flags(b[13]) // our Flags use the wire bit order FIN..CWR
	p.window = binary.BigEndian.Uint16(b[14:16])
	p.csum = binary.BigEndian.Uint16(b[16:18])
	p.mss, p.wscale, p.sackOK, p.sack, p.hasTS, p.tsval = 0, -1, false, false, false, 0
	parseOptions(b[20:hlen], p)
	p.payload = b[hlen:]
	p.wireLen = wire - hlen
	if p.fragment || p.wireLen < len(p.payload) {
		// A first fragment's IP length covers only that fragment: the rest of
		// the segment is missing, so the wire length is unknown; say what we hold.
		p.wireLen = max(p.wireLen, len(p.payload))
	}
	return decodedTCP
}

// parseOptions reads the options connlint uses. A malformed option ends the
// walk (the segment itself is still used: stacks ignore bad options too).
func parseOptions(o []byte, p *tcpPacket) {
	for len(o) > 0 {
		kind := o[0]
		if kind == 0 {
			return
		}
		if kind == 1 {
			o = o[1:]
			continue
		}
		if len(o) < 2 {
			return
		}
		l := int(o[1])
		if l < 2 || l > len(o) {
			return
		}
		switch {
		case kind == 2 && l == 4:
			p.mss = binary.BigEndian.Uint16(o[2:4])
		case kind == 3 && l == 3:
			// RFC 7323 §2.3: a shift above 14 is treated as 14.
			p.wscale = int8(min(o[2], 14))
		case kind == 4 && l == 2:
			p.sackOK = true
		case kind == 5 && l >= 10:
			p.sack = true
		case kind == 8 && l == 10:
			p.hasTS = true
			p.tsval = binary.BigEndian.Uint32(o[2:6])
		}
		o = o[l:]
	}
}
