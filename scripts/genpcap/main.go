// Command genpcap writes a large, realistic-shaped pcap for benchmarks:
// many keep-alive HTTP/1.1 connections (handshake, requests, responses with
// bodies split into MSS segments, ACKs, FIN close), interleaved in time.
//
//	go run ./scripts/genpcap -conns 2000 -tx 20 -body 8000 -o /tmp/bench.pcap
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	conns := flag.Int("conns", 2000, "connections")
	txs := flag.Int("tx", 20, "transactions per connection")
	body := flag.Int("body", 8000, "response body bytes")
	out := flag.String("o", "bench.pcap", "output file")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		log.Fatal(err)
	}
	g := &gen{w: w, t: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	payload := make([]byte, *body)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for c := 0; c < *conns; c++ {
		g.conn(c, *txs, payload)
	}
	fmt.Fprintf(os.Stderr, "wrote %d packets to %s\n", g.n, *out)
}

type gen struct {
	w *pcapgo.Writer
	t time.Time
	n int
}

func (g *gen) conn(id, txs int, body []byte) {
	cli := net.IPv4(10, byte(id>>16), byte(id>>8), byte(id)).To4()
	srv := net.IPv4(192, 168, 0, 1).To4()
	cport := layers.TCPPort(10000 + id%50000)
	var cseq, sseq uint32 = 1000, 5000
	pkt := func(fromClient bool, flags string, data []byte) {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
		tcp := &layers.TCP{SrcPort: cport, DstPort: 80, Seq: cseq, Ack: sseq, Window: 65535}
		if !fromClient {
			ip.SrcIP, ip.DstIP = srv, cli
			tcp.SrcPort, tcp.DstPort, tcp.Seq, tcp.Ack = 80, cport, sseq, cseq
		}
		for _, c := range flags {
			switch c {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'P':
				tcp.PSH = true
			}
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data))
		b := buf.Bytes()
		g.t = g.t.Add(50 * time.Microsecond)
		g.w.WritePacket(gopacket.CaptureInfo{Timestamp: g.t, CaptureLength: len(b), Length: len(b)}, b)
		g.n++
		adv := uint32(len(data))
		if tcp.SYN || tcp.FIN {
			adv++
		}
		if fromClient {
			cseq += adv
		} else {
			sseq += adv
		}
	}
	pkt(true, "S", nil)
	pkt(false, "SA", nil)
	pkt(true, "A", nil)
	for i := 0; i < txs; i++ {
		pkt(true, "PA", []byte(fmt.Sprintf("GET /item/%d HTTP/1.1\r\nHost: bench\r\nUser-Agent: genpcap\r\n\r\n", i)))
		pkt(false, "A", nil)
		resp := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n", len(body))), body...)
		for len(resp) > 0 {
			n := min(1448, len(resp))
			pkt(false, "PA", resp[:n])
			resp = resp[n:]
			if len(resp) == 0 || n == 1448 && len(resp)%2 == 0 {
				pkt(true, "A", nil)
			}
		}
	}
	pkt(true, "FA", nil)
	pkt(false, "FA", nil)
	pkt(true, "A", nil)
}
