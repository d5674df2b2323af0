// Command synflood writes a pcap of N TCP SYNs from distinct clients to one
// server port, none answered: the worst case for per-connection memory
// (`make bench` measures connlint's peak RSS on it).
//
//	go run ./scripts/synflood -n 1000000 -o /tmp/synflood.pcap
//
// Frames are written by hand (Ethernet + IPv4 + TCP with valid checksums)
// so a million of them take about a second.
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"log"
	"os"
)

func main() {
	n := flag.Int("n", 1000000, "SYNs (each from its own client address and port)")
	out := flag.String("o", "synflood.pcap", "output file")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 1) // Ethernet
	w.Write(hdr)
	const frameLen = 14 + 20 + 20
	rec := make([]byte, 16+frameLen)
	sec, usec := uint32(1793491200), uint32(0)
	for i := 0; i < *n; i++ {
		binary.LittleEndian.PutUint32(rec[0:], sec)
		binary.LittleEndian.PutUint32(rec[4:], usec)
		binary.LittleEndian.PutUint32(rec[8:], frameLen)
		binary.LittleEndian.PutUint32(rec[12:], frameLen)
		fr := rec[16:]
		copy(fr[0:6], []byte{2, 0, 0, 0, 0, 2})
		copy(fr[6:12], []byte{2, 0, 0, 0, 0, 1})
		binary.BigEndian.PutUint16(fr[12:], 0x0800)
		ip := fr[14:34]
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], 40)
		binary.BigEndian.PutUint16(ip[4:], uint16(i))
		binary.BigEndian.PutUint16(ip[6:], 0x4000)
		ip[8], ip[9] = 64, 6
		ip[10], ip[11] = 0, 0
		// client 10.x.y.z, distinct per SYN (16 M addresses before reuse)
		ip[12], ip[13], ip[14], ip[15] = 10, byte(i>>16), byte(i>>8), byte(i)
		ip[16], ip[17], ip[18], ip[19] = 192, 168, 0, 1
		binary.BigEndian.PutUint16(ip[10:], ^sum(ip, 0))
		tcp := fr[34:54]
		binary.BigEndian.PutUint16(tcp[0:], uint16(1024+i%60000))
		binary.BigEndian.PutUint16(tcp[2:], 80)
		binary.BigEndian.PutUint32(tcp[4:], uint32(i)*2654435761)
		binary.BigEndian.PutUint32(tcp[8:], 0)
		tcp[12], tcp[13] = 5<<4, 0x02
		binary.BigEndian.PutUint16(tcp[14:], 64240)
		tcp[16], tcp[17], tcp[18], tcp[19] = 0, 0, 0, 0
		// pseudo-header: addresses, protocol, TCP length
		ph := uint32(6 + 20)
		ph += uint32(sum(ip[12:20], 0))
		binary.BigEndian.PutUint16(tcp[16:], ^sum(tcp, ph))
		w.Write(rec)
		usec += 10 // 100 k SYNs per second
		if usec >= 1000000 {
			usec -= 1000000
			sec++
		}
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}

// sum is the ones'-complement sum of b (folded to 16 bits) plus acc.
func sum(b []byte, acc uint32) uint16 {
	s := acc
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
