package reassembly

import (
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// TestLingerOf: a settled connection waits eight handshake round trips for
// its last packets, at least minLinger and at most the close linger; one
// whose handshake was not captured waits the whole close linger.
func TestLingerOf(t *testing.T) {
	a := &Assembler{closeLinger: 2 * time.Second}
	t0 := time.Unix(1000, 0)
	hs := func(rtt time.Duration) *conn {
		c := &conn{}
		c.SYN = flow.Pos{Time: t0, Frame: 1}
		c.HandshakeACK = flow.Pos{Time: t0.Add(rtt), Frame: 3}
		return c
	}
	for _, tc := range []struct {
		name string
		c    *conn
		want time.Duration
	}{
		{"loopback", hs(50 * time.Microsecond), minLinger},
		{"LAN 10 ms", hs(10 * time.Millisecond), minLinger},
		{"WAN 100 ms", hs(100 * time.Millisecond), 800 * time.Millisecond},
		{"satellite 600 ms", hs(600 * time.Millisecond), 2 * time.Second},
		{"no handshake", &conn{}, 2 * time.Second},
		{"clock went back", hs(-time.Millisecond), 2 * time.Second},
	} {
		if got := a.lingerOf(tc.c); got != tc.want {
			t.Errorf("%s: linger %v, want %v", tc.name, got, tc.want)
		}
	}
	// the live capture's close linger (500 ms) caps it
	a.closeLinger = 500 * time.Millisecond
	if got := a.lingerOf(hs(100 * time.Millisecond)); got != 500*time.Millisecond {
		t.Errorf("capped: %v", got)
	}
}
