package http1

import (
	"math/rand"
	"slices"
	"testing"
)

// HTTP/0.9 answers and overruns (issue 12 item 14, and what FuzzConversation
// found in it): bytes after a complete framed response that start no message
// are that response's overrun when it answered no request seen, the raw
// answer to a pending HTTP/0.9 request when it answered one. The answer
// depends on the messages only, never on where the packets are cut: each
// case is checked fed one Feed per transcript line, byte by byte, and cut at
// random, and must give the same events each time.
var http09Cases = []convCase{
	{
		// zeek http-09-content-length-confusion.pcap: the bytes after the
		// 4-byte body arrive in the segment that completed it.
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
		// The same stream with the body and the rest in two packets: the
		// same answer. (This was once the 0.9 answer: the rule compared
		// packets, so cutting the stream differently changed the result.)
		name: "overrun-not-0.9-next-segment",
		in: `<<< HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n
		     >>> GET /\r\n
		     <<< this
		     <<< is the 0.9 answer\r\n
		     <<| fin`,
		tx: []string{"- -> 200 unsolicited", "GET / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 4, AnomOverrun)
			if s.OverrunBytes != int64(len("is the 0.9 answer\r\n")) {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		// Near miss: the framed response answered the pipelined HTTP/1.1
		// request, so the bytes after its body start the next response
		// (RFC 9112 §6.3): the raw answer to GET /, in the same segment.
		name: "0.9-answer-after-answered-response",
		in: `>>> GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi<html>old</html>
		     <<| fin`,
		tx: []string{"GET /a -> 200", "GET / -> 0.9"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 0), FramingContentLength, EndComplete, 2)
			want(t, find(t, r, s2c, 1), FramingClose, EndComplete, int64(len("<html>old</html>")), AnomHTTP09)
		},
	},
	{
		// FuzzConversation (preexisting-1a8f207e1d9161c1, seed 42): an
		// unsolicited response with status 000 (3DIGIT, RFC 9112 §4: a
		// status line; RFC 9110 §15 calls the code invalid, it stays a
		// response) and Content-Length 000 completes at the end of its
		// header block, inside a packet; the 0.9 request came before it.
		name: "fuzz-status-000-cl-000-overrun",
		in: `<<< HTTP/1.0 00
		     <<< 0\nContent-Length
		     >>> GET /\n\r\n00
		     <<< :000
		     <<< \n\r\n0
		     <<< 00
		     <<< 0`,
		tx: []string{"GET / -> -", "- -> 0 unsolicited"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 0, AnomBareLF, AnomCLLeadingZeros, AnomOverrun)
			if s.Status != 0 || s.Proto != "HTTP/1.0" || s.OverrunBytes != 4 {
				t.Error(msgSummary(s))
			}
			// the empty line after GET / is tolerated until junk follows it
			q := find(t, r, c2s, 0)
			want(t, q, FramingNone, EndComplete, 0, AnomHTTP09, AnomBareLF, AnomOverrun)
			if q.OverrunBytes != 4 || len(r.msgs) != 2 {
				t.Errorf("%s\n%s", msgSummary(q), dump(r))
			}
		},
	},
	{
		// FuzzConversation (preexisting-5e4f01dbcecc8e36, seed -53):
		// mid-stream, so the 000 response is paired across the missing
		// start rather than unsolicited; it answered no request seen all
		// the same.
		name:      "fuzz-status-000-mid-stream-overrun",
		midStream: true,
		in: `<<< HTTP/1.0 000 \nContent-Leng
		     >>> GET\x20
		     >>> /\n
		     <<< th:000\n\r\n0
		     <<< 000`,
		tx: []string{"GET / -> -", "- -> 0 gap"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 0, AnomBareLF, AnomCLLeadingZeros, AnomOverrun)
			if s.OverrunBytes != 4 || len(r.msgs) != 2 {
				t.Errorf("%s\n%s", msgSummary(s), dump(r))
			}
		},
	},
	{
		// Near miss: the 000 response comes after the 0.9 request and
		// answers it (a status line is a status line, even to GET /).
		name: "status-000-answers-0.9-request",
		in: `>>> GET /\n
		     <<< HTTP/1.0 000\nContent-Length:000\n\r\n0000`,
		tx: []string{"GET / -> 0"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 0, AnomBareLF, AnomCLLeadingZeros, AnomOverrun)
			if s.OverrunBytes != 4 {
				t.Error(msgSummary(s))
			}
		},
	},
}

// resyncCases: a server resynchronising on "HTTP/1." inside junk whose
// first byte came in an earlier packet than the status line. The response
// starts in the packet that holds its first byte, and pairs by that
// packet's order, however the junk and the line are cut.
var resyncCases = []convCase{
	{
		// FuzzConversation (96c666382f4a4e0f): the status line found
		// inside a candidate that began in the packet before GET /b was
		// taken as sent before GET /b (unsolicited) when the candidate
		// came whole, as its answer when it came byte by byte.
		name: "resync-status-line-after-request",
		in: `>>> GET /a HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi
		     <<< H
		     >>> GET /b HTTP/1.1\r\n\r\n
		     <<< xHTTP/1.1 204 No Content\r\n\r\n`,
		tx: []string{"GET /a -> 200", "GET /b -> 204"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 2, AnomOverrun)
			if s.OverrunBytes != 2 {
				t.Error(msgSummary(s))
			}
			// in the packet of the fifth line (however it is cut), after GET /b
			if s1 := find(t, r, s2c, 1); s1.Start.Ord < 5_000_000 || s1.Start.Ord >= 6_000_000 {
				t.Errorf("204 starts at %+v", s1.Start)
			}
		},
	},
	{
		// The same with "HTTP/1." cut across packets, its "HT" in a later
		// packet of the rejected candidate than the candidate's first.
		name: "resync-status-line-cut-in-prefix",
		in: `>>> GET /a HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi
		     <<< HTTP/1.1 2
		     >>> GET /b HTTP/1.1\r\n\r\n
		     <<< xHT
		     <<< TP/1.1 204 No Content\r\n\r\n`,
		tx: []string{"GET /a -> 200", "GET /b -> 204"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			if s.OverrunBytes != int64(len("HTTP/1.1 2x")) {
				t.Error(msgSummary(s))
			}
			// its "HT" came in the packet of the fifth line, after GET /b
			if s1 := find(t, r, s2c, 1); s1.Start.Ord < 5_000_000 || s1.Start.Ord >= 6_000_000 {
				t.Errorf("204 starts at %+v", s1.Start)
			}
		},
	},
}

func TestCutCases(t *testing.T) {
	for _, tc := range slices.Concat(http09Cases, resyncCases) {
		t.Run(tc.name, func(t *testing.T) {
			steps := parseTranscript(t, tc.in)
			rng := rand.New(rand.NewSource(1))
			splits := []struct {
				name  string
				split splitter
			}{{"whole", whole}, {"bytewise", bytewise}}
			for i := 0; i < 10; i++ {
				splits = append(splits, struct {
					name  string
					split splitter
				}{"random", randomSplit(rng)})
			}
			for _, sp := range splits {
				r, c := run(t, steps, tc.opts, tc.midStream, sp.split)
				var got []string
				for _, tx := range r.txs {
					got = append(got, txSummary(tx))
				}
				if !slices.Equal(got, tc.tx) {
					t.Errorf("%s: transactions:\n got %q\nwant %q\n%s", sp.name, got, tc.tx, dump(r))
				}
				if tc.check != nil {
					tc.check(t, r, c)
				}
				if t.Failed() {
					t.Fatalf("fed %s", sp.name)
				}
			}
		})
	}
}
