package reassembly

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/http1"
)

type nopHTTPEvents struct{ tx *int }

func (nopHTTPEvents) Message(*http1.Message)           {}
func (h nopHTTPEvents) Transaction(*http1.Transaction) { *h.tx++ }

// BenchmarkDecodeReassembleHTTP measures the whole per-packet path on
// in-order data: Ethernet/IPv4/TCP decode, reassembly and the HTTP/1.1
// parser, on one keep-alive connection carrying GETs answered with 10 KiB
// bodies in 1448-byte segments and an ACK every second segment. One op is
// one packet; bytes are frame bytes. What allocates is the parser's
// per-message state (a Message and its header fields per request and
// response, the Transaction): about 130 bytes per packet here, under one
// allocation per ten packets (0 allocs/op), none in decode and reassembly.
func BenchmarkDecodeReassembleHTTP(b *testing.B) {
	var txs int
	a := NewAssembler(nopHandler{}, Options{Consumers: consumers(func(*Conn) Consumer {
		return http1.NewConversation(nopHTTPEvents{&txs}, http1.Options{}, false)
	})})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli, srv := benchAddr(1, 40000), netip.MustParseAddrPort("10.9.9.9:80")
	var n int64
	pkt := func(s pktSpec) []byte { return frameFor(b, linkEthernet, buildIP(b, s)) }
	for _, s := range []pktSpec{
		{src: cli, dst: srv, flags: SYN, seq: 100, win: 501},
		{src: srv, dst: cli, flags: SYN | ACK, seq: 900, ack: 101, win: 501},
		{src: cli, dst: srv, flags: ACK, seq: 101, ack: 901, win: 501},
	} {
		n++
		a.Packet(linkEthernet, pkt(s), benchPos(t0, n))
	}
	req := "GET /s4k.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n"
	body := strings.Repeat("x", 10<<10)
	resp := fmt.Sprintf("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	type seg struct {
		frame   []byte
		fromCli bool
		n       uint32
	}
	var segs []seg
	segs = append(segs, seg{pkt(pktSpec{src: cli, dst: srv, flags: PA, win: 501, payload: []byte(req)}), true, uint32(len(req))})
	for off, k := 0, 0; off < len(resp); k++ {
		m := min(1448, len(resp)-off)
		segs = append(segs, seg{pkt(pktSpec{src: srv, dst: cli, flags: PA, win: 501, payload: []byte(resp[off : off+m])}), false, uint32(m)})
		off += m
		if k%2 == 1 || off == len(resp) {
			segs = append(segs, seg{pkt(pktSpec{src: cli, dst: srv, flags: ACK, win: 501}), true, 0})
		}
	}
	cseq, sseq := uint32(101), uint32(901)
	i := 0
	send := func() int {
		s := &segs[i%len(segs)]
		i++
		if s.fromCli {
			patchSeqAck(s.frame[14:], cseq, sseq)
			cseq += s.n
		} else {
			patchSeqAck(s.frame[14:], sseq, cseq)
			sseq += s.n
		}
		n++
		a.Packet(linkEthernet, s.frame, benchPos(t0, n))
		return len(s.frame)
	}
	for range 50 * len(segs) { // warm up: the compare rings grow to their cap
		send()
	}
	var bytes int64
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bytes += int64(send())
	}
	b.StopTimer()
	b.SetBytes(bytes / int64(max(b.N, 1)))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
	if txs < 40 {
		b.Fatalf("%d transactions parsed", txs)
	}
}
