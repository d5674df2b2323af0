package reassembly

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// endAtTx records, for every transaction, the connection's End at the
// moment the transaction was delivered.
type endAtTx struct {
	recorder
	ends []EndReason
}

func (e *endAtTx) Message(c *Conn, m *http1.Message)         {}
func (e *endAtTx) Transaction(c *Conn, t *http1.Transaction) { e.ends = append(e.ends, c.End) }

// TestEvictionVisibleBeforeLastTransaction: when a connection is evicted
// (table full or idle) in the middle of a response, its End says so already
// when the cut transaction is delivered, also if one side had sent a FIN
// (half-close): rules must be able to tell an eviction from the end of the
// capture.
func TestEvictionVisibleBeforeLastTransaction(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		opts     Options
		halfShut bool
		evict    func(a *Assembler, frame *int64)
		want     EndReason
	}{
		{"table full", Options{MaxConns: 1}, false, func(a *Assembler, frame *int64) {
			*frame++
			syn := buildIP(t, pktSpec{src: netip.MustParseAddrPort("10.0.0.9:4000"), dst: srvAddr, flags: SYN, seq: 77})
			a.Packet(linkRaw, syn, flow.Pos{Time: t0.Add(time.Second), Frame: *frame, Ord: *frame})
		}, EndEvicted},
		{"table full after a client FIN", Options{MaxConns: 1}, true, func(a *Assembler, frame *int64) {
			*frame++
			syn := buildIP(t, pktSpec{src: netip.MustParseAddrPort("10.0.0.9:4000"), dst: srvAddr, flags: SYN, seq: 77})
			a.Packet(linkRaw, syn, flow.Pos{Time: t0.Add(time.Second), Frame: *frame, Ord: *frame})
		}, EndEvicted},
		{"idle", Options{IdleTimeout: time.Minute}, false, func(a *Assembler, frame *int64) {
			a.Flush(t0.Add(2 * time.Minute))
		}, EndIdle},
		{"idle after a client FIN", Options{IdleTimeout: time.Minute}, true, func(a *Assembler, frame *int64) {
			a.Flush(t0.Add(2 * time.Minute))
		}, EndIdle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &endAtTx{}
			a := NewAssembler(r, withHTTP(tc.opts, r))
			var frame int64
			send := func(s pktSpec) {
				frame++
				s.win = 65535
				a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(frame) * time.Millisecond), Frame: frame, Ord: frame})
			}
			req := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
			resp := "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part"
			send(pktSpec{src: cliAddr, dst: srvAddr, flags: SYN, seq: ci})
			send(pktSpec{src: srvAddr, dst: cliAddr, flags: SYN | ACK, seq: si, ack: ci + 1})
			send(pktSpec{src: cliAddr, dst: srvAddr, flags: ACK, seq: ci + 1, ack: si + 1})
			send(pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: ci + 1, ack: si + 1, payload: []byte(req)})
			cseq := ci + 1 + uint32(len(req))
			if tc.halfShut {
				send(pktSpec{src: cliAddr, dst: srvAddr, flags: FIN | ACK, seq: cseq, ack: si + 1})
				cseq++
			}
			send(pktSpec{src: srvAddr, dst: cliAddr, flags: PA, seq: si + 1, ack: cseq, payload: []byte(resp)})
			tc.evict(a, &frame)
			if len(r.ends) != 1 || r.ends[0] != tc.want {
				t.Fatalf("End when the cut transaction was delivered: %v, want [%v]", r.ends, tc.want)
			}
			a.Close()
		})
	}
}

