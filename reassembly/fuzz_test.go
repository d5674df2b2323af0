package reassembly

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// fuzzSrc reads parameters from the fuzz input; past its end it reads zeros.
type fuzzSrc struct{ b []byte }

func (s *fuzzSrc) u8() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *fuzzSrc) u16() uint16 { return uint16(s.u8())<<8 | uint16(s.u8()) }
func (s *fuzzSrc) u32() uint32 { return uint32(s.u16())<<16 | uint32(s.u16()) }

// modelSink checks every delivery of the client stream against the truth.
type modelSink struct {
	t        *testing.T
	stream   []byte
	seen     []bool // offsets captured so far (set before each packet)
	strict   bool   // no cap was hit: a gap may not cover a byte already captured
	cursor   uint64
	ended    bool
	finished bool
}

func (m *modelSink) Feed(d flow.Dir, b []byte, pos flow.Pos) {
	if d != flow.ClientToServer {
		m.t.Fatalf("server stream fed %q", b)
	}
	if m.ended {
		m.t.Fatalf("Feed after End")
	}
	if pos.Offset != m.cursor {
		m.t.Fatalf("Feed at %d, cursor %d", pos.Offset, m.cursor)
	}
	end := pos.Offset + uint64(len(b))
	if end > uint64(len(m.stream)) || !bytes.Equal(b, m.stream[pos.Offset:end]) {
		m.t.Fatalf("wrong bytes at %d: %q", pos.Offset, b)
	}
	m.cursor = end
}

func (m *modelSink) Gap(d flow.Dir, n uint64, pos flow.Pos) {
	if d != flow.ClientToServer || pos.Offset != m.cursor || n == 0 {
		m.t.Fatalf("gap dir %v at %d+%d, cursor %d", d, pos.Offset, n, m.cursor)
	}
	end := pos.Offset + n
	if end > uint64(len(m.stream)) {
		m.t.Fatalf("gap %d+%d beyond the stream (%d)", pos.Offset, n, len(m.stream))
	}
	if m.strict {
		for o := pos.Offset; o < end; o++ {
			if m.seen[o] {
				m.t.Fatalf("gap %d+%d covers captured byte %d", pos.Offset, n, o)
			}
		}
	}
	m.cursor = end
}

func (m *modelSink) End(d flow.Dir, how flow.CloseKind, pos flow.Pos) {
	if d == flow.ClientToServer {
		m.ended = true
	}
}
func (m *modelSink) Finish(pos flow.Pos) { m.finished = true }

type fuzzSend struct {
	kind     byte // 'd' data, 'a' server ACK, 'f' client FIN
	off, end uint64
	copies   int // captured copies: 0 = the capture lost it, 2 = recorded twice
	key      int // capture position (send index + displacement)
	t        time.Duration
}

