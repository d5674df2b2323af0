package reassembly

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Client ISN 1000 (stream offset 0 = seq 1001), server ISN 5000 (offset 0 = 5001).
const (
	ci = 1000
	si = 5000
)

const PA = PSH | ACK

func TestRetransmissionAndCaptureDuplicate(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET /", want: []string{`feed c @0 "GET /" #4`}},
		{dup: true, kind: SegDuplicate}, // the same frame recorded twice (m57)
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 6},
		{dup: true, kind: SegDuplicate},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET /", dt: 200 * time.Millisecond, kind: SegRetransmit},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: " HTTP", want: []string{`feed c @5 " HTTP" #9`}},
	})
	sr.close("end c capture-end @10 #9", "end s capture-end @0 #9", "finish #9", "connend 1 open")
	c := sr.r.ended[0]
	if c.Duplicates != 2 || c.Halves[0].Retransmits != 1 || c.Halves[0].Bytes != 10 || c.Halves[0].Segments != 5 {
		t.Errorf("counters: dups %d, retrans %d, bytes %d, segments %d", c.Duplicates, c.Halves[0].Retransmits, c.Halves[0].Bytes, c.Halves[0].Segments)
	}
	if st := sr.a.Stats(); st.Duplicates != 2 || st.Packets != 9 || st.Conns != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestOutOfOrderFill(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 11, ack: si + 1, data: "third", kind: SegOutOfOrder},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: "secnd", kind: SegOutOfOrder},
		{from: "c", flags: PA, seq: ci + 11, ack: si + 1, data: "third", kind: SegRetransmit}, // already buffered
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "first",
			want: []string{`feed c @0 "first" #7`, `feed c @5 "secnd" #7`, `feed c @10 "third" #7`}},
	})
	sr.close("end c capture-end @15 #7", "end s capture-end @0 #7", "finish #7", "connend 1 open")
}

func TestOverlapSameBytes(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "hello", want: []string{`feed c @0 "hello" #4`}},
		{from: "c", flags: PA, seq: ci + 4, ack: si + 1, data: "lo world", kind: SegPartialOverlap,
			want: []string{`feed c @5 " world" #5`}},
	})
	if len(sr.r.incons) != 0 {
		t.Errorf("inconsistencies: %+v", sr.r.incons)
	}
}

func TestOverlapDifferentBytes(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "hello", want: []string{`feed c @0 "hello" #4`}},
		// A retransmission with different bytes: the first ones are kept.
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "jelLo", kind: SegRetransmit,
			want: []string{"incons c @0 +4 first#4 second#5"}},
		// Partial overlap: compare the old part, deliver the new part.
		{from: "c", flags: PA, seq: ci + 4, ack: si + 1, data: "LO!", kind: SegPartialOverlap,
			want: []string{"incons c @3 +2 first#4 second#6", `feed c @5 "!" #6`}},
		// Overlap among out-of-order segments: first-seen buffered bytes win.
		{from: "c", flags: PA, seq: ci + 11, ack: si + 1, data: "abcde", kind: SegOutOfOrder},
		{from: "c", flags: PA, seq: ci + 13, ack: si + 1, data: "CDefg", kind: SegOutOfOrder,
			want: []string{"incons c @12 +2 first#7 second#8"}},
		{from: "c", flags: PA, seq: ci + 7, ack: si + 1, data: "1234",
			want: []string{`feed c @6 "1234" #9`, `feed c @10 "abcde" #9`, `feed c @15 "fg" #9`}},
	})
	if got := string(sr.r.delivered[0]); got != "hello!1234abcdefg" {
		t.Errorf("delivered %q", got)
	}
}

func TestCaptureGapFromAck(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "aaaa", want: []string{`feed c @0 "aaaa" #4`}},
		// bytes 4..7 ("bbbb", frame not captured)
		{from: "c", flags: PA, seq: ci + 9, ack: si + 1, data: "cccc", kind: SegOutOfOrder},
		// The server acknowledges all 12 bytes: it got the 4 we lack.
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 13,
			want: []string{"gap c @4 +4 #5", `feed c @8 "cccc" #5`}},
		{from: "c", flags: PA, seq: ci + 13, ack: si + 1, data: "dd", want: []string{`feed c @12 "dd" #7`}},
	})
	sr.close("end c capture-end @14 #7", "end s capture-end @0 #7", "finish #7", "connend 1 open")
	c := sr.r.ended[0]
	if len(c.Gaps) != 1 || c.Gaps[0] != sr.r.gaps[0] || c.Halves[0].GapBytes != 4 || c.Gaps[0].After.Frame != 5 || c.Gaps[0].After.Offset != 8 {
		t.Errorf("gaps %+v, gap bytes %d", c.Gaps, c.Halves[0].GapBytes)
	}
}

