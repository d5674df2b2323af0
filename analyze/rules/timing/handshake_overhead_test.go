package timing

import (
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
)

func TestHandshakeOverhead(t *testing.T) {
	type play func(sc *analyzetest.Conn)
	// tiny: one small GET answered at once; rs/rc say where the capture sits.
	tiny := func(rs, rc, think float64, respBytes int) play {
		return func(sc *analyzetest.Conn) {
			at := rs + rc + 0.1
			sc.Data(0, at, 100)
			sc.Data(1, at+rs+think+0.2, respBytes)
			sc.Ack(0, at+rs+think+rc+0.3)
			req := sc.Msg(0, 0, 100, 0, "GET /tiny.txt")
			resp := sc.Msg(1, 0, 200, int64(respBytes-200), "200")
			sc.Settle(req, resp)
		}
	}
	cases := []struct {
		name     string
		rs, rc   float64
		share    float64 // config; 0 = default
		play     play
		fire     bool
		wantHSms float64
	}{
		{name: "client capture, 40 ms RTT", rs: 40, rc: 0.05, play: tiny(40, 0.05, 0, 450), fire: true, wantHSms: 40.05},
		{name: "server capture, 40 ms RTT", rs: 0.05, rc: 40, play: tiny(0.05, 40, 0, 450), fire: true, wantHSms: 40.05},
		{name: "middle capture", rs: 15, rc: 25, play: tiny(15, 25, 0, 450), fire: true, wantHSms: 40},
		{name: "server think time dominates", rs: 40, rc: 0.05, play: tiny(40, 0.05, 100, 450)},
		{name: "large response", rs: 40, rc: 0.05, play: tiny(40, 0.05, 0, 40000)},
		{name: "threshold from config", rs: 40, rc: 0.05, share: 0.9, play: tiny(40, 0.05, 0, 450)},
		{name: "two transactions", rs: 40, rc: 0.05, play: func(sc *analyzetest.Conn) {
			tiny(40, 0.05, 0, 450)(sc)
			sc.Data(0, 90, 100)
			sc.Data(1, 130.2, 450)
			req := sc.Msg(0, 100, 100, 0, "GET /again")
			resp := sc.Msg(1, 450, 200, 250, "200")
			sc.Settle(req, resp)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := timingConfig()
			if tc.share != 0 {
				cfg.HandshakeShare = tc.share
			}
			k := newCapture(t, cfg)
			sc := k.OpenTCP(0, tc.rs, tc.rc)
			tc.play(sc)
			sc.Close(1000)
			got := k.Rec.ByRule(HandshakeOverhead.ID)
			if !tc.fire {
				for _, f := range got {
					t.Errorf("unexpected: %s", f.Message)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("%d findings, want 1", len(got))
			}
			f := got[0]
			if !analyzetest.Near(f.Duration, analyzetest.MS(tc.wantHSms), analyzetest.MS(0.01)) {
				t.Errorf("handshake %v, want %v ms", f.Duration, tc.wantHSms)
			}
			// GET /tiny.txt: 100 B, response 200 + 250 B
			if f.Attrs["bytes"] != int64(550) || f.Transaction != 1 {
				t.Errorf("attrs %v tx %d", f.Attrs, f.Transaction)
			}
			if a := k.Rec.Conns[0].Transactions[0].Timing.Attributed[HandshakeOverhead.ID]; a != f.Duration {
				t.Errorf("breakdown %v, finding %v", a, f.Duration)
			}
		})
	}
}

func TestHandshakeOverheadSilentMidStream(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenMid(0)
	sc.Data(0, 1, 100)
	sc.Data(1, 41, 450)
	req := sc.Msg(0, 0, 100, 0, "GET /tiny.txt")
	resp := sc.Msg(1, 0, 200, 250, "200")
	sc.Settle(req, resp)
	sc.Close(100)
	if len(k.Rec.Findings) != 0 {
		t.Errorf("findings without a handshake: %v", k.Rec.Findings)
	}
}