// FuzzReassembly sends a known client stream as segments, retransmissions
// and server ACKs, then lets the capture drop, duplicate and reorder them.
// Delivered bytes plus declared gaps must rebuild exactly the stream prefix
// that the capture proves: right bytes at the right offsets, gaps only over
// bytes never captured (unless the out-of-order cap forced them).
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 10, 1, 20, 1, 30})
	f.Add([]byte{0xff, 0xff, 0xff, 0xf0, 0x02, 0x00, 100, 0x0d, 50, 0x82, 70, 0x1e, 1, 0x91, 90, 0x02, 3, 0, 1})
	f.Add([]byte("\xff\xff\xfe\x00\x0f\xffsome fuzz seed with reordering and drops \x00\x03\x13\x07\x81\x8d\xff"))
	f.Add([]byte{1, 2, 3, 4, 0, 200, 5, 0x84, 5, 0x88, 5, 0x8c, 5, 0x80, 5, 0x81, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &fuzzSrc{b: in}
		isn := src.u32()
		capSmall := src.u8()&1 == 1
		n := 1 + int(src.u16())%4000
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = byte(i*31 + i/251)
		}
		var sends []fuzzSend
		var maxSent uint64
		for off := uint64(0); off < uint64(n); {
			sz := 1 + uint64(src.u8())%250
			if len(src.b) == 0 {
				sz = 100
			}
			end := min(off+sz, uint64(n))
			op := src.u8()
			sends = append(sends, fuzzSend{kind: 'd', off: off, end: end, copies: [4]int{1, 1, 0, 2}[op&3], key: int(op>>2) & 3})
			maxSent = max(maxSent, end)
			if op&0x10 != 0 { // a retransmission of an earlier range, maybe re-segmented longer
				from := uint64(src.u8()) * uint64(n) / 256
				to := min(maxSent, from+1+uint64(op>>5)*40)
				if from < to {
					sends = append(sends, fuzzSend{kind: 'd', off: from, end: to, copies: 1, key: int(src.u8()) & 3})
				}
			}
			if op&0x80 != 0 {
				sends = append(sends, fuzzSend{kind: 'a', end: maxSent, copies: int(op>>5) & 1, key: int(src.u8()) & 3})
			}
			off = end
		}
		finCaptured := src.u8()&1 == 1
		if finCaptured {
			sends = append(sends, fuzzSend{kind: 'f', off: uint64(n), end: uint64(n), copies: 1})
		}
		for i := range sends {
			sends[i].t = time.Duration(i) * 10 * time.Millisecond
			sends[i].key += i
		}
		slices.SortStableFunc(sends, func(a, b fuzzSend) int { return a.key - b.key })

		opts := Options{}
		if capSmall {
			opts.MaxOutOfOrderBytes = 300
		}
		r := &recorder{}
		m := &modelSink{t: t, stream: stream, seen: make([]bool, n), strict: !capSmall}
		opts.Consumers = consumers(func(*Conn) Consumer { return m })
		a := NewAssembler(r, opts)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		frame := int64(0)
		feed := func(s pktSpec, at time.Duration, copies int) {
			s.win = 65535
			s.ipID = uint16(frame + 1)
			data := buildIP(t, s)
			for range copies {
				frame++
				a.Packet(linkRaw, data, flow.Pos{Time: t0.Add(at), Frame: frame, Ord: frame})
			}
		}
		feed(pktSpec{src: cliAddr, dst: srvAddr, flags: SYN, seq: isn}, 0, 1)
		feed(pktSpec{src: srvAddr, dst: cliAddr, flags: SYN | ACK, seq: si, ack: isn + 1}, 0, 1)
		feed(pktSpec{src: cliAddr, dst: srvAddr, flags: ACK, seq: isn + 1, ack: si + 1}, 0, 1)
		var wantEnd, ackEnd uint64
		for _, s := range sends {
			if s.copies == 0 {
				continue
			}
			switch s.kind {
			case 'd':
				for o := s.off; o < s.end; o++ {
					m.seen[o] = true
				}
				feed(pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: isn + 1 + uint32(s.off), ack: si + 1,
					payload: stream[s.off:s.end]}, s.t, s.copies)
			case 'a':
				feed(pktSpec{src: srvAddr, dst: cliAddr, flags: ACK, seq: si + 1, ack: isn + 1 + uint32(s.end)}, s.t, s.copies)
			case 'f':
				feed(pktSpec{src: cliAddr, dst: srvAddr, flags: FIN | ACK, seq: isn + 1 + uint32(s.off), ack: si + 1}, s.t, s.copies)
			}
			if s.kind == 'a' {
				ackEnd = max(ackEnd, s.end)
			} else {
				wantEnd = max(wantEnd, s.end)
			}
		}
		// Acknowledged bytes beyond the last captured ones are a trailing gap,
		// except one byte without a FIN: that looks like the ACK of a lost FIN.
		if ackEnd > wantEnd && (finCaptured || ackEnd != wantEnd+1) {
			wantEnd = ackEnd
		}
		a.Close()
		if m.cursor != wantEnd {
			t.Fatalf("stream rebuilt up to %d, the capture proves %d", m.cursor, wantEnd)
		}
		if !m.ended || !m.finished || len(r.ended) != 1 || len(r.started) != 1 {
			t.Fatalf("ended %v finished %v conns %d/%d", m.ended, m.finished, len(r.started), len(r.ended))
		}
		c := r.ended[0]
		if got := c.Halves[0].Bytes + c.Halves[0].GapBytes; got != wantEnd {
			t.Fatalf("bytes %d + gap bytes %d != %d", c.Halves[0].Bytes, c.Halves[0].GapBytes, wantEnd)
		}
		if len(r.incons) != 0 {
			t.Fatalf("inconsistencies on identical retransmissions: %+v", r.incons)
		}
	})
}

