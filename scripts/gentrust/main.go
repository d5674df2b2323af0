// Command gentrust writes the crafted captures of testdata/trust: TCP/HTTP traffic that real
// programs will not produce on demand (issue 12 items 10–17), each frame placed by hand, with a
// truth file in the lab's format (source "crafted") whose facts list every frame.
//
//	go run ./scripts/gentrust -o testdata/trust
//
// Client 10.12.0.1, server 10.12.0.2:80; each scenario uses its own client port. Timestamps
// start at 2026-12-01T00:00:00Z; the RTT is 10 ms unless a frame says otherwise.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

type expect struct {
	Rule            string `json:"rule"`
	Fire            bool   `json:"fire"`
	MinCount        int    `json:"min_count"`
	Severity        string `json:"severity,omitempty"`
	MessageContains string `json:"message_contains,omitempty"`
	Note            string `json:"note,omitempty"`
}

type truth struct {
	Scenario     string         `json:"scenario"`
	Description  string         `json:"description"`
	Pcap         string         `json:"pcap"`
	Source       string         `json:"source"`
	Expect       []expect       `json:"expect"`
	Quiet        []string       `json:"quiet,omitempty"`
	Transactions *int           `json:"transactions,omitempty"`
	AllAnswered  bool           `json:"all_answered,omitempty"`
	Facts        map[string]any `json:"facts"`
}

// rec is one frame to write, with what it is.
type rec struct {
	t    time.Time
	data []byte
	what string
}

// conn builds one TCP connection's segments; seq/ack are absolute (raw) numbers.
type conn struct {
	cli, srv   net.IP
	cport      uint16
	cseq, sseq uint32 // next sequence number each side sends
	t          time.Time
	recs       *[]rec
}

var (
	cliIP = net.IPv4(10, 12, 0, 1).To4()
	srvIP = net.IPv4(10, 12, 0, 2).To4()
	t0    = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

func newConn(recs *[]rec, cport uint16, ciss, siss uint32) *conn {
	return &conn{cli: cliIP, srv: srvIP, cport: cport, cseq: ciss, sseq: siss, t: t0, recs: recs}
}

// raw writes one segment with explicit seq/ack and does not move the connection's counters.
func (c *conn) raw(after time.Duration, fromClient bool, flags string, seq, ack uint32, data []byte, what string) {
	c.t = c.t.Add(after)
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: c.cli, DstIP: c.srv}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(c.cport), DstPort: 80, Seq: seq, Ack: ack, Window: 65535}
	if !fromClient {
		ip.SrcIP, ip.DstIP = c.srv, c.cli
		eth.SrcMAC, eth.DstMAC = eth.DstMAC, eth.SrcMAC
		tcp.SrcPort, tcp.DstPort = 80, layers.TCPPort(c.cport)
	}
	for _, f := range flags {
		switch f {
		case 'S':
			tcp.SYN = true
		case 'A':
			tcp.ACK = true
		case 'F':
			tcp.FIN = true
		case 'P':
			tcp.PSH = true
		case 'R':
			tcp.RST = true
		}
	}
	if !tcp.ACK {
		tcp.Ack = 0
	}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(data)); err != nil {
		log.Fatal(err)
	}
	*c.recs = append(*c.recs, rec{t: c.t, data: append([]byte(nil), buf.Bytes()...), what: what})
}

// seg sends from one side at its current seq, acknowledging everything the peer sent, and
// advances that side's seq (skip=true: the segment is NOT written, as if the capture missed it).
func (c *conn) seg(after time.Duration, fromClient bool, flags string, data []byte, what string, skip bool) {
	seq, ack := c.sseq, c.cseq
	if fromClient {
		seq, ack = c.cseq, c.sseq
	}
	if skip {
		c.t = c.t.Add(after)
	} else {
		c.raw(after, fromClient, flags, seq, ack, data, what)
	}
	adv := uint32(len(data))
	if strings.ContainsAny(flags, "SF") {
		adv++
	}
	if fromClient {
		c.cseq += adv
	} else {
		c.sseq += adv
	}
}

func (c *conn) cli_(after time.Duration, flags string, data string, what string) {
	c.seg(after, true, flags, []byte(data), what, false)
}
func (c *conn) srv_(after time.Duration, flags string, data string, what string) {
	c.seg(after, false, flags, []byte(data), what, false)
}

// handshake: SYN, SYN-ACK, ACK (RTT 10 ms).
func (c *conn) handshake() {
	c.cli_(0, "S", "", "client SYN")
	c.srv_(5*time.Millisecond, "SA", "", "server SYN-ACK")
	c.cli_(5*time.Millisecond, "A", "", "client ACK (handshake done)")
}

// closeClientFirst: FIN, FIN, ACK.
func (c *conn) closeClientFirst() {
	c.cli_(time.Millisecond, "FA", "", "client FIN")
	c.srv_(5*time.Millisecond, "FA", "", "server FIN")
	c.cli_(5*time.Millisecond, "A", "", "client ACK of the server's FIN")
}

func get(path string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: crafted.test\r\nUser-Agent: gentrust\r\n\r\n"
}
func ok(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s", len(body), body)
}

type scenario struct {
	name, desc string
	build      func(recs *[]rec) // fills recs
	expect     []expect
	quiet      bool
	txns       int // >0: exact transaction count
	allAns     bool
	facts      map[string]any
}

func intp(n int) *int { return &n }

func main() {
	out := flag.String("o", "testdata/trust", "output directory")
	flag.Parse()
	for _, sc := range scenarios() {
		var recs []rec
		sc.build(&recs)
		pcap := "crafted-" + sc.name + ".pcap"
		f, err := os.Create(filepath.Join(*out, pcap))
		if err != nil {
			log.Fatal(err)
		}
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
			log.Fatal(err)
		}
		var frames []string
		for i, r := range recs {
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: r.t, CaptureLength: len(r.data), Length: len(r.data)}, r.data); err != nil {
				log.Fatal(err)
			}
			frames = append(frames, fmt.Sprintf("%d %s: %s", i+1, r.t.Format("15:04:05.000000"), r.what))
		}
		f.Close()
		facts := map[string]any{"frames": frames, "frame_count": len(recs), "generator": "scripts/gentrust"}
		for k, v := range sc.facts {
			facts[k] = v
		}
		tr := truth{Scenario: "crafted-" + sc.name, Description: sc.desc, Pcap: pcap, Source: "crafted", Expect: sc.expect, AllAnswered: sc.allAns, Facts: facts}
		if tr.Expect == nil {
			tr.Expect = []expect{}
		}
		if sc.quiet {
			tr.Quiet = []string{"error", "warning"}
		}
		if sc.txns > 0 {
			tr.Transactions = intp(sc.txns)
		}
		b, _ := json.MarshalIndent(tr, "", " ")
		if err := os.WriteFile(filepath.Join(*out, "crafted-"+sc.name+".truth.json"), append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(os.Stderr, "%s: %d frames\n", pcap, len(recs))
	}
}
