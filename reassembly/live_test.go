package reassembly

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly/flow"
)

// The flow hash the Assembler computes from a connection's key must be
// capture.FlowHash of that connection's packets, in both directions, for
// IPv4 and IPv6 and whichever endpoint sorts first: a live source names
// the flows that lost packets by it.
func TestFlowHashMatchesCapture(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"10.0.0.1:40000", "10.0.0.2:80"},
		{"10.0.0.2:40000", "10.0.0.1:80"},
		{"127.0.0.1:80", "127.0.0.1:40000"},
		{"127.0.0.1:40000", "127.0.0.1:80"},
		{"[2001:db8::1]:40000", "[2001:db8::2]:80"},
		{"[2001:db8::9]:443", "[2001:db8::2]:5555"},
		{"[::ffff:10.0.0.1]:1", "[::ffff:10.0.0.2]:2"},
	} {
		a, b := netip.MustParseAddrPort(tc.a), netip.MustParseAddrPort(tc.b)
		for _, pair := range [][2]netip.AddrPort{{a, b}, {b, a}} {
			ip := buildIP(t, pktSpec{src: pair[0], dst: pair[1], flags: SYN, seq: 1})
			want, ok := capture.FlowHash(linkRaw, ip)
			if !ok {
				t.Fatalf("%v: capture.FlowHash not ok", pair)
			}
			var p tcpPacket
			if decode(linkRaw, ip, &p) != decodedTCP {
				t.Fatalf("%v: not decoded as TCP", pair)
			}
			k, _ := makeKey(&p)
			if got := k.flowHash(); got != want {
				t.Errorf("%v>%v: flowHash %x, capture.FlowHash %x", pair[0], pair[1], got, want)
			}
		}
	}
}

// Lost marks the named connections (or all) with a zero-byte gap each way,
// once, and tells the Handler; others are untouched.
func TestLost(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &recorder{}
	a := newTestAssembler(r, Options{})
	cli1 := netip.MustParseAddrPort("10.0.0.1:40000")
	cli2 := netip.MustParseAddrPort("10.0.0.1:40001")
	var hash1 uint64
	for i, cli := range []netip.AddrPort{cli1, cli2} {
		f := int64(i*2 + 1)
		syn := buildIP(t, pktSpec{src: cli, dst: srvAddr, flags: SYN, seq: 100})
		a.Packet(linkRaw, syn, flow.Pos{Time: t0, Frame: f, Ord: f})
		synack := buildIP(t, pktSpec{src: srvAddr, dst: cli, flags: SYN | ACK, seq: 500, ack: 101})
		a.Packet(linkRaw, synack, flow.Pos{Time: t0, Frame: f + 1, Ord: f + 1})
		if i == 0 {
			hash1, _ = capture.FlowHash(linkRaw, synack)
		}
	}
	at := flow.Pos{Time: t0.Add(time.Second), Frame: 9, Ord: 9}
	if got := a.Lost([]uint64{hash1, 12345}, false, at); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("Lost(flow of conn 1) marked %v, want [1]", got)
	}
	if len(r.gaps) != 2 || r.gaps[0].Bytes != 0 || r.gaps[0].Dir == r.gaps[1].Dir || r.gaps[0].After.Frame != 9 {
		t.Fatalf("handler gaps %+v, want a zero-byte gap each way after frame 9", r.gaps)
	}
	if got := a.Lost([]uint64{hash1}, false, at); len(got) != 0 {
		t.Errorf("second Lost marked %v again", got)
	}
	got := a.Lost(nil, true, at)
	if !slices.Equal(got, []uint64{2}) {
		t.Errorf("Lost(all) marked %v, want [2] (1 is marked already)", got)
	}
	if got := a.Lost(nil, false, at); got != nil {
		t.Errorf("Lost with no flows marked %v", got)
	}
	a.Close()
	for _, c := range r.ended {
		if len(c.Gaps) != 2 || c.Gaps[0].Bytes != 0 {
			t.Errorf("conn %d ended with gaps %+v, want the two zero-byte marks", c.ID, c.Gaps)
		}
	}
}

// Advance ends a closed connection once its linger has passed and an idle
// one after IdleTimeout, with no further packet; it never moves time back.
func TestAdvance(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &recorder{}
	a := newTestAssembler(r, Options{CloseLinger: 500 * time.Millisecond, IdleTimeout: 10 * time.Second})
	closed := netip.MustParseAddrPort("10.0.0.1:40000")
	idle := netip.MustParseAddrPort("10.0.0.1:40001")
	pos := func(f int64, d time.Duration) flow.Pos { return flow.Pos{Time: t0.Add(d), Frame: f, Ord: f} }
	a.Packet(linkRaw, buildIP(t, pktSpec{src: closed, dst: srvAddr, flags: SYN, seq: 100}), pos(1, 0))
	a.Packet(linkRaw, buildIP(t, pktSpec{src: srvAddr, dst: closed, flags: SYN | ACK, seq: 500, ack: 101}), pos(2, 0))
	a.Packet(linkRaw, buildIP(t, pktSpec{src: idle, dst: srvAddr, flags: SYN, seq: 100}), pos(3, 0))
	a.Packet(linkRaw, buildIP(t, pktSpec{src: closed, dst: srvAddr, flags: RST, seq: 101}), pos(4, 100*time.Millisecond))
	a.Advance(t0.Add(500 * time.Millisecond))
	if len(r.ended) != 0 {
		t.Fatalf("ended %d connections before the linger passed", len(r.ended))
	}
	a.Advance(t0.Add(700 * time.Millisecond))
	if len(r.ended) != 1 || r.ended[0].End != EndRST {
		t.Fatalf("after the linger: ended %+v, want the RST connection", r.ended)
	}
	a.Advance(t0.Add(5 * time.Second))
	a.Advance(t0.Add(time.Second)) // back in time: nothing
	if len(r.ended) != 1 {
		t.Fatalf("idle connection ended before IdleTimeout")
	}
	a.Advance(t0.Add(11 * time.Second))
	if len(r.ended) != 2 || r.ended[1].End != EndIdle {
		t.Fatalf("after IdleTimeout: ended %+v, want the idle connection (EndIdle)", r.ended)
	}
}
