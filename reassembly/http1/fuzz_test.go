package http1

import (
	"bytes"
	"math/rand"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/connlint/connlint/reassembly/flow"
)

// schedule cuts the two streams into segments and interleaves them, driven
// by seed. Some segments become gaps; some runs are mid-stream.
func schedule(client, server []byte, seed int64) ([]step, bool) {
	rng := rand.New(rand.NewSource(seed))
	var steps []step
	rest := [2][]byte{client, server}
	gaps := seed%3 == 0
	for len(rest[0])+len(rest[1]) > 0 {
		d := flow.Dir(rng.Intn(2))
		if len(rest[d]) == 0 {
			d = 1 - d
		}
		n := 1 + rng.Intn(min(len(rest[d]), 1+rng.Intn(300)))
		st := step{dir: d, kind: evData, data: rest[d][:n], ord: int64(len(steps) + 1)}
		if gaps && rng.Intn(12) == 0 {
			st.kind, st.n, st.data = evGap, uint64(n), nil
		}
		steps = append(steps, st)
		rest[d] = rest[d][n:]
	}
	if seed&4 != 0 {
		steps = append(steps, step{dir: flow.ServerToClient, kind: evEnd, how: flow.CloseKind(seed >> 3 & 1), ord: int64(len(steps) + 1)})
	}
	return steps, seed&1 != 0
}

func FuzzConversation(f *testing.F) {
	for i, tc := range slices.Concat(convCases, http09Cases, resyncCases) {
		var cb, sb []byte
		for _, st := range parseTranscript(f, tc.in) {
			if st.kind == evData && st.dir == flow.ClientToServer {
				cb = append(cb, st.data...)
			} else if st.kind == evData {
				sb = append(sb, st.data...)
			}
		}
		f.Add(cb, sb, int64(i))
	}
	f.Fuzz(func(t *testing.T, client, server []byte, seed int64) {
		steps, mid := schedule(client, server, seed)
		opts := Options{MaxHeaderBytes: 1 << 10, MaxHeaders: 8, MaxPending: 4}
		r0, c0 := run(t, steps, opts, mid, whole)
		want := r0.summary(c0)
		r1, c1 := run(t, steps, opts, mid, bytewise)
		if got := r1.summary(c1); got != want {
			t.Fatalf("byte-wise feeding differs:\n got:\n%s\nwant:\n%s", got, want)
		}
		for _, m := range r0.msgs {
			if m.BodyBytes < 0 || m.BodyLength < 0 || m.BodyLength > m.BodyBytes || m.MissingBytes < 0 ||
				m.HeaderBytes > opts.MaxHeaderBytes || len(m.Headers) > opts.MaxHeaders {
				t.Fatalf("inconsistent message %s", msgSummary(m))
			}
		}
		if c0.NotHTTP() && (len(r0.msgs) > 0 || len(r0.txs) > 0) {
			t.Fatal("NotHTTP with messages")
		}
	})
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// feedChunks feeds data in 1460-byte segments, as a capture would.
func feedChunks(c *Conversation, d flow.Dir, data []byte, pos *flow.Pos) {
	for len(data) > 0 {
		n := min(len(data), 1460)
		c.Feed(d, data[:n], *pos)
		pos.Offset += uint64(n)
		pos.Ord++
		data = data[n:]
	}
}

func TestBoundedMemory(t *testing.T) {
	bigLine := "GET / HTTP/1.1\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\nGET /after HTTP/1.1\r\n\r\n"
	var many strings.Builder
	many.WriteString("GET / HTTP/1.1\r\n")
	for i := 0; i < 100000; i++ {
		many.WriteString("X-H: v\r\n")
	}
	many.WriteString("\r\nGET /after HTTP/1.1\r\n\r\n")
	for name, in := range map[string]string{"1MB-line": bigLine, "100k-headers": many.String()} {
		t.Run(name, func(t *testing.T) {
			data := []byte(in)
			r := &recorder{t: t}
			before := heapInUse()
			c := NewConversation(r, Options{}, false)
			pos := flow.Pos{}
			feedChunks(c, flow.ClientToServer, data, &pos)
			during := heapInUse()
			c.Finish(pos)
			if grow := int64(during) - int64(before); grow > 2<<20 {
				t.Errorf("heap grew by %d bytes", grow)
			}
			if len(r.msgs) != 2 {
				t.Fatalf("messages:\n%s", dump(r))
			}
			m := r.msgs[0]
			if m.End != EndMalformed || !m.InHeaders || !m.Has(AnomHeaderTooLarge) || m.HeaderBytes != DefaultMaxHeaderBytes {
				t.Errorf("first: %s", msgSummary(m))
			}
			if r.msgs[1].Target != "/after" {
				t.Errorf("no resync: %s", msgSummary(r.msgs[1]))
			}
			runtime.KeepAlive(data)
		})
	}
	t.Run("many-headers-under-byte-cap", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("GET / HTTP/1.1\r\n")
		for i := 0; i < 5000; i++ {
			b.WriteString("X: 1\r\n")
		}
		b.WriteString("\r\n")
		r := &recorder{t: t}
		c := NewConversation(r, Options{MaxHeaderBytes: 1 << 20}, false)
		pos := flow.Pos{}
		feedChunks(c, flow.ClientToServer, []byte(b.String()), &pos)
		c.Finish(pos)
		m := r.msgs[0]
		if len(m.Headers) != DefaultMaxHeaders || m.DroppedHeaders != 5000-DefaultMaxHeaders || m.End != EndComplete {
			t.Errorf("%d kept, %d dropped, end %s", len(m.Headers), m.DroppedHeaders, m.End)
		}
	})
}

