package reassembly

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// nopHandler and nopSink discard everything: the benchmark measures reassembly.
type nopHandler struct{}

func (nopHandler) ConnStart(*Conn)                    {}
func (nopHandler) Segment(*Conn, *Segment)            {}
func (nopHandler) Gap(*Conn, Gap)                     {}
func (nopHandler) Inconsistency(*Conn, Inconsistency) {}
func (nopHandler) ConnEnd(*Conn)                      {}

type nopSink struct{}

func (nopSink) Feed(flow.Dir, []byte, flow.Pos)        {}
func (nopSink) Gap(flow.Dir, uint64, flow.Pos)         {}
func (nopSink) End(flow.Dir, flow.CloseKind, flow.Pos) {}
func (nopSink) Finish(flow.Pos)                        {}
func (nopSink) IsHTTP() bool                           { return true }
func (nopSink) NotHTTP() bool                          { return false }
func (nopSink) Tunnel() bool                           { return false }

// nopConsumers gives every connection a nopSink, which is also a
// Recognizer, as an http1.Conversation is.
var nopConsumers = consumers(func(*Conn) Consumer { return nopSink{} })

func benchAddr(i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), port)
}

// patchSeqAck rewrites seq and ack of an IPv4 (no options) TCP packet in place.
func patchSeqAck(ip []byte, seq, ack uint32) {
	binary.BigEndian.PutUint32(ip[24:], seq)
	binary.BigEndian.PutUint32(ip[28:], ack)
}

func benchPos(t0 time.Time, n int64) flow.Pos {
	return flow.Pos{Time: t0.Add(time.Duration(n) * 10 * time.Microsecond), Frame: n, Ord: n}
}

func benchSpec(src, dst netip.AddrPort, f Flags, n int) pktSpec {
	return pktSpec{src: src, dst: dst, flags: f, win: 501, payload: make([]byte, n)}
}

// BenchmarkAssembler measures the steady path: established connections
// (IPv4 over Ethernet) carrying full-size segments in order, a client ACK
// every second segment, as in a download. Bytes are frame bytes.
func BenchmarkAssembler(b *testing.B) {
	for _, bc := range []struct {
		name  string
		conns int
	}{{"conns=1", 1}, {"conns=1000", 1000}} {
		b.Run(bc.name, func(b *testing.B) {
			a := NewAssembler(nopHandler{}, Options{Consumers: nopConsumers})
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var n int64
			type flow struct {
				data, ack  []byte
				cseq, sseq uint32
			}
			flows := make([]flow, bc.conns)
			for i := range flows {
				cli, srv := benchAddr(i, 40000), netip.MustParseAddrPort("10.9.9.9:80")
				syn := func(src, dst netip.AddrPort, f Flags, seq, ack uint32) {
					s := benchSpec(src, dst, f, 0)
					s.seq, s.ack = seq, ack
					n++
					a.Packet(linkEthernet, frameFor(b, linkEthernet, buildIP(b, s)), benchPos(t0, n))
				}
				syn(cli, srv, SYN, 100, 0)
				syn(srv, cli, SYN|ACK, 900, 101)
				syn(cli, srv, ACK, 101, 901)
				flows[i] = flow{
					data: frameFor(b, linkEthernet, buildIP(b, benchSpec(srv, cli, PA, 1448))),
					ack:  frameFor(b, linkEthernet, buildIP(b, benchSpec(cli, srv, ACK, 0))),
					cseq: 101, sseq: 901,
				}
			}
			// Warm up: grow every connection's compare ring to its cap, so
			// the timed loop is the steady path.
			send := func(i int) int {
				f := &flows[(i/3)%len(flows)]
				n++
				if i%3 == 2 { // ACK every two segments
					patchSeqAck(f.ack[14:], f.cseq, f.sseq)
					a.Packet(linkEthernet, f.ack, benchPos(t0, n))
					return len(f.ack)
				}
				patchSeqAck(f.data[14:], f.sseq, f.cseq)
				a.Packet(linkEthernet, f.data, benchPos(t0, n))
				f.sseq += 1448
				return len(f.data)
			}
			for i := range 3 * 50 * len(flows) {
				send(i)
			}
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bytes += int64(send(i))
			}
			b.StopTimer()
			b.SetBytes(bytes / int64(max(b.N, 1)))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			if st := a.Stats(); st.Conns != int64(bc.conns) || st.Undecodable != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestSteadyPathAllocations holds the per-packet allocation budget at zero
// once a connection's buffers have grown.
func TestSteadyPathAllocations(t *testing.T) {
	a := NewAssembler(nopHandler{}, Options{Consumers: nopConsumers})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli, srv := cliAddr, srvAddr
	var n int64
	send := func(s pktSpec) []byte { return frameFor(t, linkEthernet, buildIP(t, s)) }
	for _, s := range []pktSpec{
		{src: cli, dst: srv, flags: SYN, seq: 100},
		{src: srv, dst: cli, flags: SYN | ACK, seq: 900, ack: 101},
		{src: cli, dst: srv, flags: ACK, seq: 101, ack: 901},
	} {
		n++
		a.Packet(linkEthernet, send(s), benchPos(t0, n))
	}
	data := send(benchSpec(srv, cli, PA, 1448))
	ack := send(benchSpec(cli, srv, ACK, 0))
	sseq := uint32(901)
	step := func() {
		n++
		patchSeqAck(data[14:], sseq, 101)
		a.Packet(linkEthernet, data, benchPos(t0, n))
		sseq += 1448
		n++
		patchSeqAck(ack[14:], 101, sseq)
		a.Packet(linkEthernet, ack, benchPos(t0, n))
	}
	for range 200 { // grow the compare ring to its cap
		step()
	}
	if allocs := testing.AllocsPerRun(1000, step); allocs != 0 {
		t.Errorf("%v allocations per data+ACK pair, want 0", allocs)
	}
}
