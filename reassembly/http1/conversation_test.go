package http1

import (
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/connlint/connlint/reassembly/flow"
)

type convCase struct {
	name      string
	midStream bool
	opts      Options
	in        string
	tx        []string // txSummary of each transaction, in order
	check     func(t *testing.T, r *recorder, c *Conversation)
}

// find returns the index-th message of direction d.
func find(t *testing.T, r *recorder, d flow.Dir, index int) *Message {
	t.Helper()
	for _, m := range r.msgs {
		if m.Dir == d && m.Index == index {
			return m
		}
	}
	t.Fatalf("no message %v #%d; have:\n%s", d, index, dump(r))
	return nil
}

func dump(r *recorder) string {
	var b strings.Builder
	for _, m := range r.msgs {
		b.WriteString("  " + msgSummary(m) + "\n")
	}
	for _, tx := range r.txs {
		b.WriteString("  tx " + txSummary(tx) + "\n")
	}
	return b.String()
}

// want checks a message's fields; anoms lists exactly the anomalies expected.
func want(t *testing.T, m *Message, f Framing, e End, bodyLen int64, anoms ...Anomaly) {
	t.Helper()
	if m.Framing != f || m.End != e || m.BodyLength != bodyLen {
		t.Errorf("%s: want framing=%s end=%s bodylen=%d", msgSummary(m), f, e, bodyLen)
	}
	got := slices.Clone(m.Anomalies)
	slices.Sort(got)
	slices.Sort(anoms)
	if !slices.Equal(got, anoms) {
		t.Errorf("%s: anomalies %v, want %v", msgSummary(m), got, anoms)
	}
}

var c2s, s2c = flow.ClientToServer, flow.ServerToClient