func TestAckBeforeDataIsNotAGap(t *testing.T) {
	// Multi-queue capture: the ACK is recorded just before the data it acks.
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 5},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "abcd", want: []string{`feed c @0 "abcd" #5`}},
	})
}

func TestTrailingGapAtEnd(t *testing.T) {
	// The last segment was lost by the capture but acknowledged, then FINs.
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET", want: []string{`feed c @0 "GET" #4`}},
		{from: "c", flags: FIN | ACK, seq: ci + 8, ack: si + 1, kind: SegNew},
		{from: "s", flags: FIN | ACK, seq: si + 1, ack: ci + 9,
			want: []string{"gap c @3 +4 #5", "end c fin @7 #5", "end s fin @0 #6", "finish #6"}},
		{from: "c", flags: ACK, seq: ci + 9, ack: si + 2},
	})
	sr.close("connend 1 fin")
}

func TestMidStreamRolesFromBytes(t *testing.T) {
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\n"
	for _, tc := range []struct {
		name     string
		cli, srv string
		first    string // who speaks first: "c" or "s"
	}{
		{"request first", "10.0.0.1:40000", "10.0.0.2:80", "c"},
		{"response first, client on 6669", "10.0.0.1:6669", "10.0.0.2:80", "s"},
		{"client uses port 80, server 6669", "10.0.0.1:80", "10.0.0.2:6669", "c"},
		{"response first, client uses port 80", "10.0.0.1:80", "10.0.0.2:6669", "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sr := newStepRun(t, Options{})
			sr.cli, sr.srv = netip.MustParseAddrPort(tc.cli), netip.MustParseAddrPort(tc.srv)
			start := "start 1 " + tc.cli + ">" + tc.srv
			steps := []step{
				// a pure ACK first: held until payload decides
				{from: "s", flags: ACK, seq: 7000, ack: 3000},
			}
			if tc.first == "c" {
				steps = append(steps,
					step{from: "c", flags: PA, seq: 3000, ack: 7000, data: req,
						want: []string{start, `feed c @0 "GET / HTTP/1.1\r\nHost: x\r\n\r\n" #2`}},
					step{from: "s", flags: PA, seq: 7000, ack: 3000 + uint32(len(req)), data: resp,
						want: []string{`feed s @0 "HTTP/1.1 200 OK\r\n" #3`}})
			} else {
				steps = append(steps,
					step{from: "s", flags: PA, seq: 7000, ack: 3000, data: resp,
						want: []string{start, `feed s @0 "HTTP/1.1 200 OK\r\n" #2`}},
					step{from: "c", flags: ACK, seq: 3000, ack: 7000 + uint32(len(resp))})
			}
			sr.run(steps)
			c := sr.r.started[0]
			if !c.RolesGuessed || !c.MidStream {
				t.Errorf("RolesGuessed %v MidStream %v", c.RolesGuessed, c.MidStream)
			}
			// The held ACK was replayed first, as the server's, with a valid AckOffset
			// only once the client's stream base is known (it is: the client's data is held too).
			if len(sr.r.segs) != 3 || sr.r.segs[0].Dir != flow.ServerToClient || sr.r.segs[0].Frame != 1 || sr.r.segs[1].Frame != 2 {
				t.Fatalf("segments %+v", sr.r.segs)
			}
		})
	}
}

func TestMidStreamRolesFromPorts(t *testing.T) {
	sr := newStepRun(t, Options{})
	// Binary payload both ways: ports decide once both sides spoke.
	sr.run([]step{
		{from: "c", flags: PA, seq: 3000, ack: 7000, data: "\x16\x03\x01"},
		{from: "s", flags: PA, seq: 7000, ack: 3003, data: "\x16\x03\x03",
			want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80", `feed c @0 "\x16\x03\x01" #1`, `feed s @0 "\x16\x03\x03" #2`}},
	})
}

func TestStrayPacketsMakeNoConnection(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "c", flags: RST, seq: 3000},
		{from: "c", flags: ACK, seq: 3000, ack: 7000},
		{from: "s", flags: FIN | ACK, seq: 7000, ack: 3000}, // a straggler FIN does not decide roles
	})
	sr.close()
	if st := sr.a.Stats(); st.Stray != 3 || st.Conns != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSynAckBeforeSyn(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "c", flags: SYN, seq: ci},
		{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET", want: []string{`feed c @0 "GET" #4`}},
	})
	sr.close("end c capture-end @3 #4", "end s capture-end @0 #4", "finish #4", "connend 1 open")
	c := sr.r.ended[0]
	if c.RolesGuessed || c.MidStream || c.SYN.Frame != 2 || c.SYNACK.Frame != 1 || c.HandshakeACK.Frame != 3 || len(sr.r.started) != 1 {
		t.Errorf("conn %+v", c)
	}
}

