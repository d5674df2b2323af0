package timing

import (
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// stallCase plays one connection and says what the stall detector must
// report: wantRule "" means silence from both delayed-ack-stall and
// nagle-delayed-ack.
type stallCase struct {
	name      string
	rs, rc    float64 // capture point ↔ server, ↔ client RTT (ms)
	play      func(sc *analyzetest.Conn) (frames []int64)
	wantRule  string
	wantStall float64        // ms
	wantAttrs map[string]any // attributes the finding must carry, beside the frames and the stall
}

// getResponse plays GET → 4000-B response in three segments where the
// client (capture point ↔ client rc, ↔ server rs) delays its ACK of the first
// segment by ackDelay ms; the server (TCP_NODELAY, cwnd 1) sends the rest
// when the ACK reaches it. Times are at the capture point.
func getResponse(sc *analyzetest.Conn, rs, rc, ackDelay float64) []int64 {
	start := rs + rc + 0.1
	sc.Data(0, start, 100) // GET
	// the request reaches the server rs/2 later; its first segment comes back rs/2 after that
	s1 := start + rs + 0.2
	f1 := sc.Data(1, s1, 1448).Frame
	// the segment reaches the client rc/2 later, the client holds the ACK, the ACK passes us rc/2 after
	k := s1 + rc + ackDelay
	fk := sc.Ack(0, k).Frame
	// the ACK reaches the server rs/2 later; its next segment passes us rs/2 after that
	n := k + rs + 0.05
	fn := sc.DataNoAck(1, n, 1448).Frame
	sc.DataNoAck(1, n+0.01, 1104)
	sc.Ack(0, n+rc+0.05)
	req := sc.Msg(0, 0, 100, 0, "GET /ok?size=4000")
	resp := sc.Msg(1, 0, 200, 3800, "200")
	sc.Settle(req, resp)
	return []int64{f1, fk, fn}
}

// postSplit plays POST headers (hdr B) then body (body B) written
// separately, the body held by Nagle until the server's delayed ACK of the
// headers (ackDelay ms at the server) reaches the client.
func postSplit(sc *analyzetest.Conn, rs, rc float64, hdr, body int, ackDelay float64) []int64 {
	start := rs + rc + 0.1
	fh := sc.Data(0, start, hdr).Frame
	k := start + rs + ackDelay
	fk := sc.Ack(1, k).Frame
	n := k + rc + 0.05
	fn := sc.Data(0, n, body).Frame
	r := n + rs + 1
	sc.Data(1, r, 300)
	sc.Ack(0, r+rc+0.05)
	req := sc.Msg(0, 0, hdr, int64(body), "POST /upload")
	resp := sc.Msg(1, 0, 300, 0, "200")
	sc.Settle(req, resp)
	return []int64{fh, fk, fn}
}

func TestStallDetector(t *testing.T) {
	cases := []stallCase{
		{name: "nagle at client capture", rs: 20, rc: 0.1, wantRule: "nagle-delayed-ack", wantStall: 40,
			wantAttrs: map[string]any{"split": "POST /upload: headers 212 B + body 18 B", "nagle": "classic+minshall", "sender": "client", "held_bytes": 18},
			play:      func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 20, 0.1, 212, 18, 40) }},
		{name: "nagle at server capture", rs: 0.1, rc: 20, wantRule: "nagle-delayed-ack", wantStall: 40,
			wantAttrs: map[string]any{"nagle": "classic+minshall"},
			play:      func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 0.1, 20, 212, 18, 40) }},
		{name: "nagle captured in the middle", rs: 10, rc: 10, wantRule: "nagle-delayed-ack", wantStall: 40,
			play: func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 10, 10, 212, 18, 40) }},
		{name: "nagle with a 200 ms delayed-ACK timer", rs: 5, rc: 5, wantRule: "nagle-delayed-ack", wantStall: 200,
			play: func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 5, 5, 180, 48, 200) }},
		{name: "no stall: ACK at once (TCP_NODELAY or quick ACK)", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 { postSplit(sc, 20, 0.1, 212, 18, 0.2); return nil }},
		{name: "no stall: delay under StallMin", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 { postSplit(sc, 20, 0.1, 212, 18, 15); return nil }},
		{name: "no stall: ACK later than any delayed-ACK timer (500 ms)", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 { postSplit(sc, 20, 0.1, 212, 18, 700); return nil }},
		{name: "delayed-ack-stall at client capture", rs: 20, rc: 0.1, wantRule: "delayed-ack-stall", wantStall: 40,
			wantAttrs: map[string]any{"sender": "server", "held_bytes": 1448},
			play:      func(sc *analyzetest.Conn) []int64 { return getResponse(sc, 20, 0.1, 40) }},
		{name: "delayed-ack-stall at server capture", rs: 0.1, rc: 20, wantRule: "delayed-ack-stall", wantStall: 40,
			play: func(sc *analyzetest.Conn) []int64 { return getResponse(sc, 0.1, 20, 40) }},
		{name: "delayed-ack-stall in the middle", rs: 7, rc: 13, wantRule: "delayed-ack-stall", wantStall: 40,
			play: func(sc *analyzetest.Conn) []int64 { return getResponse(sc, 7, 13, 40) }},
		{name: "control: client ACKs at once (cwnd-limited wait of one RTT)", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 { getResponse(sc, 20, 0.1, 0.05); return nil }},
		{name: "classic Nagle tail behind a full segment", rs: 48, rc: 0.07, wantRule: "delayed-ack-stall", wantStall: 45,
			wantAttrs: map[string]any{"nagle": "classic-only", "held_bytes": 541},
			play: func(sc *analyzetest.Conn) []int64 {
				// 100-continue shape: headers, 100 Continue, body 1460 + 541 B
				sc.Data(0, 48.2, 221)
				sc.Ack(1, 99.5)
				sc.Data(1, 101.8, 25)
				sc.Ack(0, 101.9)
				f1 := sc.Data(0, 102.2, 1460).Frame
				fk := sc.Ack(1, 102.2+48+45).Frame
				fn := sc.Data(0, 102.2+48+45+0.08, 541).Frame
				sc.Data(1, 260, 500)
				req := sc.Msg(0, 0, 221, 2001, "POST /")
				interim := sc.Msg(1, 0, 25, 0, "100")
				resp := sc.Msg(1, 25, 300, 200, "200")
				sc.Settle(req, resp, interim)
				return []int64{f1, fk, fn}
			}},
		{name: "think time: the server answers after computing, ACK rides on data", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 212)
				sc.Data(1, 20.2+20+60, 25) // 100 Continue after 60 ms of thought, ACK piggybacked
				sc.Data(0, 100.5, 18)
				sc.Data(1, 130, 300)
				req := sc.Msg(0, 0, 212, 18, "POST /upload")
				interim := sc.Msg(1, 0, 25, 0, "100")
				resp := sc.Msg(1, 25, 300, 0, "200")
				sc.Settle(req, resp, interim)
				return nil
			}},
		{name: "think time: pure delayed ACK, then data from the peer, then the next request", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Ack(1, 80.2)            // delayed ACK while the server thinks
				sc.Data(1, 150, 300)       // the response
				sc.Data(0, 150.1+0.05, 90) // the next request, right after the response
				sc.Ack(1, 200)
				req := sc.Msg(0, 0, 100, 0, "GET /a")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				req2 := sc.Msg(0, 100, 90, 0, "GET /b")
				sc.Data(1, 230, 300)
				resp2 := sc.Msg(1, 300, 300, 0, "200")
				sc.Settle(req2, resp2)
				return nil
			}},
		{name: "app idle: the next request long after the ACK", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Ack(1, 80.2)
				sc.Data(0, 600, 90) // pipelined, but 520 ms after the ACK: the client chose to wait
				sc.Data(1, 640, 300)
				sc.Data(1, 640.1, 300)
				req := sc.Msg(0, 0, 100, 0, "GET /a")
				req2 := sc.Msg(0, 100, 90, 0, "GET /b")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				resp2 := sc.Msg(1, 300, 300, 0, "200")
				sc.Settle(req2, resp2)
				return nil
			}},
		{name: "pipelined request held behind the previous one", rs: 20, rc: 0.1, wantRule: "nagle-delayed-ack", wantStall: 40,
			wantAttrs: map[string]any{"split": "GET /b (pipelined behind GET /a)"},
			play: func(sc *analyzetest.Conn) []int64 {
				fa := sc.Data(0, 20.2, 100).Frame
				fk := sc.Ack(1, 80.2).Frame
				fb := sc.Data(0, 80.3, 90).Frame
				sc.Data(1, 101, 300)
				sc.Data(1, 101.1, 300)
				req := sc.Msg(0, 0, 100, 0, "GET /a")
				req2 := sc.Msg(0, 100, 90, 0, "GET /b")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				resp2 := sc.Msg(1, 300, 300, 0, "200")
				sc.Settle(req2, resp2)
				return []int64{fa, fk, fb}
			}},
		{name: "next response after a delayed ACK: not judged (think time cannot be ruled out)", rs: 0.1, rc: 20,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Data(0, 20.3, 100) // two pipelined requests
				sc.Data(1, 20.5, 300) // response 1
				sc.Ack(0, 20.5+20+40)
				sc.Data(1, 20.5+20+40+0.15, 300) // response 2, right after the ACK
				sc.Ack(0, 120)
				req := sc.Msg(0, 0, 100, 0, "GET /a")
				req2 := sc.Msg(0, 100, 100, 0, "GET /b")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				resp2 := sc.Msg(1, 300, 300, 0, "200")
				sc.Settle(req2, resp2)
				return nil
			}},
		{name: "RTO: the held data follows a retransmission", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 212)
				sc.Resend(0, 20.2+200, 0, 212) // RTO: the headers were lost
				sc.Ack(1, 20.2+200+20)
				sc.Data(0, 20.2+200+20+0.1, 18)
				sc.Data(1, 270, 300)
				req := sc.Msg(0, 0, 212, 18, "POST /upload")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "capture duplicate of the headers (not a retransmission) within one RTT", rs: 20, rc: 0.1,
			wantRule: "nagle-delayed-ack", wantStall: 40,
			play: func(sc *analyzetest.Conn) []int64 {
				fh := sc.Data(0, 20.2, 212).Frame
				sc.Resend(0, 21.2, 0, 212) // the same frame recorded again 1 ms later, other packets between
				fk := sc.Ack(1, 80.2).Frame
				fn := sc.Data(0, 80.3, 18).Frame
				sc.Data(1, 101, 300)
				req := sc.Msg(0, 0, 212, 18, "POST /upload")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				return []int64{fh, fk, fn}
			}},
		{name: "RTO: the next data is itself a retransmission", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 212)
				sc.Data(0, 20.3, 18)
				sc.AckTo(1, 80.3, 212)      // delayed ACK of the headers only; the body was lost
				sc.Resend(0, 80.4, 212, 18) // and leaves again right after
				sc.Ack(1, 100.5)
				sc.Data(1, 101, 300)
				req := sc.Msg(0, 0, 212, 18, "POST /upload")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "cwnd-limited: several full segments acknowledged by the late ACK", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Data(1, 40.5, 1448)
				sc.Data(1, 40.6, 1448)
				sc.Data(1, 40.7, 1448)
				sc.Ack(0, 90.8) // a stretch ACK of three full segments, late: not the delayed-ACK timer
				sc.DataNoAck(1, 110.9, 1448)
				sc.Ack(0, 111)
				req := sc.Msg(0, 0, 100, 0, "GET /big")
				resp := sc.Msg(1, 0, 200, 4*1448-200, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "cwnd-limited: data still in flight after the ACK", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Data(1, 40.5, 1448)
				sc.Data(1, 40.6, 1448)
				sc.AckTo(0, 90.7, 1448) // late partial ACK; the second segment is still unacknowledged
				sc.DataNoAck(1, 110.8, 1448)
				sc.Ack(0, 111)
				req := sc.Msg(0, 0, 100, 0, "GET /big")
				resp := sc.Msg(1, 0, 200, 3*1448-200, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "zero window: the receiver closed its window", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 100)
				sc.Data(1, 40.5, 1448)
				sc.Win[0] = 0
				sc.AckTo(0, 41, 0) // window 0, nothing new acknowledged
				sc.Win[0] = 1 << 20
				sc.Ack(0, 81) // window reopens with the ACK
				sc.DataNoAck(1, 101.1, 1448)
				sc.Ack(0, 102)
				req := sc.Msg(0, 0, 100, 0, "GET /big")
				resp := sc.Msg(1, 0, 200, 2*1448-200, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "receive window full: the late ACK was a window update", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Win[0] = 1448
				sc.Data(0, 20.2, 100)
				sc.Data(1, 40.5, 1448)
				sc.Ack(0, 81)
				sc.DataNoAck(1, 101.1, 1448)
				sc.Ack(0, 102)
				req := sc.Msg(0, 0, 100, 0, "GET /big")
				resp := sc.Msg(1, 0, 200, 2*1448-200, "200")
				sc.Settle(req, resp)
				return nil
			}},
		{name: "duplicate ACK: loss recovery, not a delay", rs: 20, rc: 0.1,
			play: func(sc *analyzetest.Conn) []int64 {
				sc.Data(0, 20.2, 212)
				sc.Data(0, 20.3, 100)
				sc.AckTo(1, 40.3, 0) // dup ACK (the headers were lost)
				sc.Ack(1, 80.3)
				sc.Data(0, 80.4, 18)
				sc.Data(1, 101, 300)
				req := sc.Msg(0, 0, 212, 118, "POST /upload")
				resp := sc.Msg(1, 0, 300, 0, "200")
				sc.Settle(req, resp)
				return nil
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := newCapture(t, nil)
			sc := k.OpenTCP(0, tc.rs, tc.rc)
			want := tc.play(sc)
			sc.Close(1000)
			stalls := k.Rec.ByRule(DelayedAckStall.ID)
			nagles := k.Rec.ByRule(NagleDelayedAck.ID)
			if tc.wantRule == "" {
				for _, f := range append(stalls, nagles...) {
					t.Errorf("unexpected %s: %s", f.Rule, f.Message)
				}
				return
			}
			got, other := stalls, nagles
			if tc.wantRule == NagleDelayedAck.ID {
				got, other = nagles, stalls
			}
			for _, f := range other {
				t.Errorf("the same stall also reported as %s: %s", f.Rule, f.Message)
			}
			if len(got) != 1 {
				t.Fatalf("%d %s findings, want 1 (all: %v)", len(got), tc.wantRule, k.Rec.Findings)
			}
			f := got[0]
			if !analyzetest.Near(f.Duration, analyzetest.MS(tc.wantStall), analyzetest.MS(0.5)) {
				t.Errorf("stall %v, want %v ms", f.Duration, tc.wantStall)
			}
			for k, v := range tc.wantAttrs {
				if f.Attrs[k] != v {
					t.Errorf("attrs[%q] = %v, want %v (attrs %v)", k, f.Attrs[k], v, f.Attrs)
				}
			}
			if len(want) == 3 {
				if len(f.Frames) != 3 || f.Frames[0].Frame != want[0] || f.Frames[1].Frame != want[1] || f.Frames[2].Frame != want[2] {
					t.Errorf("frames %v, want %v", f.Frames, want)
				}
			}
			if f.Transaction != 1 && !strings.Contains(tc.name, "pipelined") {
				t.Errorf("transaction %d, want 1", f.Transaction)
			}
			tr := k.Rec.Conns[0].Transactions[f.Transaction-1]
			if a := tr.Timing.Attributed[tc.wantRule]; a != f.Duration {
				t.Errorf("breakdown attributes %v, finding says %v", a, f.Duration)
			}
		})
	}
}

