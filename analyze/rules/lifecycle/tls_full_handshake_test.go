package lifecycle

import (
	"fmt"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/tls"
)

const srvTLS = "10.0.0.2:443"

// tls12 is a TLS 1.2 ServerHello's facts: a full handshake whose server
// offered resumption (a session ID).
func tls12(sni string) tls.Facts {
	return tls.Facts{ClientHello: true, ServerHello: true, Version: 0x0303, SNI: sni, CipherSuite: 0xc02f, ResumptionOffered: true}
}

// tlsOneShot plays one TLS 1.2 connection from client port port at ms: the
// handshake, one request record answered by one response record, the
// client's close_notify, then closer's FIN first (nginx answers a client's
// close_notify with its own FIN).
func tlsOneShot(k *analyzetest.Capture, port int, ms float64, f tls.Facts, closer flow.Dir) {
	lc := k.Open(fmt.Sprintf("10.0.0.1:%d", port), srvTLS, ms, 1)
	hello := f
	hello.ServerHello, hello.Version = false, 0
	lc.TLS(c2s, ms+1.1, tls.TypeHandshake, 200, hello)
	lc.TLS(s2c, ms+2.1, tls.TypeHandshake, 1200, f)
	lc.TLS(c2s, ms+3.1, tls.TypeHandshake, 40, f) // the encrypted Finished
	lc.TLS(s2c, ms+4.1, tls.TypeHandshake, 40, f)
	lc.TLS(c2s, ms+4.2, tls.TypeApplicationData, 100, f)
	lc.TLS(s2c, ms+5.2, tls.TypeApplicationData, 300, f)
	lc.TLS(c2s, ms+5.5, tls.TypeAlert, 26, f)
	lc.CloseFIN(closer, ms+6)
}

func TestTLSFullHandshakeRepeated(t *testing.T) {
	seq := func(n int, mod func(i int, f *tls.Facts)) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			for i := 0; i < n; i++ {
				f := tls12("example.test")
				if mod != nil {
					mod(i, &f)
				}
				tlsOneShot(k, 40000+i, float64(i)*20, f, s2c)
			}
		}
	}
	runLC(t, "tls-full-handshake-repeated", []lcCase{
		{name: "six one-request clients, full handshakes after the offer", want: 1, build: seq(6, nil),
			attrs: map[string]any{"full_handshakes": 5, "version": "TLS 1.2", "offer_connection": uint64(1)},
			check: func(t *testing.T, f *analyze.Finding) {
				if !strings.Contains(f.Message, "TLS server name example.test") || !strings.Contains(f.Message, "one round trip more") || len(f.Related) != 6 {
					t.Errorf("message %q, related %v", f.Message, f.Related)
				}
			}},
		{name: "three after the offer is the threshold", want: 1, build: seq(4, nil)},
		{name: "two after the offer is below it", want: 0, build: seq(3, nil)},
		{name: "near miss: the client resumes from the second connection on", want: 0,
			build: seq(6, func(i int, f *tls.Facts) { f.Resumed = i > 0 })},
		{name: "the client presents a ticket the server declines", want: 0,
			build: seq(6, func(i int, f *tls.Facts) { f.TicketOffered = i > 0 })},
		{name: "no offer seen (TLS 1.3 without keys)", want: 0,
			build: seq(6, func(i int, f *tls.Facts) { f.ResumptionOffered, f.Version = false, 0x0304 })},
		{name: "different server names are different servers", want: 0,
			build: seq(6, func(i int, f *tls.Facts) { f.SNI = fmt.Sprintf("h%d.example.test", i%2) })},
		{name: "a lower threshold", want: 1, cfg: func(c *analyze.Config) { c.TLSFullHandshakeMin = 2 }, build: seq(3, nil)},
		{name: "plain HTTP is not TLS", want: 0, build: func(k *analyzetest.Capture) {
			for i := 0; i < 6; i++ {
				oneShot(k, 40000+i, float64(i)*10, c2s)
			}
		}},
	})
}

// TestNoConnectionReuseTLSRecords: one-exchange TLS connections without
// keys count by their record rhythm; the client's close_notify before the
// server's FIN makes the client the one that closed.
func TestNoConnectionReuseTLSRecords(t *testing.T) {
	seq := func(n int, closer flow.Dir, alert bool) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			for i := 0; i < n; i++ {
				f := tls12("example.test")
				lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srvTLS, float64(i)*20, 1)
				lc.TLS(c2s, float64(i)*20+1.1, tls.TypeHandshake, 200, tls.Facts{ClientHello: true, SNI: "example.test"})
				lc.TLS(s2c, float64(i)*20+2.1, tls.TypeHandshake, 1200, f)
				lc.TLS(c2s, float64(i)*20+3.1, tls.TypeApplicationData, 100, f)
				lc.TLS(s2c, float64(i)*20+4.1, tls.TypeApplicationData, 300, f)
				if alert {
					lc.TLS(closer, float64(i)*20+5, tls.TypeAlert, 26, f)
				}
				lc.CloseFIN(s2c, float64(i)*20+6)
			}
		}
	}
	runLC(t, "no-connection-reuse", []lcCase{
		{name: "client close_notify, server FIN first", want: 1, build: seq(6, c2s, true),
			attrs: map[string]any{"connections": 6, "judged_from": "tls-records"},
			check: func(t *testing.T, f *analyze.Finding) {
				if !strings.Contains(f.Message, "judged from TLS records") || !strings.Contains(f.Message, "TCP and TLS handshakes") {
					t.Errorf("message %q", f.Message)
				}
			}},
		{name: "the server sent close_notify first: it closed", want: 0, build: seq(6, s2c, true)},
		{name: "no alert, server FIN first", want: 0, build: seq(6, c2s, false)},
	})
}