func TestLooksLike(t *testing.T) {
	for _, tc := range []struct {
		in        string
		req, resp bool
	}{
		{"GET / HTTP/1.1\r\n", true, false},
		{"GET /", true, false},
		{"POST /x HTTP/1.0\r\nHost: a\r\n", true, false},
		{"FOO /x HTTP/1.1\r\n", true, false},
		{"FOO /x", false, false},
		{"GET /old\r\n", true, false},
		{"EHLO mail\r\n", false, false},
		{"SSH-2.0-OpenSSH_8.9\r\n", false, false},
		{"\x16\x03\x01\x02\x00", false, false},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", false, false},
		{"HTTP/1.1 200 OK\r\n", false, true},
		{"HTTP/1.0 404\r\n", false, true},
		{"HTTP/", false, true},
		{"HTTP/2 200\r\n", false, false},
		{"220 mail ESMTP\r\n", false, false},
		{"", false, false},
	} {
		if got := LooksLikeRequest([]byte(tc.in)); got != tc.req {
			t.Errorf("LooksLikeRequest(%q) = %v", tc.in, got)
		}
		if got := LooksLikeResponse([]byte(tc.in)); got != tc.resp {
			t.Errorf("LooksLikeResponse(%q) = %v", tc.in, got)
		}
	}
}

type nopHandler struct{ msgs, txs int }

func (h *nopHandler) Message(*Message)         { h.msgs++ }
func (h *nopHandler) Transaction(*Transaction) { h.txs++ }