func TestFastOpenDataInSyn(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "c", flags: SYN, seq: ci, data: "GET /", want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80", `feed c @0 "GET /" #1`}},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 6},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: " HTTP", want: []string{`feed c @5 " HTTP" #3`}},
	})
	sr.close("end c capture-end @10 #3", "end s capture-end @0 #3", "finish #3", "connend 1 open")
	if c := sr.r.ended[0]; !c.FastOpen {
		t.Error("FastOpen not set")
	}
	if s := sr.r.segs[1]; !s.AckValid || s.AckOffset != 5 {
		t.Errorf("SYN-ACK acks offset %d (valid %v), want 5", s.AckOffset, s.AckValid)
	}
}

func TestOneSidedCapture(t *testing.T) {
	t.Run("client side with SYN", func(t *testing.T) {
		sr := newStepRun(t, Options{})
		sr.run([]step{
			{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
			{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
			{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET ", want: []string{`feed c @0 "GET " #3`}},
			{from: "c", flags: PA, seq: ci + 5, ack: si + 100, data: "/x", want: []string{`feed c @4 "/x" #4`}},
		})
		// No ACK for the server stream proves anything: no gap.
		sr.close("end c capture-end @6 #4", "end s capture-end @0 #4", "finish #4", "connend 1 open")
		// issue 12 item 17: the server side is absent
		if c := sr.r.ended[0]; !c.OneSided || c.Missing != flow.ServerToClient {
			t.Errorf("OneSided %v Missing %v", c.OneSided, c.Missing)
		}
	})
	t.Run("near miss: the server sent only its SYN-ACK", func(t *testing.T) {
		sr := newStepRun(t, Options{})
		sr.run(handshake(ci, si))
		sr.run([]step{{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET ", want: []string{`feed c @0 "GET " #4`}}})
		sr.close("end c capture-end @4 #4", "end s capture-end @0 #4", "finish #4", "connend 1 open")
		if c := sr.r.ended[0]; c.OneSided {
			t.Errorf("OneSided with a SYN-ACK captured")
		}
	})
	t.Run("server side mid-stream", func(t *testing.T) {
		sr := newStepRun(t, Options{})
		sr.run([]step{
			{from: "s", flags: PA, seq: 7000, ack: 3000, data: "HTTP/1.1 200 OK\r\n",
				want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80", `feed s @0 "HTTP/1.1 200 OK\r\n" #1`}},
			{from: "s", flags: PA, seq: 7017, ack: 3000, data: "\r\n", want: []string{`feed s @17 "\r\n" #2`}},
		})
		sr.a.Close()
		if c := sr.r.ended[0]; !c.OneSided || c.Missing != flow.ClientToServer {
			t.Errorf("OneSided %v Missing %v", c.OneSided, c.Missing)
		}
	})
}

func TestKeepAliveAndZeroWindowProbe(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "hello", want: []string{`feed c @0 "hello" #4`}},
		{from: "c", flags: ACK, seq: ci + 5, ack: si + 1, dt: time.Minute, kind: SegKeepAlive},
		{from: "c", flags: ACK, seq: ci + 5, ack: si + 1, data: "\x00", kind: SegKeepAlive}, // differs from 'o': not data, not inconsistent
		// The server's window closes; the client probes with one new byte.
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 6, zwin: true},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: "!", kind: SegZeroWindowProbe},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: "!", kind: SegZeroWindowProbe, dt: time.Second},
		// The window opens without taking the probe: the byte comes again as data.
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 6, win: 1000},
		{from: "c", flags: PA, seq: ci + 6, ack: si + 1, data: "!!", want: []string{`feed c @5 "!!" #11`}},
		// Window closes again; this time the receiver takes the probe byte (ACK covers it).
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 8, zwin: true},
		{from: "c", flags: PA, seq: ci + 8, ack: si + 1, data: "?", kind: SegZeroWindowProbe},
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 9, zwin: true, want: []string{`feed c @7 "?" #13`}},
	})
	if len(sr.r.incons) != 0 || len(sr.r.gaps) != 0 {
		t.Errorf("incons %v gaps %v", sr.r.incons, sr.r.gaps)
	}
}