var convCases = []convCase{
	{
		name: "get-200-cl",
		in: `>>> GET /a HTTP/1.1\r\nHost: x\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello`,
		tx: []string{"GET /a -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q, s := find(t, r, c2s, 0), find(t, r, s2c, 0)
			want(t, q, FramingNone, EndComplete, 0)
			want(t, s, FramingContentLength, EndComplete, 5)
			if v, _ := q.Get("host"); v != "x" || q.HeaderBytes != 28 || s.Reason != "OK" || s.ContentLength != 5 {
				t.Errorf("fields: %s / %s", msgSummary(q), msgSummary(s))
			}
			if !c.IsHTTP() || c.NotHTTP() || c.Err() != nil {
				t.Error("IsHTTP/NotHTTP")
			}
		},
	},
	{
		name: "chunked-ext-trailers",
		in: `>>> POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=v\r\nhello\r\n6 \r\n world\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n
		     <<< HTTP/1.1 204 No Content\r\n\r\n`,
		tx: []string{"POST /u -> 204"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingChunked, EndComplete, 11, AnomChunkExtension, AnomChunkSizeWhitespace, AnomTrailers)
			if q.BodyBytes != int64(len("5;name=v\r\nhello\r\n6 \r\n world\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n")) {
				t.Errorf("body bytes %d", q.BodyBytes)
			}
		},
	},
	{
		name: "close-delimited-fin",
		in: `>>> GET / HTTP/1.0\r\n\r\n
		     <<< HTTP/1.0 200 OK\r\n\r\nabc
		     <<< def
		     <<| fin`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 0), FramingClose, EndComplete, 6)
		},
	},
	{
		name: "close-delimited-rst",
		in: `>>> GET / HTTP/1.0\r\n\r\n
		     <<< HTTP/1.0 200 OK\r\n\r\nabc
		     <<| rst`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 0), FramingClose, EndRST, 3)
		},
	},
	{
		name: "head-cl-no-body",
		in: `>>> HEAD / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
		tx: []string{"HEAD / -> 200", "GET /2 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingNone, EndComplete, 0)
			if s.ContentLength != 1000 {
				t.Errorf("cl %d", s.ContentLength)
			}
		},
	},
	{
		name: "204-304",
		in: `>>> GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n`,
		tx: []string{"GET /a -> 204", "GET /b -> 304"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 0), FramingNone, EndComplete, 0)
			want(t, find(t, r, s2c, 1), FramingNone, EndComplete, 0)
		},
	},
	{
		name: "body-on-bodiless",
		in: `>>> HEAD / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"HEAD / -> 200", "GET /2 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingNone, EndComplete, 0, AnomBodyOnBodiless)
			if s.OverrunBytes != 4 {
				t.Errorf("overrun %d", s.OverrunBytes)
			}
		},
	},
	{
		name: "two-100-then-200",
		in: `>>> POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n
		     <<< HTTP/1.1 100 Continue\r\n\r\n
		     >>> abc
		     <<< HTTP/1.1 100 Continue\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"POST /up -> 200 interim=100,100"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 2), FramingContentLength, EndComplete, 0, AnomInterimResponse)
			want(t, find(t, r, s2c, 0), FramingNone, EndComplete, 0)
			want(t, find(t, r, c2s, 0), FramingContentLength, EndComplete, 3)
		},
	},
	{
		name: "connect-tunnel",
		in: `>>> CONNECT abc:443 HTTP/1.1\r\nHost: abc:443\r\n\r\n
		     >>> \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03
		     <<< HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x7a
		     >>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\n\r\n`,
		tx: []string{"CONNECT abc:443 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if !c.Tunnel() || len(r.msgs) != 2 {
				t.Errorf("tunnel=%v msgs:\n%s", c.Tunnel(), dump(r))
			}
			want(t, find(t, r, c2s, 0), FramingNone, EndComplete, 0)
			want(t, find(t, r, s2c, 0), FramingTunnel, EndComplete, 0)
		},
	},
	{
		name: "connect-refused-then-get",
		in: `>>> CONNECT abc:443 HTTP/1.1\r\n\r\n
		     >>> GET /x HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"CONNECT abc:443 -> 407", "GET /x -> 200"},
	},
	{
		name:      "upgrade-101-tunnel",
		midStream: true,
		in: `>>> GET /robots.txt HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n
		     <<< HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00
		     >>> PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`,
		tx: []string{"GET /robots.txt -> 101"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if !c.Tunnel() || len(r.msgs) != 2 {
				t.Errorf("tunnel=%v\n%s", c.Tunnel(), dump(r))
			}
		},
	},
	{
		name: "pipelined-three",
		in: `>>> GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb
		     <<< HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nc`,
		tx: []string{"GET /1 -> 200", "GET /2 -> 200", "GET /3 -> 404"},
	},
	{
		name: "response-before-request",
		in: `<<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     >>> GET /a HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"- -> 200 unsolicited", "GET /a -> 200"},
	},
	{
		name: "desync-extra-responses",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     <<< HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n
		     >>> GET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 303 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 304 OK\r\n\r\n
		     >>> GET /5 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 305 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET /1 -> 200", "- -> 201 unsolicited", "- -> 202 unsolicited",
			"GET /2 -> 302", "GET /3 -> 303", "GET /4 -> 304", "GET /5 -> 305"},
	},
	{
		name: "cl-and-te",
		in: `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 50\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n
		     >>| fin`,
		tx: []string{"POST / -> -", "GET /smuggled -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndComplete, 0, AnomCLAndTE)
		},
	},
	{
		name: "duplicate-cl-request",
		in:   `>>> POST /which HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcGET /x HTTP/1.1\r\n\r\n`,
		tx:   []string{"POST /which -> -", "GET /x -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingContentLength, EndComplete, 3, AnomDuplicateCL)
		},
	},
	{
		name: "duplicate-cl-response-close",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-length: 68\r\nContent-length: 34\r\n\r\n0123456789
		     <<| fin`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, s2c, 0), FramingClose, EndComplete, 10, AnomDuplicateCL)
		},
	},
	{
		name: "repeated-cl-and-leading-zeros",
		in:   `>>> POST /a HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nabPOST /b HTTP/1.1\r\nContent-Length: 00000000000000000000000000000003\r\n\r\nabc`,
		tx:   []string{"POST /a -> -", "POST /b -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingContentLength, EndComplete, 2, AnomRepeatedCL)
			want(t, find(t, r, c2s, 1), FramingContentLength, EndComplete, 3, AnomCLLeadingZeros)
		},
	},
	{
		name: "invalid-cl",
		in: `>>> POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 400 Bad\r\nContent-Length: -1\r\n\r\nxyz
		     <<| fin`,
		tx: []string{"POST / -> 400", "GET /smuggled -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingNone, EndMalformed, 0, AnomInvalidCL)
			s := find(t, r, s2c, 0)
			want(t, s, FramingClose, EndComplete, 3, AnomInvalidCL)
			if q.ContentLength != -1 || s.ContentLength != -1 {
				t.Error("ContentLength should be -1")
			}
		},
	},
	{
		name: "invalid-te-request",
		in:   `>>> HEAD / HTTP/1.1\r\nContent-Length: 0\r\nTransfer-Encoding: ,.chunked,\r\n\r\nbody\r\nGET /n HTTP/1.1\r\n\r\n`,
		tx:   []string{"HEAD / -> -", "GET /n -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingNone, EndMalformed, 0, AnomCLAndTE, AnomInvalidTE)
			if q.SkippedBytes != 6 || q.OverrunBytes != 0 {
				t.Errorf("skipped: %s", msgSummary(q))
			}
		},
	},
	{
		name: "chunk-size-2pow64",
		in:   `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nGET /smuggled-chunk-2pow64 HTTP/1.1\r\n\r\n`,
		tx:   []string{"POST / -> -", "GET /smuggled-chunk-2pow64 -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndMalformed, 0, AnomBadChunkSize, AnomChunkSizeOverflow)
		},
	},
	{
		// near miss (issue 12 item 13): a long run of hex digits that does
		// not end like a chunk-size line is garbage, not a declared size
		name: "chunk-size-garbage-hex",
		in:   `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n10000000000000000zz\r\nGET /next HTTP/1.1\r\n\r\n`,
		tx:   []string{"POST / -> -", "GET /next -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndMalformed, 5, AnomBadChunkSize)
		},
	},
	{
		// the largest size that fits is parsed (and then truncated by the end)
		name: "chunk-size-max-int64",
		in:   `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\nab`,
		tx:   []string{"POST / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndCaptureEnd, 2)
		},
	},
	{
		name: "cl-overrun",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcfin\n
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET / -> 200", "GET /2 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 3, AnomOverrun)
			if s.OverrunBytes != 4 || s.OverrunPos.Offset != uint64(len("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")) {
				t.Errorf("overrun %d at %d", s.OverrunBytes, s.OverrunPos.Offset)
			}
		},
	},
	{
		// issue 12 item 4: one empty line between messages is tolerated
		// (RFC 9112 §2.2), in either direction, also before the end.
		name: "crlf-after-body",
		in: `>>> POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabcdefg\r\n
		     >>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\n
		     <<| fin`,
		tx: []string{"POST / -> 200", "GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			for _, m := range []*Message{find(t, r, c2s, 0), find(t, r, s2c, 0), find(t, r, s2c, 1)} {
				if m.OverrunBytes != 0 || len(m.Anomalies) != 0 {
					t.Error(msgSummary(m))
				}
			}
		},
	},
	{
		// near miss: more than one empty line, or an empty line then junk,
		// is an overrun counted from the empty line on
		name: "crlf-then-junk-after-body",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabcdefg\r\nxyz\r\n
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx\r\n\r\n
		     <<| fin`,
		tx: []string{"GET /1 -> 200", "GET /2 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 7, AnomOverrun)
			if s.OverrunBytes != 7 || s.OverrunPos.Offset != uint64(len("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nabcdefg")) {
				t.Errorf("overrun %d at %d", s.OverrunBytes, s.OverrunPos.Offset)
			}
			if s := find(t, r, s2c, 1); s.OverrunBytes != 4 || !s.Has(AnomOverrun) {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		// issue 12 item 12: junk after an answered bodiless request is a
		// malformed next request; the server's 400 answers it
		name: "junk-request-after-response",
		in: `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok
		     >>> \x16\x03\x01 not a request\r\nmore junk\r\n
		     <<< HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n
		     <<| fin
		     >>| fin`,
		tx: []string{"GET / -> 200", "  -> 400"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingNone, EndComplete, 0)
			j := find(t, r, c2s, 1)
			want(t, j, FramingNone, EndMalformed, 0, AnomJunkRequest)
			if j.HeaderBytes != len("\x16\x03\x01 not a request\r\nmore junk\r\n") || j.Start.Offset != uint64(q.HeaderBytes) {
				t.Error(msgSummary(j))
			}
		},
	},
	{
		// near miss: junk before the response started stays an overrun
		name: "junk-after-request-before-response",
		in: `>>> GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01 junk\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingNone, EndComplete, 0, AnomOverrun)
		},
	},
	{
		name: "truncated-fin",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc
		     <<| fin`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndFIN, 3)
			if s.MissingBytes != 7 {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		name: "truncated-rst-chunked",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nabc
		     <<| rst`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingChunked, EndRST, 3)
			if s.MissingBytes != 7 {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		name: "truncated-capture-end",
		in:   `>>> POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789`,
		tx:   []string{"POST / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingContentLength, EndCaptureEnd, 10)
			if q.MissingBytes != 90 {
				t.Error(msgSummary(q))
			}
		},
	},
	{
		name: "headers-cut-by-fin",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.0 200 OK\r\nServer:ng1nx\r\n
		     <<| fin`,
		tx: []string{"GET / -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			if !s.InHeaders || s.End != EndFIN || len(s.Headers) != 1 || s.Headers[0].Value != "ng1nx" {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		name: "request-line-cut-by-fin",
		in: `>>> GET /partial
		     >>| fin`,
		tx: []string{"GET /partial -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			if !q.InHeaders || q.End != EndFIN {
				t.Error(msgSummary(q))
			}
		},
	},
	{
		name: "http09",
		in: `>>> GET /old\r\n
		     <<< <html>old</html>
		     <<| fin`,
		tx: []string{"GET /old -> 0.9"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q, s := find(t, r, c2s, 0), find(t, r, s2c, 0)
			want(t, q, FramingNone, EndComplete, 0, AnomHTTP09)
			want(t, s, FramingClose, EndComplete, 16, AnomHTTP09)
			if q.Proto != "HTTP/0.9" || len(q.Headers) != 0 {
				t.Error(msgSummary(q))
			}
		},
	},
	{
		name: "bare-lf-obs-fold-no-colon-ws",
		in: `>>> GET /a  HTTP/1.1\nHost: x\nX-Long: a\n  b\n\tc\nnocolon\nName : v\n\n
		     <<< HTTP/1.1 200 OK\nContent-Length: 0\n\n`,
		tx: []string{"GET /a -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			want(t, q, FramingNone, EndComplete, 0, AnomBareLF, AnomObsFold, AnomHeaderNoColon,
				AnomWhitespaceBeforeColon, AnomMalformedStartLine)
			if v, _ := q.Get("x-long"); v != "a b c" {
				t.Errorf("obs-fold %q", v)
			}
			if v, ok := q.Get("Name"); !ok || v != "v" {
				t.Errorf("Name %q", v)
			}
			want(t, find(t, r, s2c, 0), FramingContentLength, EndComplete, 0, AnomBareLF)
		},
	},
	{
		name: "te-obs-fold",
		in:   `>>> POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /smuggled-obsfold HTTP/1.1\r\n\r\n`,
		tx:   []string{"POST / -> -", "GET /smuggled-obsfold -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndComplete, 0, AnomObsFold, AnomObscuredFraming)
		},
	},
	{
		name: "te-space-before-colon",
		in:   `>>> POST / HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n`,
		tx:   []string{"POST / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			want(t, find(t, r, c2s, 0), FramingChunked, EndComplete, 0, AnomWhitespaceBeforeColon, AnomObscuredFraming)
		},
	},
	{
		name: "tls-not-http",
		in: `>>> \x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x8a\x9bGET / HTTP/1.1\r\n
		     <<< \x16\x03\x03\x00\x7a\x02\x00\x00\x76`,
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if !c.NotHTTP() || c.IsHTTP() || c.Err() != ErrNotHTTP || len(r.msgs) != 0 {
				t.Errorf("NotHTTP=%v\n%s", c.NotHTTP(), dump(r))
			}
		},
	},
	{
		name: "ssh-not-http",
		in: `<<< SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n
		     >>> SSH-2.0-OpenSSH_9.0\r\n`,
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if !c.NotHTTP() || len(r.msgs) != 0 {
				t.Errorf("NotHTTP=%v", c.NotHTTP())
			}
		},
	},
	{
		name: "smtp-not-http",
		in: `<<< 220 mail.example.com ESMTP\r\n
		     >>> EHLO client\r\n`,
		check: func(t *testing.T, r *recorder, c *Conversation) {
			if !c.NotHTTP() {
				t.Error("SMTP parsed as HTTP")
			}
		},
	},
	{
		name: "gap-inside-cl-body",
		in: `>>> GET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n01234
		     <>< s 10
		     <<< 56789
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET / -> 200", "GET /2 -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 0)
			want(t, s, FramingContentLength, EndComplete, 10)
			if s.GapBytes != 10 {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		name: "gap-in-headers-of-response-2",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nCon
		     <>< s 20
		     <<< xxxxx\n
		     >>> GET /3 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 203 OK\r\nContent-Length: 1\r\n\r\nc`,
		tx: []string{"GET /1 -> 200", "GET /2 -> 200", "GET /3 -> 203"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			s := find(t, r, s2c, 1)
			if s.End != EndGap || !s.InHeaders {
				t.Error(msgSummary(s))
			}
		},
	},
	{
		name: "gap-swallows-response-2",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <>< s 40
		     <<< yz\n
		     >>> GET /3 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 203 OK\r\nContent-Length: 1\r\n\r\nc
		     >>> GET /4 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 204 OK\r\n\r\n`,
		tx: []string{"GET /1 -> 200", "GET /2 -> - gap", "GET /3 -> 203", "GET /4 -> 204"},
	},
	{
		name: "status-after-gap-mid-line",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <>< s 40
		     <<< {"json":true}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n`,
		// The first response follows the hole: paired with GET /1, marked gap.
		tx: []string{"GET /1 -> 200 gap", "GET /2 -> 201"},
	},
	{
		name: "request-lost-in-client-gap",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     <>< c 30
		     <<< HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n
		     >>> GET /3 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 203 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET /1 -> 200", "- -> 202 gap", "GET /3 -> 203"},
	},
	{
		// miss_end_data.pcap: the whole response is in the hole before the
		// server's FIN: the request is not known to be unanswered.
		name: "response-lost-in-trailing-server-gap",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <>< s 2902
		     <<| fin
		     >>| fin`,
		tx: []string{"GET /1 -> - gap"},
	},
	{
		// near miss: the hole came before the request was sent.
		name: "server-gap-before-request-then-close",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n
		     <>< s 1
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     <<| fin
		     >>| fin`,
		tx: []string{"GET /1 -> 200", "GET /2 -> -"},
	},
	{
		name:      "midstream-response-first",
		midStream: true,
		in: `<<< ly the end of a body\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     >>> GET /favicon.ico HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"- -> 200 gap", "GET /favicon.ico -> 404"},
	},
	{
		name: "too-many-headers-kept",
		opts: Options{MaxHeaders: 2},
		in:   `>>> GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n`,
		tx:   []string{"GET / -> -"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			if len(q.Headers) != 2 || q.DroppedHeaders != 2 || !q.Has(AnomTooManyHeaders) {
				t.Error(msgSummary(q))
			}
		},
	},
	{
		name: "header-too-large-resync",
		opts: Options{MaxHeaderBytes: 64},
		in: `>>> GET /big HTTP/1.1\r\nX: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n\r\nGET /next HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET /big -> 431", "GET /next -> 200"},
		check: func(t *testing.T, r *recorder, c *Conversation) {
			q := find(t, r, c2s, 0)
			if q.End != EndMalformed || !q.InHeaders || !q.Has(AnomHeaderTooLarge) || q.HeaderBytes != 64 {
				t.Error(msgSummary(q))
			}
		},
	},
	{
		name: "leading-crlf-ok",
		in: `>>> \r\nGET / HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`,
		tx: []string{"GET / -> 200"},
	},
	{
		name: "request-after-server-fin",
		in: `>>> GET /1 HTTP/1.1\r\n\r\n
		     <<< HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n
		     <<| fin
		     >>> GET /2 HTTP/1.1\r\n\r\n
		     >>| rst`,
		tx: []string{"GET /1 -> 200", "GET /2 -> -"},
	},
}

func TestConversation(t *testing.T) {
	for _, tc := range convCases {
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

// TestSplitInvariance: however the packets are cut, the result is the same.
func TestSplitInvariance(t *testing.T) {
	for _, tc := range convCases {
		t.Run(tc.name, func(t *testing.T) {
			steps := parseTranscript(t, tc.in)
			r0, c0 := run(t, steps, tc.opts, tc.midStream, whole)
			want := r0.summary(c0)
			r1, c1 := run(t, steps, tc.opts, tc.midStream, bytewise)
			if got := r1.summary(c1); got != want {
				t.Fatalf("byte-wise feeding differs:\n got:\n%s\nwant:\n%s", got, want)
			}
			rng := rand.New(rand.NewSource(1))
			for i := 0; i < 20; i++ {
				r2, c2 := run(t, steps, tc.opts, tc.midStream, randomSplit(rng))
				if got := r2.summary(c2); got != want {
					t.Fatalf("random split %d differs:\n got:\n%s\nwant:\n%s", i, got, want)
				}
			}
		})
	}
}