// FuzzAssemblerChaos feeds arbitrary TCP packets (any flags, sequence and
// acknowledgement numbers, payloads, time jumps) on a few tuples through an
// assembler with tiny bounds. Nothing may panic, each direction's deliveries
// must stay contiguous (the fake sink checks), every connection that
// starts must end, and the table must be empty after Close.
func FuzzAssemblerChaos(f *testing.F) {
	f.Add([]byte{0x02, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x12, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0x18, 0, 0, 0, 2, 0, 0, 0, 10, 5})
	f.Add([]byte{0x10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, 3, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x04, 1, 2, 3, 4, 5, 6, 7, 8, 0})
	f.Add([]byte("\x18GET / HTTP/1.1\r\n\r\n\x19HTTP/1.1 200 OK\r\n\x02\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &fuzzSrc{b: in}
		r := &recorder{}
		a := newTestAssembler(r, Options{MaxConns: 2, MaxOutOfOrderBytes: 64, CompareBytes: 32,
			IdleTimeout: time.Minute, CloseLinger: time.Second})
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		now := t0
		payload := make([]byte, 200)
		for i := range payload {
			payload[i] = byte(i)
		}
		var frame int64
		for len(src.b) > 0 && frame < 200 {
			op := src.u8()
			flags := Flags(op) & (FIN | SYN | RST | PSH | ACK)
			seq, ack := src.u32(), src.u32()
			ln := int(src.u8()) % 64
			ctl := src.u8()
			// ctl: bits 0-1 tuple/direction, bits 2-4 time step, bit 5 zero window, bit 6 duplicate frame
			cli := netip.AddrPortFrom(cliAddr.Addr(), 40000+uint16(ctl>>1&1))
			s, d := cli, srvAddr
			if ctl&1 != 0 {
				s, d = d, s
			}
			now = now.Add([8]time.Duration{0, time.Microsecond, time.Millisecond, 100 * time.Millisecond,
				time.Second, 3 * time.Second, time.Minute, 2 * time.Minute}[ctl>>2&7])
			win := uint16(1000)
			if ctl&0x20 != 0 {
				win = 0
			}
			data := buildIP(t, pktSpec{src: s, dst: d, flags: flags, seq: seq, ack: ack, win: win,
				payload: payload[int(seq%100):][:ln], ipID: uint16(frame)})
			copies := 1 + int(ctl>>6&1)
			for range copies {
				frame++
				a.Packet(linkRaw, data, flow.Pos{Time: now, Frame: frame, Ord: frame})
			}
		}
		a.Close()
		if len(a.conns) != 0 || a.open.head != nil || a.closed.head != nil {
			t.Fatal("table not empty after Close")
		}
		if len(r.started) != len(r.ended) {
			t.Fatalf("%d started, %d ended", len(r.started), len(r.ended))
		}
		for i := 1; i < len(r.started); i++ {
			if r.started[i].ID <= r.started[i-1].ID && r.started[i] != r.started[i-1] {
				// IDs follow first-packet order, but a mid-stream connection
				// starts late; only uniqueness is guaranteed.
				for j := range i {
					if r.started[j].ID == r.started[i].ID {
						t.Fatalf("duplicate ID %d", r.started[i].ID)
					}
				}
			}
		}
		if a.Stats().Conns != int64(len(r.started)) {
			t.Fatalf("Stats.Conns %d, started %d", a.Stats().Conns, len(r.started))
		}
	})
}