func TestHalfClose(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA | FIN, seq: ci + 1, ack: si + 1, data: "req", want: []string{`feed c @0 "req" #4`, "end c fin @3 #4"}},
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 5},
		{from: "s", flags: PA, seq: si + 1, ack: ci + 5, data: "resp", want: []string{`feed s @0 "resp" #6`}},
		{from: "c", flags: ACK, seq: ci + 5, ack: si + 5},
		{from: "s", flags: FIN | ACK, seq: si + 5, ack: ci + 5, want: []string{"end s fin @4 #8", "finish #8"}},
		{from: "c", flags: ACK, seq: ci + 5, ack: si + 6},
		{from: "s", flags: FIN | ACK, seq: si + 5, ack: ci + 5, kind: SegRetransmit, dt: 300 * time.Millisecond},
	})
	sr.close("connend 1 fin")
	c := sr.r.ended[0]
	if c.Halves[0].FIN == nil || c.Halves[0].FIN.Frame != 4 || c.Halves[1].FIN.Frame != 8 {
		t.Errorf("FIN positions %+v %+v", c.Halves[0].FIN, c.Halves[1].FIN)
	}
}

func TestRSTEndsBothDirections(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "req1req2", want: []string{`feed c @0 "req1req2" #4`}},
		{from: "s", flags: PA, seq: si + 1, ack: ci + 9, data: "resp1", want: []string{`feed s @0 "resp1" #5`}},
		{from: "s", flags: RST | ACK, seq: si + 6, ack: ci + 9, data: "diagnostic", want: []string{"end s rst @5 #6", "end c rst @8 #6", "finish #6"}},
		{from: "c", flags: PA, seq: ci + 9, ack: si + 6, data: "late"}, // in flight: seen, not delivered
	})
	sr.close("connend 1 rst")
	if c := sr.r.ended[0]; c.Halves[1].RST == nil || c.Halves[1].RST.Frame != 6 {
		t.Errorf("RST %+v", c.Halves[1].RST)
	}
}

func TestRSTAnsweringSYNIsRefused(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "s", flags: RST | ACK, seq: 0, ack: ci + 1, want: []string{"end s rst @0 #2", "end c rst @0 #2", "finish #2"}},
	})
	sr.close("connend 1 refused")
}

func TestSequenceWraparound(t *testing.T) {
	const cISN = 0xfffffff0 // offset 0 = 0xfffffff1; offset 15 = 0 (wrapped)
	sr := newStepRun(t, Options{})
	sr.run(handshake(cISN, 0xfffffffe))
	sr.run([]step{
		{from: "c", flags: PA, seq: cISN + 1, ack: 0xffffffff, data: "0123456789", want: []string{`feed c @0 "0123456789" #4`}},
		{from: "c", flags: PA, seq: 1, ack: 0xffffffff, data: "GHIJ", kind: SegOutOfOrder}, // offset 16, beyond the wrap
		{from: "c", flags: PA, seq: cISN + 11, ack: 0xffffffff, data: "ABCDEF",
			want: []string{`feed c @10 "ABCDEF" #6`, `feed c @16 "GHIJ" #6`}},
		{from: "s", flags: PA, seq: 0xffffffff, ack: 5, data: "xy", want: []string{`feed s @0 "xy" #7`}},
		{from: "s", flags: PA, seq: 1, ack: 5, data: "z", want: []string{`feed s @2 "z" #8`}},
	})
	if s := sr.r.segs[len(sr.r.segs)-1]; !s.AckValid || s.AckOffset != 20 {
		t.Errorf("AckOffset %d valid %v, want 20", s.AckOffset, s.AckValid)
	}
	if got := string(sr.r.delivered[0]); got != "0123456789ABCDEFGHIJ" {
		t.Errorf("delivered %q", got)
	}
}

