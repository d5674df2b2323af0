//go:build cgo

package capture

import (
	"bytes"
	"testing"
)

// TestQueueBounds: put never waits; it refuses when the packet count or
// the byte ring is full, and bytes taken stay valid until the next take.
func TestQueueBounds(t *testing.T) {
	q := newQueue(4, 1000)
	pkt := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	for i := range 3 {
		if !q.put(qitem{frame: int64(i + 1)}, pkt(byte('a'+i), 300)) {
			t.Fatalf("put %d refused", i)
		}
	}
	if q.put(qitem{frame: 4}, pkt('d', 300)) {
		t.Fatal("put past the byte limit accepted")
	}
	if !q.put(qitem{frame: 4}, pkt('d', 50)) || q.put(qitem{frame: 5}, pkt('e', 1)) {
		t.Fatal("packet limit not applied")
	}
	it, data, ok := q.take()
	if !ok || it.frame != 1 || !bytes.Equal(data, pkt('a', 300)) {
		t.Fatalf("take: %+v %q", it, data[:3])
	}
	// The first packet's bytes are held until the next take.
	if q.put(qitem{frame: 5}, pkt('e', 300)) {
		t.Fatal("put overwrote bytes the consumer holds")
	}
	it, data, _ = q.take()
	if it.frame != 2 || !bytes.Equal(data, pkt('b', 300)) {
		t.Fatalf("second take: frame %d", it.frame)
	}
	// Now 300 bytes at the ring's start are free: a packet that does not
	// fit before the ring's end goes there, whole.
	if !q.put(qitem{frame: 5}, pkt('e', 300)) {
		t.Fatal("put refused with room at the ring's start")
	}
	for _, want := range []struct {
		frame int64
		b     byte
		n     int
	}{{3, 'c', 300}, {4, 'd', 50}, {5, 'e', 300}} {
		it, data, _ := q.take()
		if it.frame != want.frame || !bytes.Equal(data, pkt(want.b, want.n)) {
			t.Fatalf("take frame %d, want %d", it.frame, want.frame)
		}
	}
	q.close()
	if _, _, ok := q.take(); ok {
		t.Fatal("take after close")
	}
}

func TestLossFlows(t *testing.T) {
	var l Loss
	for i := range MaxLossFlows {
		l.add(1, uint64(i), true)
		l.add(1, uint64(i), true)
	}
	l.add(1, 0, false)
	if l.Queue != 2*MaxLossFlows+1 || len(l.Flows) != MaxLossFlows || l.AllFlows {
		t.Fatalf("%d queued, %d flows, all %v", l.Queue, len(l.Flows), l.AllFlows)
	}
	l.add(1, 999, true)
	if l.Flows != nil || !l.AllFlows {
		t.Fatal("flows past MaxLossFlows still listed")
	}
}

// TestFlowHashSymmetric: both directions of a TCP connection hash alike,
// other connections differently.
func TestFlowHashSymmetric(t *testing.T) {
	frame := func(src, dst [4]byte, sp, dp uint16) []byte {
		b := make([]byte, 14+20+20)
		b[12], b[13] = 0x08, 0x00
		ip := b[14:]
		ip[0], ip[9] = 0x45, 6
		copy(ip[12:], src[:])
		copy(ip[16:], dst[:])
		tcp := ip[20:]
		tcp[0], tcp[1], tcp[2], tcp[3] = byte(sp>>8), byte(sp), byte(dp>>8), byte(dp)
		return b
	}
	a, b := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	h1, ok1 := FlowHash(1, frame(a, b, 40000, 80))
	h2, ok2 := FlowHash(1, frame(b, a, 80, 40000))
	h3, _ := FlowHash(1, frame(a, b, 40001, 80))
	if !ok1 || !ok2 || h1 != h2 || h1 == h3 {
		t.Errorf("hashes %x %x %x", h1, h2, h3)
	}
	if _, ok := FlowHash(1, []byte{1, 2, 3}); ok {
		t.Error("hash of a runt frame")
	}
}