func BenchmarkConversation(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 10<<10)
	req := []byte("GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n\r\n")
	resp := append([]byte("HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 10240\r\n\r\n"), body...)
	b.Run("keepalive-10KiB", func(b *testing.B) {
		benchKeepAlive(b, len(req)+len(resp), func(c *Conversation, cp, sp *flow.Pos) {
			cp.Ord = sp.Ord + 1
			c.Feed(flow.ClientToServer, req, *cp)
			cp.Offset += uint64(len(req))
			sp.Ord = cp.Ord + 1
			feedChunks(c, flow.ServerToClient, resp, sp)
		})
	})
	// What most of the bench capture is (nginx small files, keep-alive):
	// each message head arrives whole in one segment (fastMessage).
	small := []byte("GET /s200.txt HTTP/1.1\r\nHost: 127.0.0.1:18080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	smallResp := append([]byte("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Thu, 03 Dec 2026 07:51:49 GMT\r\n"+
		"Content-Type: text/plain\r\nContent-Length: 200\r\nLast-Modified: Thu, 03 Dec 2026 07:51:00 GMT\r\n"+
		"Connection: keep-alive\r\nETag: \"6942e1c4-c8\"\r\nAccept-Ranges: bytes\r\n\r\n"), bytes.Repeat([]byte("x"), 200)...)
	b.Run("keepalive-small", func(b *testing.B) {
		benchKeepAlive(b, len(small)+len(smallResp), func(c *Conversation, cp, sp *flow.Pos) {
			exchange(c, cp, sp, small, smallResp)
		})
	})
	// The same with every head cut in two segments: the buffered path
	// (feedLine, feedHeaders), whose buffer is reused between messages.
	b.Run("keepalive-small-split", func(b *testing.B) {
		benchKeepAlive(b, len(small)+len(smallResp), func(c *Conversation, cp, sp *flow.Pos) {
			cp.Ord = sp.Ord + 1
			for _, part := range [][]byte{small[:20], small[20:]} {
				c.Feed(flow.ClientToServer, part, *cp)
				cp.Offset += uint64(len(part))
			}
			sp.Ord = cp.Ord + 1
			for _, part := range [][]byte{smallResp[:40], smallResp[40:]} {
				c.Feed(flow.ServerToClient, part, *sp)
				sp.Offset += uint64(len(part))
			}
		})
	})
	// One short connection per iteration (the capture's 40 k connections
	// carry 3 transactions each on average): the per-connection cost.
	b.Run("connection-3tx", func(b *testing.B) {
		b.SetBytes(3 * int64(len(small)+len(smallResp)))
		b.ReportAllocs()
		h := &nopHandler{}
		for i := 0; i < b.N; i++ {
			c := NewConversation(h, Options{}, false)
			var cp, sp flow.Pos
			for range 3 {
				exchange(c, &cp, &sp, small, smallResp)
			}
			c.End(flow.ClientToServer, flow.CloseFIN, cp)
			c.End(flow.ServerToClient, flow.CloseFIN, sp)
			c.Finish(sp)
		}
	})
	b.Run("pipelined-small", func(b *testing.B) {
		const depth = 16
		small := []byte("GET /a HTTP/1.1\r\nHost: h\r\n\r\n")
		ok := []byte("HTTP/1.1 204 No Content\r\n\r\n")
		reqs := bytes.Repeat(small, depth)
		resps := bytes.Repeat(ok, depth)
		benchKeepAlive(b, len(reqs)+len(resps), func(c *Conversation, cp, sp *flow.Pos) {
			exchange(c, cp, sp, reqs, resps)
		})
	})
}

// exchange feeds one request (or pipelined batch) and its response to c,
// each as one segment, advancing both directions' positions.
// benchKeepAlive runs exch b.N times on one conversation (a keep-alive
// connection), each run moving bytesPerOp bytes.
func benchKeepAlive(b *testing.B, bytesPerOp int, exch func(c *Conversation, cp, sp *flow.Pos)) {
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	c := NewConversation(&nopHandler{}, Options{}, false)
	var cp, sp flow.Pos
	for i := 0; i < b.N; i++ {
		exch(c, &cp, &sp)
	}
	c.Finish(sp)
}

func exchange(c *Conversation, cp, sp *flow.Pos, req, resp []byte) {
	cp.Ord = sp.Ord + 1
	c.Feed(flow.ClientToServer, req, *cp)
	cp.Offset += uint64(len(req))
	sp.Ord = cp.Ord + 1
	c.Feed(flow.ServerToClient, resp, *sp)
	sp.Offset += uint64(len(resp))
}
