package reassembly

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// connLog records every event per connection ID, and the order of ends.
type connLog struct {
	per  map[uint64][]string
	ends []string
}

func (l *connLog) add(c *Conn, format string, args ...any) {
	l.per[c.ID] = append(l.per[c.ID], fmt.Sprintf(format, args...))
}
func (l *connLog) ConnStart(c *Conn) {
	l.add(c, "start %v>%v first#%d", c.Client, c.Server, c.First.Frame)
}
func (l *connLog) Segment(c *Conn, s *Segment) {
	l.add(c, "seg %s #%d flags %v", dirName(s.Dir), s.Pos.Frame, s.Flags)
}
func (l *connLog) Gap(c *Conn, g Gap) { l.add(c, "gap %s @%d +%d", dirName(g.Dir), g.Offset, g.Bytes) }
func (l *connLog) Inconsistency(c *Conn, x Inconsistency) {
	l.add(c, "incons %s", dirName(x.Dir))
}
func (l *connLog) ConnEnd(c *Conn) {
	l.add(c, "end %v last#%d", c.End, c.Last.Frame)
	l.ends = append(l.ends, fmt.Sprintf("%d %v", c.ID, c.End))
}

// TestLazySYNSameEvents runs one capture — SYN-only connections (a flood),
// full exchanges, a retransmitted SYN, a refused SYN, port reuse, idle
// expiry and a full table — with and without LazySYN: every connection gets
// the same events with the same IDs, and connections end in the same order.
func TestLazySYNSameEvents(t *testing.T) {
	srv := netip.MustParseAddrPort("10.9.0.1:80")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type pk struct {
		s  pktSpec
		at time.Duration
	}
	var pkts []pk
	cli := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(20000+i%7))
	}
	at := time.Duration(0)
	next := func() time.Duration { at += 10 * time.Millisecond; return at }
	exchange := func(c netip.AddrPort, isn uint32) {
		pkts = append(pkts,
			pk{pktSpec{src: c, dst: srv, flags: SYN, seq: isn, win: 100}, next()},
			pk{pktSpec{src: srv, dst: c, flags: SYN | ACK, seq: 900, ack: isn + 1, win: 100}, next()},
			pk{pktSpec{src: c, dst: srv, flags: ACK, seq: isn + 1, ack: 901, win: 100}, next()},
			pk{pktSpec{src: c, dst: srv, flags: ACK | PSH, seq: isn + 1, ack: 901, win: 100, payload: []byte("GET / HTTP/1.1\r\n\r\n")}, next()},
			pk{pktSpec{src: c, dst: srv, flags: FIN | ACK, seq: isn + 19, ack: 901, win: 100}, next()},
			pk{pktSpec{src: srv, dst: c, flags: FIN | ACK, seq: 901, ack: isn + 20, win: 100}, next()},
		)
	}
	for i := 0; i < 40; i++ {
		switch {
		case i%9 == 3:
			exchange(cli(i), uint32(1000*i))
		case i%9 == 5:
			// refused
			pkts = append(pkts, pk{pktSpec{src: cli(i), dst: srv, flags: SYN, seq: 7, win: 100}, next()},
				pk{pktSpec{src: srv, dst: cli(i), flags: RST | ACK, ack: 8}, next()})
		case i%9 == 7:
			// retransmitted SYN, then nothing
			pkts = append(pkts, pk{pktSpec{src: cli(i), dst: srv, flags: SYN, seq: 7, win: 100}, next()},
				pk{pktSpec{src: cli(i), dst: srv, flags: SYN, seq: 7, win: 100}, next()})
		default:
			pkts = append(pkts, pk{pktSpec{src: cli(i), dst: srv, flags: SYN, seq: uint32(i), win: 100}, next()})
		}
		if i == 20 {
			at += 10 * time.Minute // the SYNs so far go idle
		}
	}
	// port reuse on a flooded tuple: a new SYN with another ISN, answered
	exchange(cli(1), 555)
	run := func(lazy bool) *connLog {
		l := &connLog{per: map[uint64][]string{}}
		a := NewAssembler(l, Options{LazySYN: lazy, MaxConns: 8, IdleTimeout: time.Minute})
		for i, p := range pkts {
			ip := buildIP(t, p.s)
			a.Packet(linkRaw, ip, flow.Pos{Time: t0.Add(p.at), Frame: int64(i + 1), Ord: int64(i + 1)})
		}
		a.Close()
		return l
	}
	eager, lazy := run(false), run(true)
	if !slices.Equal(eager.ends, lazy.ends) {
		t.Fatalf("end order differs:\neager %v\nlazy  %v", eager.ends, lazy.ends)
	}
	if len(eager.per) < 30 {
		t.Fatalf("only %d connections", len(eager.per))
	}
	for id, ev := range eager.per {
		if got := lazy.per[id]; !slices.Equal(ev, got) {
			t.Errorf("connection %d:\neager %s\nlazy  %s", id, strings.Join(ev, "; "), strings.Join(got, "; "))
		}
	}
	if len(lazy.per) != len(eager.per) {
		t.Errorf("%d connections lazily, %d eagerly", len(lazy.per), len(eager.per))
	}
}

// TestCompareTotalBoundsRings: the compare rings of all connections stay
// within Options.CompareTotal (plus the smallest ring per direction); a
// ring stopped by it is counted once.
func TestCompareTotalBoundsRings(t *testing.T) {
	srv := netip.MustParseAddrPort("10.9.0.1:80")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := &connLog{per: map[uint64][]string{}}
	a := NewAssembler(l, Options{CompareTotal: 4096})
	frame := int64(0)
	send := func(s pktSpec) {
		frame++
		a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(frame) * time.Millisecond), Frame: frame, Ord: frame})
	}
	body := make([]byte, 1000)
	for i := 0; i < 3; i++ {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, 0, byte(i)}), 30000)
		send(pktSpec{src: c, dst: srv, flags: SYN, seq: 100, win: 100})
		send(pktSpec{src: srv, dst: c, flags: SYN | ACK, seq: 900, ack: 101, win: 100})
		for k := 0; k < 4; k++ {
			send(pktSpec{src: c, dst: srv, flags: ACK | PSH, seq: 101 + uint32(1000*k), ack: 901, win: 100, payload: body})
		}
		// past the bound a new ring still gets the smallest size
		if bound := 4096 + (i+1)*2*firstRingSize; a.ringTotal > bound {
			t.Fatalf("rings hold %d bytes, bound %d", a.ringTotal, bound)
		}
	}
	if got := a.Stats().CompareLimited; got < 1 || got > 3 {
		t.Errorf("CompareLimited = %d, want 1..3 (once per limited direction)", got)
	}
	a.Close()
	if a.ringTotal != 0 {
		t.Errorf("rings hold %d bytes after Close", a.ringTotal)
	}
}