// TestShortConnectionRingsStaySmall: the compare rings of a connection that
// carried a short request and response are sized to what was delivered,
// not to a fixed first allocation: a busy link has many such connections.
func TestShortConnectionRingsStaySmall(t *testing.T) {
	r := &recorder{}
	a := NewAssembler(r, withHTTP(Options{}, nil))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var frame int64
	send := func(s pktSpec) {
		frame++
		s.win = 65535
		a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(frame) * time.Millisecond), Frame: frame, Ord: frame})
	}
	req := "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	send(pktSpec{src: cliAddr, dst: srvAddr, flags: SYN, seq: ci})
	send(pktSpec{src: srvAddr, dst: cliAddr, flags: SYN | ACK, seq: si, ack: ci + 1})
	send(pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: ci + 1, ack: si + 1, payload: []byte(req)})
	send(pktSpec{src: srvAddr, dst: cliAddr, flags: PA, seq: si + 1, ack: ci + 1 + uint32(len(req)), payload: []byte(resp)})
	if len(a.conns) != 1 {
		t.Fatalf("%d connections", len(a.conns))
	}
	for _, c := range a.conns {
		for d := range c.dirs {
			if n := len(c.dirs[d].ring); n == 0 || n > 256 {
				t.Errorf("%v: compare ring of %d bytes after %d delivered", flow.Dir(d), n, c.dirs[d].next)
			}
		}
	}
	a.Close()
}

// TestOutOfOrderTotalBudget: many connections that each keep a hole open
// share MaxOutOfOrderTotal: no more is ever buffered, the holes given up
// are counted as dropped, and a connection within the budget still fills
// its hole without loss.
func TestOutOfOrderTotalBudget(t *testing.T) {
	r := &recorder{}
	opts := Options{MaxOutOfOrderBytes: 8 << 10, MaxOutOfOrderTotal: 20 << 10}
	opts.Consumers = nopConsumers
	a := NewAssembler(r, opts)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var frame int64
	send := func(s pktSpec) {
		frame++
		s.win = 65535
		a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(frame) * time.Millisecond), Frame: frame, Ord: frame})
		if a.oooTotal > opts.MaxOutOfOrderTotal || a.oooTotal < 0 {
			t.Fatalf("frame %d: %d out-of-order bytes buffered, budget %d", frame, a.oooTotal, opts.MaxOutOfOrderTotal)
		}
	}
	payload := make([]byte, 1000)
	const conns = 10
	for i := 0; i < conns; i++ {
		cli := netip.AddrPortFrom(cliAddr.Addr(), uint16(41000+i))
		send(pktSpec{src: cli, dst: srvAddr, flags: SYN, seq: ci})
		send(pktSpec{src: srvAddr, dst: cli, flags: SYN | ACK, seq: si, ack: ci + 1})
		// 1000 bytes missing at the start, then 6000 bytes beyond the hole.
		for k := 1; k <= 6; k++ {
			send(pktSpec{src: cli, dst: srvAddr, flags: PA, seq: ci + 1 + uint32(k*1000), ack: si + 1, payload: payload})
		}
	}
	if st := a.Stats(); st.OutOfOrderDropped == 0 {
		t.Errorf("%d connections × 6000 bytes beyond a hole within a 20 KiB budget: nothing dropped", conns)
	}
	// A connection whose hole is filled while it is within the budget loses nothing.
	before := a.Stats().OutOfOrderDropped
	cli := netip.AddrPortFrom(cliAddr.Addr(), 42000)
	send(pktSpec{src: cli, dst: srvAddr, flags: SYN, seq: ci})
	send(pktSpec{src: srvAddr, dst: cli, flags: SYN | ACK, seq: si, ack: ci + 1})
	send(pktSpec{src: cli, dst: srvAddr, flags: PA, seq: ci + 1001, ack: si + 1, payload: payload})
	send(pktSpec{src: cli, dst: srvAddr, flags: PA, seq: ci + 1, ack: si + 1, payload: payload})
	a.Close()
	if a.oooTotal != 0 {
		t.Errorf("%d out-of-order bytes still accounted after Close", a.oooTotal)
	}
	last := r.ended[len(r.ended)-1]
	if last.Halves[flow.ClientToServer].Bytes != 2000 || last.Halves[flow.ClientToServer].GapBytes != 0 {
		t.Errorf("connection within the budget: %d bytes, %d gap bytes (dropped before %d, after %d)",
			last.Halves[flow.ClientToServer].Bytes, last.Halves[flow.ClientToServer].GapBytes, before, a.Stats().OutOfOrderDropped)
	}
}

