package analyze

import (
	"fmt"

	"testing"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// TestTruncationSilentOnEviction: a response cut because connlint stopped
// following its connection (table full, idle timeout) is not "truncated by
// the end of the capture": the rest of it may well have come. The same cut
// at the real end of the capture is reported.
func TestTruncationSilentOnEviction(t *testing.T) {
	for _, tc := range []struct {
		end  reassembly.EndReason
		want int
	}{
		{reassembly.EndOpen, 1},
		{reassembly.EndEvicted, 0},
		{reassembly.EndIdle, 0},
	} {
		s := newScript(t, nil, ContentLengthMismatch.ID)
		s.c.End = tc.end // set by the Assembler before the last transaction
		q := req("GET", "/big", at(4, 1), at(4, 1))
		r := resp(200, at(6, 3), at(9, 5), "Content-Length", "10000")
		r.ContentLength, r.BodyLength, r.MissingBytes = 10000, 4000, 6000
		r.End = http1.EndCaptureEnd
		s.tx(q, r)
		if got := len(s.end().byRule(ContentLengthMismatch.ID)); got != tc.want {
			t.Errorf("connection ended %v: %d findings, want %d", tc.end, got, tc.want)
		}
	}
}

// TestCrossRulesIgnoreEvictedConnections: connections connlint evicted
// (table full, idle) ended without a close anyone saw, and may have carried
// more: no-connection-reuse must not call them "sequential one-shot
// connections", unsafe-retry must not call an evicted POST "died without its
// response", port-churn must not count them as closed.
func TestCrossRulesIgnoreEvictedConnections(t *testing.T) {
	for _, end := range []reassembly.EndReason{reassembly.EndEvicted, reassembly.EndIdle} {
		k := newLC(nil)
		for i := 0; i < 10; i++ {
			lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i)*10, 1)
			lc.get("/tiny.txt", float64(i)*10+1.5, 1)
			lc.end(end)
		}
		lc := k.open("10.0.0.1:41000", srv, 200, 1)
		lc.request("POST", "/order", 201.5, 100)
		lc.end(end)
		postOK(k, 41001, 300, "POST", 100)
		if fs := k.close().findings; len(fs) > 0 {
			for _, f := range fs {
				t.Errorf("connections ended %v: %s: %s", end, f.Rule, f.Message)
			}
		}
	}
}
