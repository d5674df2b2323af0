package capture

import (
	"bytes"
	"encoding/binary"
)

// FlowHash returns a hash of a packet's flow that is the same for both
// directions: IP protocol, and the two (address, port) endpoints in a fixed
// order. ok is false for a packet that is not IPv4/IPv6 on a link type
// connlint reads (then no connection can be affected by it). Ports are 0
// for protocols other than TCP, UDP and SCTP and for non-first fragments.
//
// A live source lists the FlowHash of each packet its queue dropped in
// Loss.Flows; the consumer computes FlowHash of a connection's packets (or
// remembers it per connection) to find the connections that lost packets.
func FlowHash(linkType int, data []byte) (hash uint64, ok bool) {
	ip, ok := ipPayload(linkType, data)
	if !ok || len(ip) < 1 {
		return 0, false
	}
	var proto byte
	var src, dst, l4 []byte
	first := true
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return 0, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if ihl < 20 || len(ip) < ihl {
			return 0, false
		}
		proto, src, dst = ip[9], ip[12:16], ip[16:20]
		first = binary.BigEndian.Uint16(ip[6:8])&0x1fff == 0
		l4 = ip[ihl:]
	case 6:
		if len(ip) < 40 {
			return 0, false
		}
		proto, src, dst = ip[6], ip[8:24], ip[24:40]
		l4 = ip[40:]
		// Walk the extension headers that may precede TCP.
		for i := 0; i < 8; i++ {
			switch proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(l4) < 8 {
					return 0, false
				}
				proto, l4 = l4[0], l4[min(len(l4), (int(l4[1])+1)*8):]
				continue
			case 44: // fragment
				if len(l4) < 8 {
					return 0, false
				}
				first = binary.BigEndian.Uint16(l4[2:4])&0xfff8 == 0
				proto, l4 = l4[0], l4[8:]
				continue
			}
			break
		}
	default:
		return 0, false
	}
	var sp, dp uint16
	if first && (proto == 6 || proto == 17 || proto == 132) && len(l4) >= 4 {
		sp, dp = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	}
	// Order the endpoints so that both directions hash alike.
	if c := bytes.Compare(src, dst); c > 0 || c == 0 && sp > dp {
		src, dst, sp, dp = dst, src, dp, sp
	}
	h := uint64(14695981039346656037) // FNV-1a
	mix := func(b ...byte) {
		for _, c := range b {
			h ^= uint64(c)
			h *= 1099511628211
		}
	}
	mix(proto)
	mix(src...)
	mix(byte(sp>>8), byte(sp))
	mix(dst...)
	mix(byte(dp>>8), byte(dp))
	return h, true
}

// ipPayload finds the IP header behind the link-layer header of the link
// types a live capture or connlint's files deliver.
func ipPayload(linkType int, data []byte) ([]byte, bool) {
	switch linkType {
	case 1: // Ethernet
		if len(data) < 14 {
			return nil, false
		}
		et, rest := binary.BigEndian.Uint16(data[12:14]), data[14:]
		for (et == 0x8100 || et == 0x88a8) && len(rest) >= 4 { // VLAN tags
			et, rest = binary.BigEndian.Uint16(rest[2:4]), rest[4:]
		}
		return rest, et == 0x0800 || et == 0x86dd
	case 113: // Linux cooked (SLL)
		if len(data) < 16 {
			return nil, false
		}
		et := binary.BigEndian.Uint16(data[14:16])
		return data[16:], et == 0x0800 || et == 0x86dd
	case 276: // Linux cooked v2 (SLL2, -i any)
		if len(data) < 20 {
			return nil, false
		}
		et := binary.BigEndian.Uint16(data[0:2])
		return data[20:], et == 0x0800 || et == 0x86dd
	case 0, 108: // BSD loopback (host or network byte order family)
		if len(data) < 4 {
			return nil, false
		}
		return data[4:], true
	case 101, 12, 14, 228, 229: // raw IP
		return data, true
	}
	return nil, false
}
