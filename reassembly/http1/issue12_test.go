package http1

import (
	"slices"
	"testing"
)

// Cases of issue 12 whose outcome depends on packet boundaries: fed whole
// (one Feed per transcript line), never re-split, so they are not part of
// TestSplitInvariance.
var packetCases = []convCase{
	{
		// item 14 (zeek http-09-content-length-confusion.pcap): the bytes
		// after the 4-byte body arrive in the segment that completed it:
		// an overrun of the 200, not the 0.9 answer to GET /.
		name: "overrun-not-0.9-same-segment",
		in: `<<< HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n
		     >>> GET /\r\n
		     <<< this is too much.\r\n
		     <<| fin`,
		tx: []string{"- -> 200 unsolicited", "GET / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 4, AnomOverrun)
			if s.OverrunBytes != int64(len(" is too much.\r\n")) {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		// near miss: the raw bytes come in a later packet: the answer to
		// the pending HTTP/0.9 request
		name: "0.9-response-next-segment",
		in: `<<< HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n
		     >>> GET /\r\n
		     <<< this
		     <<< is the 0.9 answer\r\n
		     <<| fin`,
		tx: []string{"- -> 200 unsolicited", "GET / -> 0.9"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if s := find(t, r, s2c, 0); s.OverrunBytes != 0 {
				t.Error(msgSummary(s))
			}
		},
	},
}

func TestPacketBoundaries(t *testing.T) {
	for _, tc := range packetCases {
		t.Run(tc.name, func(t *testing.T) {
			r, c := run(t, parseTranscript(t, tc.in), tc.opts, tc.midStream, nil)
			var got []string
			for _, tx := range r.txs {
				got = append(got, txSummary(tx))
			}
			if tc.tx != nil && !slices.Equal(got, tc.tx) {
				t.Errorf("transactions:\n got %q\nwant %q\n%s", got, tc.tx, dump(r))
			}
			if tc.check != nil {
				tc.check(t, r, c)
			}
		})
	}
}