// TestStallSilentWithoutHandshake: mid-stream there is no MSS, no window
// scale and no handshake RTT: say nothing.
func TestStallSilentWithoutHandshake(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenMid(0)
	sc.Data(0, 1, 212)
	sc.Ack(1, 61)
	sc.Data(0, 61.1, 18)
	sc.Data(1, 82, 300)
	req := sc.Msg(0, 0, 212, 18, "POST /upload")
	resp := sc.Msg(1, 0, 300, 0, "200")
	sc.Settle(req, resp)
	sc.Close(100)
	if len(k.Rec.Findings) != 0 {
		t.Errorf("findings on a mid-stream connection: %v", k.Rec.Findings)
	}
}

// TestStallSilentAcrossGap: a capture gap between the data and the ACK.
func TestStallSilentAcrossGap(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenTCP(0, 20, 0.1)
	sc.Data(0, 20.2, 212)
	k.E.Gap(sc.C, reassembly.Gap{Dir: 1, Offset: 0, Bytes: 100})
	sc.Ack(1, 80.2)
	sc.Data(0, 80.3, 18)
	sc.Data(1, 101, 300)
	req := sc.Msg(0, 0, 212, 18, "POST /upload")
	resp := sc.Msg(1, 0, 300, 0, "200")
	sc.Settle(req, resp)
	sc.Close(200)
	if len(k.Rec.Findings) != 0 {
		t.Errorf("findings across a gap: %v", k.Rec.Findings)
	}
}

