//go:build cgo

package capture

import (
	"fmt"
	"sync/atomic"
	"time"
)

// queue carries packets from the live reader goroutine to the consumer
// (analysis) without ever blocking the reader. Packet bytes are copied once,
// into a byte ring of fixed size allocated at start (so no per-packet
// garbage); the descriptors travel through a buffered channel whose
// capacity is the packet limit. The reader never waits: when the ring has
// no room for a packet or the channel is full, put reports false and the
// reader counts a queue drop.
//
// The consumer owns the bytes of the item it received until its next take:
// take first releases the previous item's bytes (by advancing tail), so
// Packet.Data stays valid until the next Next, as for files.
//
// Offsets are absolute (they only grow); an item's bytes are at
// ring[off%len(ring):][:n] and never wrap: a packet that does not fit
// before the ring's end starts at its beginning and the skipped bytes are
// released with it.
type queue struct {
	ch   chan qitem
	ring []byte
	head int64        // reader only: where the next packet's bytes go
	tail atomic.Int64 // written by the consumer: bytes before it are free
	held int64        // consumer only: end of the item the consumer still holds
}

// qitem is one queue entry: a packet, or a tick (n == 0, tick set).
type qitem struct {
	off, end int64 // bytes at off (absolute), n long; end releases them (and any skipped tail of the ring)
	n        int32
	length   int32 // original length on the wire
	ts       int64 // unix nanoseconds (packet timestamp, or tick time)
	frame    int64
	tick     bool
	loss     *Loss
}

func newQueue(packets, bytes int) *queue {
	return &queue{ch: make(chan qitem, packets), ring: make([]byte, bytes)}
}

// put copies data into the ring and queues it with it. It returns false,
// having queued nothing, when either limit is reached. Reader goroutine only.
func (q *queue) put(it qitem, data []byte) bool {
	n := int64(len(data))
	size := int64(len(q.ring))
	start := q.head
	if pos := start % size; pos+n > size {
		start += size - pos // skip the ring's tail: bytes never wrap
	}
	end := start + n
	if end-q.tail.Load() > size {
		return false
	}
	pos := start % size
	copy(q.ring[pos:pos+n], data)
	it.off, it.end, it.n = start, end, int32(n)
	select {
	case q.ch <- it:
		q.head = end
		return true
	default:
		return false
	}
}

// putTick queues an item without bytes, if there is room.
func (q *queue) putTick(it qitem) bool {
	it.off, it.end, it.n = q.head, q.head, 0
	select {
	case q.ch <- it:
		return true
	default:
		return false
	}
}

// putWait queues an item without bytes, waiting for room: only for the
// reader's last item, when the consumer is draining.
func (q *queue) putWait(it qitem) {
	it.off, it.end, it.n = q.head, q.head, 0
	q.ch <- it
}

// take releases the previous item's bytes and returns the next item and
// its bytes, or ok false once the reader has closed the queue and it is empty.
func (q *queue) take() (it qitem, data []byte, ok bool) {
	q.release()
	it, ok = q.receive()
	if !ok {
		return it, nil, false
	}
	q.held = it.end
	if it.n > 0 {
		pos := it.off % int64(len(q.ring))
		data = q.ring[pos : pos+int64(it.n) : pos+int64(it.n)]
	}
	return it, data, true
}

// Waking a parked goroutine costs the reader a futex call: once per packet
// it would cost more than reading the packet. So a consumer that finds the
// queue empty first naps (the reader's sends then wake no one) and only
// parks on the channel after napping idleNaps times in a row; packets then
// reach it within napFor, and an idle capture costs nothing.
const (
	napFor   = time.Millisecond
	idleNaps = 20
)

func (q *queue) receive() (qitem, bool) {
	for range idleNaps {
		select {
		case it, ok := <-q.ch:
			return it, ok
		default:
			time.Sleep(napFor)
		}
	}
	it, ok := <-q.ch
	return it, ok
}

// release frees the bytes of the item the consumer holds.
func (q *queue) release() {
	if q.held > q.tail.Load() {
		q.tail.Store(q.held)
	}
}

// close ends the queue. Reader goroutine only, after its last put.
func (q *queue) close() { close(q.ch) }

func (it qitem) time() time.Time { return time.Unix(0, it.ts) }

// add records q queue drops of a packet of flow (only the libpcap reader
// drops packets, hence cgo only).
func (l *Loss) add(q int64, flow uint64, flowOK bool) {
	l.Queue += q
	if l.AllFlows {
		return
	}
	if !flowOK {
		return // not IP: no connection can be affected
	}
	for _, f := range l.Flows {
		if f == flow {
			return
		}
	}
	if len(l.Flows) == MaxLossFlows {
		l.Flows, l.AllFlows = nil, true
		return
	}
	l.Flows = append(l.Flows, flow)
}

// listeningLine formats tcpdump's start line.
func listeningLine(iface string, dlt int, name, desc string, snaplen int) string {
	lt := fmt.Sprintf("link-type %d", dlt)
	if name != "" {
		lt = fmt.Sprintf("link-type %s (%s)", name, desc)
	}
	return fmt.Sprintf("listening on %s, %s, snapshot length %d bytes", iface, lt, snaplen)
}