func TestPortReuse(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA | FIN, seq: ci + 1, ack: si + 1, data: "a", want: []string{`feed c @0 "a" #4`, "end c fin @1 #4"}},
		{from: "s", flags: FIN | ACK, seq: si + 1, ack: ci + 3, want: []string{"end s fin @0 #5", "finish #5"}},
		{from: "c", flags: ACK, seq: ci + 3, ack: si + 2},
		// Retransmitted SYN of the old connection is not a new connection... (none here)
		{from: "c", flags: SYN, seq: 90000, dt: 100 * time.Millisecond,
			want: []string{"connend 1 fin", "start 2 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "c", flags: SYN, seq: 90000, dt: time.Second, kind: SegRetransmit},
		{from: "s", flags: SYN | ACK, seq: 4, ack: 90001},
		{from: "c", flags: PA, seq: 90001, ack: 5, data: "b", want: []string{`feed c @0 "b" #10`}},
	})
	sr.close("end c capture-end @1 #10", "end s capture-end @0 #10", "finish #10", "connend 2 open")
	if len(sr.r.ended) != 2 || sr.r.ended[1].ID != 2 || sr.r.ended[1].SYN.Frame != 7 {
		t.Errorf("ended %+v", sr.r.ended)
	}
}

func TestWindowScaleAndOptions(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "c", flags: SYN, seq: ci, win: 64240, opts: []layersOpt{mssOpt(1460), wsOpt(7)}, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1, win: 65160, opts: []layersOpt{mssOpt(1400), wsOpt(9)}},
		{from: "c", flags: ACK, seq: ci + 1, ack: si + 1, win: 502},
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 1, win: 100},
	})
	segs := sr.r.segs
	if segs[0].Window != 64240 || segs[1].Window != 65160 || segs[2].Window != 502<<7 || segs[3].Window != 100<<9 {
		t.Errorf("windows %d %d %d %d", segs[0].Window, segs[1].Window, segs[2].Window, segs[3].Window)
	}
	c := sr.r.started[0]
	if c.Halves[0].MSS != 1460 || c.Halves[1].MSS != 1400 || c.Halves[0].WScale != 7 || c.Halves[1].WScale != 9 || c.HandshakeACK.Frame != 3 {
		t.Errorf("halves %+v", c.Halves)
	}
	if !segs[2].AckValid || segs[2].AckOffset != 0 {
		t.Errorf("handshake ACK acks %d", segs[2].AckOffset)
	}
}

func TestWindowNotScaledWithoutBothOptions(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run([]step{
		{from: "c", flags: SYN, seq: ci, opts: []layersOpt{wsOpt(7)}, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
		{from: "c", flags: ACK, seq: ci + 1, ack: si + 1, win: 502},
	})
	if w := sr.r.segs[2].Window; w != 502 {
		t.Errorf("window %d", w)
	}
}

func TestOutOfOrderCap(t *testing.T) {
	sr := newStepRun(t, Options{MaxOutOfOrderBytes: 8})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 3, ack: si + 1, data: "cdef", kind: SegOutOfOrder},
		{from: "c", flags: PA, seq: ci + 9, ack: si + 1, data: "ijkl", kind: SegOutOfOrder},
		// 12 bytes would be buffered: give up on the holes.
		{from: "c", flags: PA, seq: ci + 15, ack: si + 1, data: "opqr", kind: SegOutOfOrder,
			want: []string{"gap c @0 +2 #4", `feed c @2 "cdef" #4`, "gap c @6 +2 #5", `feed c @8 "ijkl" #5`}},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "ab", kind: SegRetransmit},
	})
	sr.close("gap c @12 +2 #6", `feed c @14 "opqr" #6`, "end c capture-end @18 #7", "end s capture-end @0 #7", "finish #7", "connend 1 open")
	if c := sr.r.ended[0]; c.OutOfOrderDropped != 4 || c.Halves[0].GapBytes != 6 {
		t.Errorf("dropped %d gap bytes %d", c.OutOfOrderDropped, c.Halves[0].GapBytes)
	}
}

