package timing

import (
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly/tls"
)

// TestStallFromTLSRecords plays python-tls-nagle's shape (TLS 1.3, no
// keys): two NewSessionTickets after the handshake, the second one sent
// after the first request; a server that writes each response's headers
// and body in two records. The wait behind the ticket is TLS's, not the
// application's (no finding); the body held behind the headers record
// until the client's delayed ACK is a Nagle stall judged from records.
func TestStallFromTLSRecords(t *testing.T) {
	const (
		c2s, s2c = 0, 1
		app      = tls.TypeApplicationData
	)
	f13 := tls.Facts{ClientHello: true, ServerHello: true, Version: 0x0304, SNI: "example.test", CipherSuite: 0x1302}
	play := func(t *testing.T, f tls.Facts, bodyHeld bool) *analyzetest.Recorder {
		k := newCapture(t, nil)
		sc := k.OpenTCP(0, 0.1, 0.1)
		hello := tls.Facts{ClientHello: true, SNI: f.SNI}
		sc.TLS(c2s, 1, tls.TypeHandshake, 512, hello)
		sc.TLS(s2c, 2, tls.TypeHandshake, 122, f)
		sc.TLS(s2c, 2.01, app, 1300, f) // encrypted handshake
		sc.TLS(c2s, 3, app, 69, f)      // the client's Finished
		sc.TLS(s2c, 3.2, app, 250, f)   // ticket 1
		sc.TLS(c2s, 3.3, app, 104, f)   // request 1
		sc.TLS(s2c, 3.4, app, 250, f)   // ticket 2, unacknowledged...
		sc.Ack(c2s, 43.4)               // ...until the client's delayed ACK
		sc.TLS(s2c, 43.5, app, 235, f)  // response 1, held behind the ticket
		sc.Ack(c2s, 83.5)
		sc.TLS(c2s, 90, app, 104, f) // request 2
		sc.TLS(s2c, 90.5, app, 203, f)
		if bodyHeld {
			sc.Ack(c2s, 130.5)             // delayed ACK of the headers record
			sc.TLS(s2c, 130.6, app, 32, f) // the body, released by it
		} else {
			sc.TLS(s2c, 90.52, app, 32, f) // TCP_NODELAY: the body leaves at once
		}
		sc.Ack(c2s, 170)
		sc.TLS(c2s, 171, app, 19, f) // close_notify
		sc.Close(172)
		return k.Close()
	}
	t.Run("nagle from records", func(t *testing.T) {
		rec := play(t, f13, true)
		fs := rec.ByRule(NagleDelayedAck.ID)
		if len(fs) != 1 || len(rec.ByRule(DelayedAckStall.ID)) != 0 {
			t.Fatalf("findings %v", rec.Findings)
		}
		f := fs[0]
		if f.Transaction != 2 || f.Attrs["judged_from"] != "tls-records" || f.Attrs["sni"] != "example.test" ||
			!strings.Contains(f.Message, "the response of TLS exchange 2 (judged from TLS records, not decrypted)") || f.Attrs["held_bytes"] != 37 {
			t.Errorf("finding %d %v %s", f.Transaction, f.Attrs, f.Message)
		}
		if !analyzetest.Near(f.Duration, 39.9e6, 1e5) {
			t.Errorf("stall %v, want ~39.9 ms", f.Duration)
		}
	})
	t.Run("near miss: the body left at once", func(t *testing.T) {
		if rec := play(t, f13, false); len(rec.Findings) != 0 {
			t.Fatalf("findings %v", rec.Findings)
		}
	})
	t.Run("decrypted: the HTTP rules judge it, records stay out", func(t *testing.T) {
		f := f13
		f.Decrypted = true
		if rec := play(t, f, true); len(rec.Findings) != 0 {
			t.Fatalf("findings %v", rec.Findings)
		}
	})
	t.Run("TLS 1.2: the wait behind a handshake record is not a stall", func(t *testing.T) {
		k := newCapture(t, nil)
		sc := k.OpenTCP(0, 0.1, 0.1)
		f12 := tls.Facts{ClientHello: true, ServerHello: true, Version: 0x0303}
		sc.TLS(c2s, 1, tls.TypeHandshake, 512, tls.Facts{ClientHello: true})
		sc.TLS(s2c, 2, tls.TypeHandshake, 90, f12) // small, unacknowledged
		sc.Ack(c2s, 42)
		sc.TLS(s2c, 42.1, app, 100, f12)
		sc.Close(100)
		if rec := k.Close(); len(rec.Findings) != 0 {
			t.Fatalf("findings %v", rec.Findings)
		}
	})
}

// TestHandshakeOverheadFromTLSRecords: one small exchange of application
// data after a full TLS 1.2 handshake (TCP 1 round trip, TLS 2) fires,
// counting the round trips; a resumed handshake counts one; a
// connection carrying three exchanges does not fire.
func TestHandshakeOverheadFromTLSRecords(t *testing.T) {
	const app = tls.TypeApplicationData
	play := func(t *testing.T, resumed bool, exchanges int) *analyzetest.Recorder {
		k := newCapture(t, nil)
		sc := k.OpenTCP(0, 10, 0.1) // 10 ms to the server
		f := tls.Facts{ClientHello: true, ServerHello: true, Version: 0x0303, Resumed: resumed}
		sc.TLS(0, 10.2, tls.TypeHandshake, 300, tls.Facts{ClientHello: true})
		sc.TLS(1, 20.2, tls.TypeHandshake, 1500, f)
		sc.TLS(0, 20.3, tls.TypeHandshake, 120, f)
		sc.TLS(1, 30.3, tls.TypeHandshake, 40, f)
		for i := range exchanges {
			at := 30.4 + float64(i)*10.2
			sc.TLS(0, at, app, 100, f)
			sc.TLS(1, at+10.1, app, 300, f)
		}
		sc.Close(30.4 + float64(exchanges)*10.2 + 1)
		return k.Close()
	}
	rec := play(t, false, 1)
	fs := rec.ByRule(HandshakeOverhead.ID)
	if len(fs) != 1 || fs[0].Attrs["tls_round_trips"] != 2 || fs[0].Attrs["judged_from"] != "tls-records" ||
		!strings.Contains(fs[0].Message, "a full TLS 1.2 handshake (2 round trips)") {
		t.Fatalf("findings %v", rec.Findings)
	}
	if fs := play(t, true, 1).ByRule(HandshakeOverhead.ID); len(fs) != 1 || fs[0].Attrs["tls_round_trips"] != 1 {
		t.Errorf("resumed: %v", fs)
	}
	if fs := play(t, false, 3).ByRule(HandshakeOverhead.ID); len(fs) != 0 {
		t.Errorf("three exchanges: %v", fs[0].Message)
	}
}
