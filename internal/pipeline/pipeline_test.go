package pipeline

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
)

// fakeLive is a live-like Source: packets, ticks and losses from a list.
type fakeLive struct {
	items []capture.Packet
	i     int
}

func (f *fakeLive) Next() (capture.Packet, error) {
	if f.i == len(f.items) {
		return capture.Packet{}, io.EOF
	}
	f.i++
	return f.items[f.i-1], nil
}
func (f *fakeLive) Err() error           { return nil }
func (f *fakeLive) Inputs() []string     { return []string{"lo"} }
func (f *fakeLive) Stats() capture.Stats { return capture.Stats{Live: true, Captured: int64(f.i)} }
func (f *fakeLive) Close() error         { return nil }

type findings struct{ got []*analyze.Finding }

func (s *findings) Finding(f *analyze.Finding)     { s.got = append(s.got, f) }
func (s *findings) Connection(*analyze.ConnReport) {}

// overrunConn is one HTTP exchange whose response overruns its
// Content-Length (content-length-mismatch), closed with FINs, as raw IPv4
// packets 10 ms apart from t0.
func overrunConn(t *testing.T, t0 time.Time) []capture.Packet {
	cli, srv := net.IPv4(10, 0, 0, 1), net.IPv4(10, 0, 0, 2)
	type seg struct {
		fromCli  bool
		syn, fin bool
		seq, ack uint32
		payload  string
	}
	segs := []seg{
		{fromCli: true, syn: true, seq: 100},
		{syn: true, seq: 500, ack: 101},
		{fromCli: true, seq: 101, ack: 501},
		{fromCli: true, seq: 101, ack: 501, payload: "GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
		{seq: 501, ack: 128, payload: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello world"},
		{seq: 501 + 49, ack: 128, fin: true},
		{fromCli: true, seq: 128, ack: 551, fin: true},
		{seq: 551, ack: 129},
	}
	var out []capture.Packet
	for i, s := range segs {
		src, dst, sp, dp := srv, cli, 80, 40000
		if s.fromCli {
			src, dst, sp, dp = cli, srv, 40000, 80
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), Seq: s.seq, Ack: s.ack,
			SYN: s.syn, FIN: s.fin, ACK: s.ack != 0, PSH: s.payload != "", Window: 1000}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			ip, tcp, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		b := append([]byte(nil), buf.Bytes()...)
		out = append(out, capture.Packet{Frame: int64(i + 1), Time: t0.Add(time.Duration(i) * 10 * time.Millisecond),
			LinkType: 101, Data: b, Length: len(b)})
	}
	return out
}

// A finding about a connection that lost packets (kernel drop: all flows)
// is withheld and counted; the same connection without the loss gets it.
func TestLossWithholdsFindings(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, lost := range []bool{false, true} {
		items := overrunConn(t, t0)
		if lost {
			items[3].Loss = &capture.Loss{Kernel: 1, AllFlows: true}
		}
		items = append(items, capture.Packet{Tick: true, Time: t0.Add(5 * time.Second)})
		src := &fakeLive{items: items}
		sink := &findings{}
		res := Run(src, Options{Config: analyze.DefaultConfig(), Sink: sink,
			Stop: func() bool { return false }})
		var clm int
		for _, f := range sink.got {
			if f.Rule == "content-length-mismatch" {
				clm++
			}
		}
		switch {
		case !lost && clm != 1:
			t.Errorf("no loss: %d content-length-mismatch findings, want 1", clm)
		case lost && (clm != 0 || res.Live == nil || res.Live.Withheld == 0):
			t.Errorf("loss: %d findings reported, live counts %+v; want none reported and the withheld counted", clm, res.Live)
		}
	}
}
