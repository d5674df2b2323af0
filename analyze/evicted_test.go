package analyze

import (
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