// TestStallSilentOnGapTransaction: the transaction's pairing is uncertain.
func TestStallSilentOnGapTransaction(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenTCP(0, 20, 0.1)
	postSplitNoTx := func() (*http1.Message, *http1.Message) {
		sc.Data(0, 20.2, 212)
		sc.Ack(1, 80.2)
		sc.Data(0, 80.3, 18)
		sc.Data(1, 101, 300)
		return sc.Msg(0, 0, 212, 18, "POST /upload"), sc.Msg(1, 0, 300, 0, "200")
	}
	req, resp := postSplitNoTx()
	sc.SettleGap(req, resp)
	sc.Close(200)
	if len(k.Rec.Findings) != 0 {
		t.Errorf("findings on a gap transaction: %v", k.Rec.Findings)
	}
}

// TestStallRuleSelection: each stall is reported under exactly one rule,
// and turning one rule off does not move its stalls to the other.
func TestStallRuleSelection(t *testing.T) {
	for _, tc := range []struct {
		enabled    []string
		play       func(sc *analyzetest.Conn) []int64
		wantNagle  int
		wantDelack int
	}{
		{enabled: []string{"nagle-delayed-ack"}, wantNagle: 1,
			play: func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 20, 0.1, 212, 18, 40) }},
		{enabled: []string{"delayed-ack-stall"},
			play: func(sc *analyzetest.Conn) []int64 { return postSplit(sc, 20, 0.1, 212, 18, 40) }},
		{enabled: []string{"nagle-delayed-ack"},
			play: func(sc *analyzetest.Conn) []int64 { return getResponse(sc, 20, 0.1, 40) }},
		{enabled: []string{"delayed-ack-stall"}, wantDelack: 1,
			play: func(sc *analyzetest.Conn) []int64 { return getResponse(sc, 20, 0.1, 40) }},
	} {
		cfg := analyze.DefaultConfig()
		for _, id := range tc.enabled {
			cfg.Enabled[id] = true
		}
		k := newCapture(t, cfg)
		sc := k.OpenTCP(0, 20, 0.1)
		tc.play(sc)
		sc.Close(1000)
		if n := len(k.Rec.ByRule(NagleDelayedAck.ID)); n != tc.wantNagle {
			t.Errorf("%v: %d nagle findings, want %d", tc.enabled, n, tc.wantNagle)
		}
		if n := len(k.Rec.ByRule(DelayedAckStall.ID)); n != tc.wantDelack {
			t.Errorf("%v: %d delayed-ack findings, want %d", tc.enabled, n, tc.wantDelack)
		}
	}
}

// TestStallMinConfigurable: the threshold comes from Config.StallMin.
func TestStallMinConfigurable(t *testing.T) {
	cfg := timingConfig()
	cfg.StallMin = 50 * time.Millisecond
	k := newCapture(t, cfg)
	sc := k.OpenTCP(0, 20, 0.1)
	postSplit(sc, 20, 0.1, 212, 18, 40)
	sc.Close(1000)
	if len(k.Rec.Findings) != 0 {
		t.Errorf("a 40 ms stall reported with StallMin 50 ms: %v", k.Rec.Findings)
	}
}