// TestMidStreamBaseIgnoresFarSequence: a connection seen without its
// handshake starts each direction at the lowest sequence number held, but a
// packet whose sequence number is far below the direction's data (a crafted
// or stale packet, anonymiser garbage as in nDPI's reasm_crash_anon.pcapng)
// must not open a hole of 100 MB before the stream.
func TestMidStreamBaseIgnoresFarSequence(t *testing.T) {
	r := &recorder{}
	a := NewAssembler(r, withHTTP(Options{}, nil))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var frame int64
	send := func(s pktSpec) {
		frame++
		s.win = 65535
		a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(time.Duration(frame) * time.Millisecond), Frame: frame, Ord: frame})
	}
	const seq = 1_006_331_165
	cli := netip.MustParseAddrPort("10.0.0.1:51218")
	srv := netip.MustParseAddrPort("10.0.0.2:21999")
	send(pktSpec{src: cli, dst: srv, flags: PA, seq: seq, ack: 7000, payload: []byte("<details />\r\n")})
	send(pktSpec{src: cli, dst: srv, flags: ACK, seq: seq - 134_217_676, ack: 7000}) // garbage
	send(pktSpec{src: cli, dst: srv, flags: PA, seq: seq - 13, ack: 7000, payload: []byte("<details ab>\r\n")[:13]})
	send(pktSpec{src: srv, dst: cli, flags: PA, seq: 7000, ack: seq + 13, payload: []byte("<ok/>\r\n")})
	a.Close()
	if len(r.ended) != 1 {
		t.Fatalf("%d connections", len(r.ended))
	}
	h := r.ended[0].Halves[flow.ClientToServer]
	if h.Bytes != 26 || h.GapBytes != 0 {
		t.Errorf("client stream: %d bytes, %d gap bytes; want 26 and 0 (gaps %+v)", h.Bytes, h.GapBytes, r.ended[0].Gaps)
	}
}

// TestEvictionCountsMatchConnections: every connection that ends as evicted
// (table full) or idle is counted in Stats, also one whose roles were still
// unknown (seen mid-stream, not HTTP) when it was evicted; stray packets
// that never made a connection are not.
func TestEvictionCountsMatchConnections(t *testing.T) {
	r := &recorder{}
	a := NewAssembler(r, withHTTP(Options{MaxConns: 2, IdleTimeout: time.Minute}, nil))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var frame int64
	send := func(at time.Duration, s pktSpec) {
		frame++
		s.win = 65535
		a.Packet(linkRaw, buildIP(t, s), flow.Pos{Time: t0.Add(at), Frame: frame, Ord: frame})
	}
	for i := 0; i < 4; i++ { // mid-stream, not HTTP: held with its roles unknown
		cli := netip.AddrPortFrom(cliAddr.Addr(), uint16(42000+i))
		send(time.Duration(i)*time.Millisecond, pktSpec{src: cli, dst: srvAddr, flags: PA, seq: 1, ack: 1, payload: []byte("\x16\x03\x01 hello")})
	}
	for i := 0; i < 3; i++ { // handshakes that then go quiet
		cli := netip.AddrPortFrom(cliAddr.Addr(), uint16(43000+i))
		send(time.Second, pktSpec{src: cli, dst: srvAddr, flags: SYN, seq: ci})
	}
	send(3*time.Minute, pktSpec{src: cliAddr, dst: srvAddr, flags: ACK, seq: 5, ack: 5}) // a stray ACK triggers the flush
	a.Close()
	ends := map[EndReason]int64{}
	for _, c := range r.ended {
		ends[c.End]++
	}
	st := a.Stats()
	if st.EvictedFull != ends[EndEvicted] || st.EvictedIdle != ends[EndIdle] || st.EvictedFull == 0 || st.EvictedIdle == 0 {
		t.Errorf("Stats: %d evicted, %d idle; connections: %d evicted, %d idle", st.EvictedFull, st.EvictedIdle, ends[EndEvicted], ends[EndIdle])
	}
}