func TestIdleEvictionAndMaxConns(t *testing.T) {
	r := &recorder{}
	a := newTestAssembler(r, Options{MaxConns: 2, IdleTimeout: time.Minute})
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	syn := func(port uint16, at time.Duration, frame int64) {
		src := netip.AddrPortFrom(cliAddr.Addr(), port)
		a.Packet(linkIPv4, buildIP(t, pktSpec{src: src, dst: srvAddr, flags: SYN, seq: 1}), flow.Pos{Time: t0.Add(at), Frame: frame})
	}
	syn(1001, 0, 1)
	syn(1002, time.Second, 2)
	syn(1001, 2*time.Second, 3) // retransmitted SYN touches conn 1
	syn(1003, 3*time.Second, 4) // table full: conn 2 is the least recently active
	if len(r.ended) != 1 || r.ended[0].ID != 2 || r.ended[0].End != EndEvicted {
		t.Fatalf("ended %+v", r.ended)
	}
	a.Flush(t0.Add(2*time.Second + time.Minute + time.Millisecond))
	if len(r.ended) != 2 || r.ended[1].ID != 1 || r.ended[1].End != EndIdle {
		t.Fatalf("ended %+v", r.ended)
	}
	a.Close()
	if st := a.Stats(); st.EvictedFull != 1 || st.EvictedIdle != 1 || st.Conns != 3 || len(r.ended) != 3 {
		t.Errorf("stats %+v ended %d", st, len(r.ended))
	}
	if len(a.conns) != 0 || a.open.head != nil || a.closed.head != nil {
		t.Error("table not empty after Close")
	}
}

func TestClosedConnectionLingersThenEnds(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: RST, seq: ci + 1, want: []string{"end c rst @0 #4", "end s rst @0 #4", "finish #4"}},
		{from: "c", flags: RST, seq: ci + 1, dt: 500 * time.Millisecond},
		// 3 s later, the next packet anywhere triggers a Flush that ends it.
		{from: "c", flags: SYN, seq: 777, dt: 3 * time.Second, want: []string{"connend 1 rst", "start 2 10.0.0.1:40000>10.0.0.2:80"}},
	})
}

func TestSnaplenTruncationBecomesGap(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.link = linkRaw
	// Frame 4 is cut to 3 of its 8 payload bytes by the snapshot length.
	ip := buildIP(t, pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: ci + 1, ack: si + 1, win: 100, payload: []byte("abcdefgh"), ipID: 77})
	sr.frame++
	sr.a.Packet(linkRaw, ip[:len(ip)-5], flow.Pos{Time: sr.now, Frame: sr.frame})
	if s := sr.r.segs[len(sr.r.segs)-1]; s.Len != 8 || s.Captured != 3 {
		t.Errorf("Len %d Captured %d", s.Len, s.Captured)
	}
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 9, ack: si + 1, data: "ij", kind: SegOutOfOrder},
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 11, want: []string{"gap c @3 +5 #5", `feed c @8 "ij" #5`}},
	})
	if got := string(sr.r.delivered[0]); got != "abcij" {
		t.Errorf("delivered %q", got)
	}
}

func TestInconsistencyAfterRingGrowth(t *testing.T) {
	sr := newStepRun(t, Options{CompareBytes: 16 << 10})
	sr.run(handshake(ci, si))
	segAt := func(i int) []byte {
		b := make([]byte, 1000)
		for j := range b {
			b[j] = byte(i*7 + j)
		}
		return b
	}
	send := func(i int, b []byte) {
		sr.frame++
		sr.now = sr.now.Add(time.Millisecond)
		sr.a.Packet(linkRaw, buildIP(t, pktSpec{src: cliAddr, dst: srvAddr, flags: PA, seq: ci + 1 + uint32(i*1000),
			ack: si + 1, win: 100, payload: b, ipID: uint16(sr.frame)}), flow.Pos{Time: sr.now, Frame: sr.frame})
	}
	for i := range 30 { // 30 000 bytes: the ring grows 4K → 8K → 16K and wraps
		send(i, segAt(i))
	}
	if len(sr.r.delivered[0]) != 30000 || len(sr.r.incons) != 0 {
		t.Fatalf("delivered %d, incons %v", len(sr.r.delivered[0]), sr.r.incons)
	}
	// Segment 20 (frame 24) is inside the last 16 KiB: a changed byte is caught.
	b := segAt(20)
	b[500] ^= 0xff
	send(20, b)
	if len(sr.r.incons) != 1 || sr.r.incons[0].Offset != 20500 || sr.r.incons[0].Bytes != 1 || sr.r.incons[0].First.Frame != 24 {
		t.Fatalf("incons %+v", sr.r.incons)
	}
	// Segment 2 is long gone from the ring: nothing to compare, nothing reported.
	send(2, make([]byte, 1000))
	if len(sr.r.incons) != 1 {
		t.Fatalf("incons %+v", sr.r.incons)
	}
}

