package timing

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
)

// serve plays one GET at reqAt ms and its response of segs full segments,
// sent in ACK-clocked flights: cwnd segments first, the window doubling per
// round trip (slow start, RFC 5681), each flight leaving one capture point ↔
// server round trip (rs) after the client's first ACK of the previous one
// passed, plus pause ms (a server waiting for its application). It returns
// the new congestion window and the time of the last packet.
func serve(sc *analyzetest.Conn, reqAt float64, path string, segs, cwnd int, rs, rc, pause float64) (int, float64) {
	reqOff, respOff := sc.Next[0], sc.Next[1]
	sc.Data(0, reqAt, 100)
	t := reqAt + rs + 0.3
	sent, last := 0, t
	for sent < segs {
		k := min(cwnd, segs-sent)
		firstAck := 0.0
		for j := range k {
			at := t + float64(j)*0.1
			if sent+j == 0 {
				sc.Data(1, at, 1448) // acknowledges the request
			} else {
				sc.DataNoAck(1, at, 1448)
			}
			if j%2 == 1 || j == k-1 {
				a := at + min(rc, 0.04) + 0.01
				sc.Ack(0, a)
				if firstAck == 0 {
					firstAck = a
				}
				last = a
			}
		}
		sent += k
		cwnd += k // one segment per segment acknowledged: doubling per round trip
		t = firstAck + rs + pause
	}
	req := sc.Msg(0, reqOff, 100, 0, "GET "+path)
	resp := sc.Msg(1, respOff, 200, int64(segs*1448-200), "200")
	sc.Settle(req, resp)
	return cwnd, last
}

// warmThenFresh plays connection W (three 300-kB responses, then idle until
// wEnd) and connection F opened at fAt with one 300-kB response from a
// fresh window. fFirst: F ends before W (the lab's order).
func warmThenFresh(t *testing.T, cfg *analyze.Config, fAt, wBusyAt, wEnd float64, fPause float64, fFirst bool, fServer string) *analyzetest.Capture {
	const rs, rc = 40, 0.05
	k := newCapture(t, cfg)
	w := k.OpenTCP(0, rs, rc)
	cwnd, last := serve(w, rs+rc+0.1, "/300k.txt", 207, 10, rs, rc, 0)
	for range 2 {
		cwnd, last = serve(w, last+0.1, "/300k.txt", 207, cwnd, rs, rc, 0)
	}
	f := k.OpenTCP(fAt, rs, rc)
	if fServer != "" {
		f.C.Server = netip.MustParseAddrPort(fServer)
	}
	_, fLast := serve(f, fAt+rs+rc+0.1, "/300k.txt", 207, 10, rs, rc, fPause)
	if wBusyAt > 0 {
		serve(w, wBusyAt, "/busy", 2, cwnd, rs, rc, 0)
	}
	if fFirst {
		f.Close(fLast + 1)
		w.Close(wEnd)
	} else {
		w.Close(wEnd)
		f.Close(max(fLast+1, wEnd+1))
	}
	k.E.Close()
	return k
}

func TestSlowStartFreshConnection(t *testing.T) {
	cases := []struct {
		name    string
		fAt     float64
		wBusyAt float64
		wEnd    float64
		pause   float64
		fFirst  bool
		server  string
		iw      int
		fire    bool
	}{
		{name: "fresh connection beside an idle warm one (lab order: fresh ends first)", fAt: 900, wEnd: 2500, fFirst: true, fire: true},
		{name: "warm one ends first", fAt: 900, wEnd: 1000, fire: true},
		{name: "warm connection busy when the new one was opened", fAt: 900, wBusyAt: 880, wEnd: 2500, fFirst: true},
		{name: "warm connection closed before the request", fAt: 900, wEnd: 905},
		{name: "server paused for its application between flights", fAt: 900, wEnd: 2500, pause: 30, fFirst: true},
		{name: "another server", fAt: 900, wEnd: 2500, fFirst: true, server: "10.0.0.3:80"},
		{name: "warm only after the new connection opened", fAt: 100, wEnd: 2500, fFirst: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := warmThenFresh(t, timingConfig(), tc.fAt, tc.wBusyAt, tc.wEnd, tc.pause, tc.fFirst, tc.server)
			got := k.Rec.ByRule(SlowStartFreshConnection.ID)
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
			if f.Attrs["flights"] != 5 || f.Attrs["extra_round_trips"] != 4 {
				t.Errorf("attrs %v", f.Attrs)
			}
			if len(f.Related) != 2 || f.Related[0].ID != 2 || f.Related[1].ID != 1 {
				t.Errorf("related %v", f.Related)
			}
			if !analyzetest.Near(f.Duration, 4*analyzetest.MS(40.05), time.Microsecond) {
				t.Errorf("duration %v", f.Duration)
			}
			if segs, _ := f.Attrs["flight_segments"].([]int); !slices.Equal(segs, []int{10, 20, 40, 80, 57}) {
				t.Errorf("flight_segments %v", f.Attrs["flight_segments"])
			}
			// The breakdown can take the time only while the fresh
			// connection's report is not out yet: when it ends last.
			var fresh *analyze.ConnReport
			for _, c := range k.Rec.Conns {
				if c.Conn.ID == 2 {
					fresh = c
				}
			}
			a := fresh.Transactions[0].Timing.Attributed[SlowStartFreshConnection.ID]
			if tc.fFirst && a != 0 || !tc.fFirst && a != f.Duration {
				t.Errorf("breakdown %v (fresh ends first: %v)", a, tc.fFirst)
			}
		})
	}
}

// TestFlightCount: the first response's flights, and nothing for a
// response that fits the initial window.
func TestFlightCount(t *testing.T) {
	k := newCapture(t, nil)
	sc := k.OpenTCP(0, 40, 0.05)
	serve(sc, 40.2, "/small", 8, 10, 40, 0.05, 0)
	sc.Close(500)
	k.E.Close()
	if got := k.Rec.ByRule(SlowStartFreshConnection.ID); len(got) != 0 {
		t.Errorf("findings: %v", got[0].Message)
	}
}
