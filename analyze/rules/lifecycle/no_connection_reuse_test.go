package lifecycle

import (
	"fmt"
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly/flow"
)

func TestNoConnectionReuse(t *testing.T) {
	seq := func(n int, closer flow.Dir, hdr ...string) func(k *analyzetest.Capture) {
		return func(k *analyzetest.Capture) {
			for i := 0; i < n; i++ {
				oneShot(k, 40000+i, float64(i)*10, closer, hdr...)
			}
		}
	}
	runLC(t, "no-connection-reuse", []lcCase{
		{name: "ten curl runs", want: 1, build: seq(10, c2s),
			// ten handshakes of 1.0 ms; reuse would save nine
			attrs: map[string]any{"connections": 10, "handshake_ms": 10.0, "saved_ms": 9.0}},
		{name: "four is below the threshold", want: 0, build: seq(4, c2s)},
		{name: "server asked to close", want: 0, build: seq(10, s2c, "Connection", "close")},
		{name: "server closed first", want: 0, build: seq(10, s2c)},
		{name: "HTTP/1.0 without keep-alive offers no persistence", want: 0, build: seq(10, c2s, ":proto", "HTTP/1.0")},
		{name: "pooled control: one connection, ten requests", want: 0,
			build: func(k *analyzetest.Capture) {
				lc := k.Open(cli, srv, 0, 1)
				for i := 0; i < 10; i++ {
					lc.Get("/tiny.txt", 2+float64(i)*3, 1)
				}
				lc.CloseFIN(c2s, 40)
			}},
		{name: "parallel one-shot connections are not sequential", want: 0,
			build: func(k *analyzetest.Capture) {
				var lcs []*analyzetest.Conn
				for i := 0; i < 8; i++ {
					lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i)*0.1, 1)
					lc.Get("/", 2+float64(i)*0.1, 5)
					lcs = append(lcs, lc)
				}
				for i, lc := range lcs {
					lc.CloseFIN(c2s, 20+float64(i)*0.1)
				}
			}},
		{name: "long idle between connections: reuse was not possible", want: 0,
			build: func(k *analyzetest.Capture) {
				for i := 0; i < 10; i++ {
					oneShot(k, 40000+i, float64(i)*20000, c2s)
				}
			}},
	})
}