func TestAckOfMissedFINIsNotAGap(t *testing.T) {
	sr := newStepRun(t, Options{})
	sr.run(handshake(ci, si))
	sr.run([]step{
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET", want: []string{`feed c @0 "GET" #4`}},
		// The client's FIN (seq ci+4) is not in the capture; the server acks it.
		{from: "s", flags: ACK, seq: si + 1, ack: ci + 5},
	})
	sr.close("end c capture-end @3 #5", "end s capture-end @0 #5", "finish #5", "connend 1 open")
}

// TestLateSynAckNewISN (issue 12 item 15): the client's SYN is retransmitted,
// the server's SYN-ACK (ISN si) is answered, and later a second SYN-ACK with
// another ISN arrives. The client keeps acknowledging si's space and the
// server keeps sending in it: the stream must stay there (and no new
// connection start, however late the SYN-ACK). Near miss: the client
// acknowledges the new ISN before any server data: the stream moves to it.
func TestLateSynAckNewISN(t *testing.T) {
	const get = "GET / HTTP/1.1\r\n\r\n"
	const resp = "HTTP/1.1 200 OK\r\n"
	for _, dt := range []time.Duration{100 * time.Millisecond, 3 * time.Second} {
		t.Run("ignored after "+dt.String(), func(t *testing.T) {
			sr := newStepRun(t, Options{})
			sr.run([]step{
				{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
				{from: "c", flags: SYN, seq: ci, dt: time.Second, kind: SegRetransmit},
				{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
				{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
				{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: get, want: []string{`feed c @0 "GET / HTTP/1.1\r\n\r\n" #5`}},
				{from: "s", flags: SYN | ACK, seq: 77000, ack: ci + 1, dt: dt},
				{from: "c", flags: ACK, seq: ci + 1 + uint32(len(get)), ack: si + 1},
				{from: "s", flags: PA, seq: si + 1, ack: ci + 1 + uint32(len(get)), data: resp, want: []string{`feed s @0 "HTTP/1.1 200 OK\r\n" #8`}},
				{from: "c", flags: ACK, seq: ci + 1 + uint32(len(get)), ack: si + 1 + uint32(len(resp))},
			})
			sr.close("end c capture-end @18 #9", "end s capture-end @17 #9", "finish #9", "connend 1 open")
			if c := sr.r.ended[0]; len(sr.r.ended) != 1 || c.Halves[1].ISN != si || len(c.Gaps) != 0 {
				t.Errorf("ended %d, server ISN %d, gaps %v", len(sr.r.ended), c.Halves[1].ISN, c.Gaps)
			}
		})
	}
	t.Run("near miss: the client acknowledges the new ISN", func(t *testing.T) {
		sr := newStepRun(t, Options{})
		sr.run([]step{
			{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
			{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
			{from: "c", flags: SYN, seq: ci, dt: time.Second, kind: SegRetransmit},
			{from: "s", flags: SYN | ACK, seq: 77000, ack: ci + 1},
			{from: "c", flags: ACK, seq: ci + 1, ack: 77001},
			{from: "s", flags: PA, seq: 77001, ack: ci + 1, data: resp, want: []string{`feed s @0 "HTTP/1.1 200 OK\r\n" #6`}},
		})
		sr.close("end c capture-end @0 #6", "end s capture-end @17 #6", "finish #6", "connend 1 open")
		if c := sr.r.ended[0]; c.Halves[1].ISN != 77000 {
			t.Errorf("server ISN %d, want 77000", c.Halves[1].ISN)
		}
	})
}

// TestReplayedClosedConnection (issue 12 item 16): a capture holds
// byte-identical copies (same timestamps, same ISNs) of a closed
// connection's SYN and segments after that connection ended: duplicates,
// not port reuse: no new connection, nothing delivered. Near misses: a SYN
// with a new ISN, or the same ISN later than the old connection's end, is
// a new connection.
func TestReplayedClosedConnection(t *testing.T) {
	conn := []step{
		{from: "c", flags: SYN, seq: ci},
		{from: "s", flags: SYN | ACK, seq: si, ack: ci + 1},
		{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
		{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "GET / HTTP/1.1\r\n\r\n"},
		{from: "s", flags: PA | FIN, seq: si + 1, ack: ci + 19, data: "HTTP/1.1 204 No Content\r\n\r\n"},
		{from: "c", flags: ACK | FIN, seq: ci + 19, ack: si + 29},
		{from: "s", flags: ACK, seq: si + 29, ack: ci + 20},
	}
	// play sends steps 1 ms apart from t0 (same bytes, same times when
	// replayed), without checking events.
	play := func(sr *stepRun, t0 time.Time, steps []step) {
		for i, st := range steps {
			src, dst := sr.cli, sr.srv
			if st.from == "s" {
				src, dst = dst, src
			}
			ip := buildIP(t, pktSpec{src: src, dst: dst, flags: st.flags, seq: st.seq, ack: st.ack, win: 65535, payload: []byte(st.data), ipID: uint16(7 + i)})
			sr.frame++
			sr.a.Packet(sr.link, frameFor(t, sr.link, ip), flow.Pos{Time: t0.Add(time.Duration(i+1) * time.Millisecond), Frame: sr.frame, Ord: sr.frame})
		}
	}
	setup := func(t *testing.T) (*stepRun, time.Time) {
		sr := newStepRun(t, Options{})
		t0 := sr.now
		play(sr, t0, conn)
		sr.a.Flush(t0.Add(10 * time.Second)) // the linger ends: connection 1 is over
		if len(sr.r.ended) != 1 || sr.r.ended[0].End != EndFIN {
			t.Fatalf("connection 1 did not end: %v", sr.r.log)
		}
		return sr, t0
	}
	t.Run("replay with the original timestamps", func(t *testing.T) {
		sr, t0 := setup(t)
		n := len(sr.r.log)
		play(sr, t0, conn)
		sr.a.Close()
		if got := sr.r.log[n:]; len(got) != 0 || len(sr.r.started) != 1 {
			t.Errorf("replay made events: %v", got)
		}
		if st := sr.a.Stats(); st.Duplicates != int64(len(conn)) || st.Conns != 1 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("near miss: port reuse with a new ISN", func(t *testing.T) {
		sr, t0 := setup(t)
		play(sr, t0.Add(20*time.Second), []step{
			{from: "c", flags: SYN, seq: 90000},
			{from: "s", flags: SYN | ACK, seq: 4, ack: 90001},
			{from: "c", flags: PA, seq: 90001, ack: 5, data: "b"},
		})
		sr.a.Close()
		if len(sr.r.started) != 2 || sr.r.ended[1].Halves[0].Bytes != 1 {
			t.Errorf("started %d, log %v", len(sr.r.started), sr.r.log)
		}
	})
	t.Run("near miss: same ISN, later than the old end", func(t *testing.T) {
		sr, t0 := setup(t)
		play(sr, t0.Add(20*time.Second), conn[:4])
		sr.a.Close()
		if len(sr.r.started) != 2 || sr.r.ended[1].Halves[0].Bytes != 18 {
			t.Errorf("started %d, log %v", len(sr.r.started), sr.r.log)
		}
	})
}

// oneSidedAtTx records Conn.OneSided/Missing when each transaction is delivered.
type oneSidedAtTx struct{ seen []string }

func (o *oneSidedAtTx) Message(*Conn, *http1.Message) {}
func (o *oneSidedAtTx) Transaction(c *Conn, t *http1.Transaction) {
	o.seen = append(o.seen, fmt.Sprintf("%v/%v", c.OneSided, c.Missing))
}

// TestOneSidedKnownToLastTransactions (issue 12 item 17): a client-only
// capture's requests are settled when the connection ends; Conn.OneSided is
// already set then, by a RST as at the capture's end.
func TestOneSidedKnownToLastTransactions(t *testing.T) {
	for _, end := range []string{"rst", "capture end"} {
		t.Run(end, func(t *testing.T) {
			h := &oneSidedAtTx{}
			r := &recorder{}
			a := NewAssembler(r, withHTTP(Options{}, h))
			sr := &stepRun{t: t, r: r, a: a, link: linkEthernet, cli: cliAddr, srv: srvAddr, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			steps := []step{
				{from: "c", flags: SYN, seq: ci, want: []string{"start 1 10.0.0.1:40000>10.0.0.2:80"}},
				{from: "c", flags: ACK, seq: ci + 1, ack: si + 1},
				{from: "c", flags: PA, seq: ci + 1, ack: si + 1, data: "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n"},
			}
			if end == "rst" {
				steps = append(steps, step{from: "c", flags: RST | ACK, seq: ci + 40, ack: si + 1})
			}
			sr.run(steps)
			a.Close()
			if len(h.seen) != 1 || h.seen[0] != "true/server→client" {
				t.Errorf("at the transaction: %v", h.seen)
			}
		})
	}
}
