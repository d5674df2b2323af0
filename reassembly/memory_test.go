package reassembly

import (
	"testing"
	"unsafe"
)

// TestStateSizes guards what one connection costs (issue 15): a busy link
// holds thousands open or lingering after their close, a SYN flood up to
// MaxConns embryos. A field added to these structs should be one every
// connection needs; the bounds are the allocator's size classes they fit.
func TestStateSizes(t *testing.T) {
	t.Logf("conn %d B (Conn %d, dirStream %d), embryo %d B",
		unsafe.Sizeof(conn{}), unsafe.Sizeof(Conn{}), unsafe.Sizeof(dirStream{}), unsafe.Sizeof(embryo{}))
	if n := unsafe.Sizeof(conn{}); n > 1152 {
		t.Errorf("conn is %d bytes, more than 1152", n)
	}
	if n := unsafe.Sizeof(embryo{}); n > 160 {
		t.Errorf("embryo is %d bytes, more than 160", n)
	}
}

// TestSettledRingsDropped: once a connection is settled (FIN both ways) and
// each side acknowledged the other's every byte and FIN, its compare rings
// go back to the pool; they stay counted in CompareTotal until the
// connection ends, so which rings hit that bound does not change. A late
// copy of acknowledged data is still classified as a retransmission.
func TestSettledRingsDropped(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET / HTTP/1.1\r\n\r\n", want: []string{`feed c @0 "GET / HTTP/1.1\r\n\r\n" #4`}},
		{from: "s", flags: PA, seq: si + 1, ack: ci + 19, data: "HTTP/1.1 200 OK\r\n\r\n", want: []string{`feed s @0 "HTTP/1.1 200 OK\r\n\r\n" #5`}},
		{from: "c", flags: FIN | ACK, seq: ci + 19, ack: si + 20, want: []string{"end c fin @18 #6"}},
	})
	var c *conn
	for _, x := range sr.a.conns {
		c = x
	}
	total := sr.a.ringTotal
	if c.dirs[0].ring == nil || c.dirs[1].ring == nil || total != 2*firstRingSize {
		t.Fatalf("rings %d %d, total %d before the close", len(c.dirs[0].ring), len(c.dirs[1].ring), total)
	}
	// The server's FIN settles the connection and acknowledges the client's
	// FIN: the client's ring goes, the server's waits for the last ACK.
	sr.run([]step{{from: "s", flags: FIN | ACK, seq: si + 20, ack: ci + 20, want: []string{"end s fin @19 #7", "finish #7"}}})
	if !c.finished || c.dirs[0].ring != nil || c.dirs[1].ring == nil {
		t.Fatalf("finished %v, rings %d %d", c.finished, len(c.dirs[0].ring), len(c.dirs[1].ring))
	}
	sr.run([]step{{from: "c", flags: ACK, seq: ci + 20, ack: si + 21}})
	if c.dirs[1].ring != nil || c.dirs[1].rs != nil {
		t.Fatalf("server ring %d, marks %v after the last ACK", len(c.dirs[1].ring), c.dirs[1].rs)
	}
	// Given-up rings count no more in CompareTotal; their bytes are in the pool.
	if sr.a.ringTotal != 0 || sr.a.rings.bytes != total {
		t.Fatalf("ringTotal %d (want 0), pool %d (want %d)", sr.a.ringTotal, sr.a.rings.bytes, total)
	}
	// A late copy of the (acknowledged) response, even with other bytes.
	sr.run([]step{{from: "s", flags: PA, seq: si + 1, ack: ci + 20, data: "HTTP/1.1 500 OK\r\n\r\n", kind: SegRetransmit}})
	if len(sr.r.incons) != 0 {
		t.Fatalf("inconsistencies %+v", sr.r.incons)
	}
	sr.close("connend 1 fin")
	if sr.a.ringTotal != 0 {
		t.Fatalf("ringTotal %d after the end", sr.a.ringTotal)
	}
	// The next connection's rings come from the pool.
	if r := sr.a.rings.get(firstRingSize); sr.a.rings.bytes != firstRingSize || len(r) != firstRingSize {
		t.Fatalf("pool %d after a get", sr.a.rings.bytes)
	}
}

func TestRingPoolBounds(t *testing.T) {
	var p ringPool
	p.put(make([]byte, 100))  // not a ring size
	p.put(make([]byte, 3000)) // not a power of two
	if p.bytes != 0 {
		t.Fatalf("pool took odd sizes: %d", p.bytes)
	}
	for range 2 * ringPoolBytes / (64 << 10) {
		p.put(make([]byte, 64<<10))
	}
	if p.bytes != ringPoolBytes {
		t.Fatalf("pool holds %d, bound %d", p.bytes, ringPoolBytes)
	}
	if r := p.get(64 << 10); len(r) != 64<<10 || p.bytes != ringPoolBytes-64<<10 {
		t.Fatalf("get: %d, pool %d", len(r), p.bytes)
	}
	if r := p.get(512); len(r) != 512 {
		t.Fatalf("get from an empty class: %d", len(r))
	}
}
