package robusttest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// Per-connection memory budgets the bounds below are built from, with room
// for rules still to come: measured with 22 rules, a connection that only
// sent a SYN costs ~8 KiB (the Assembler's conn, the engine's
// per-connection state and checkers, the HTTP parser), a short HTTP/1.1
// exchange ~10 KiB while it stays open.
const (
	synConnBudget  = 10 << 10
	httpConnBudget = 24 << 10
	// slack covers what the run allocates once: maps growing to their
	// steady size, the template, the summary.
	slack = 24 << 20
	// crossRecordBudget: what the cross-connection rules (port-churn,
	// no-connection-reuse, parallel-connections, proxy legs, ...) keep per
	// finished connection, all of them together, within their window
	// (Config.CrossWindow) and bound (Config.CrossMaxEntries per rule).
	crossRecordBudget = 8 << 10
)

// analysisConfig is the default configuration, with the cross-connection
// rules' table bound scaled down like the attacks (full size under
// CONNLINT_STRESS=1): it bounds what they keep of finished connections.
func analysisConfig() *analyze.Config {
	cfg := analyze.DefaultConfig()
	cfg.CrossMaxEntries = scale(cfg.CrossMaxEntries, 10_000, 2_000)
	return cfg
}

// crossBound is the most the cross-connection rules may keep under cfg.
func crossBound(cfg *analyze.Config) int64 {
	return int64(cfg.CrossMaxEntries) * crossRecordBudget
}

// checkBound fails when the peak live heap grew by more than limit.
func checkBound(t *testing.T, r *rig, name string, limit int64) {
	t.Helper()
	r.report(name)
	if in, _ := r.growth(); in > limit {
		t.Errorf("%s: peak live heap grew by %s, bound %s", name, mib(in), mib(limit))
	}
}

// checkFlat fails when the peak heap of an attack's second half is more
// than 25% (plus 4 MiB) above the peak of its first half, by which time the
// attack had reached its steady state: a bound that holds only because the
// attack was short is no bound.
func checkFlat(t *testing.T, r *rig, name string) {
	t.Helper()
	r.sample()
	first, second := r.halves[0].heapInuse, r.halves[1].heapInuse
	if !r.late || second > first+first/4+4<<20 {
		t.Errorf("%s: heap still growing: peak %s in use in the first half, %s in the second",
			name, mib(int64(first)), mib(int64(second)))
	}
}

// TestSYNFlood: SYNs on ever new 4-tuples (spoofed sources, every
// destination port) that are never answered. The table holds MaxConns
// connections; the least recently active is evicted for each new one, the
// summary counts the evictions, and no rule reports anything.
func TestSYNFlood(t *testing.T) {
	n := scale(1_000_000, 200_000, 20_000)
	opts := reassembly.Options{} // stress: the defaults
	maxConns := reassembly.DefaultMaxConns
	if !stress() {
		maxConns = n / 10
		opts.MaxConns = maxConns
	}
	cfg := analysisConfig()
	r := newRig(t, opts, cfg)
	r.every = int64(n / 20)
	for i := 0; i < n; i++ {
		src := ep(10, byte(i>>16), byte(i>>8), byte(i), uint16(1024+i%64000))
		dst := ep(192, 0, 2, 1, uint16(1+i%65535))
		r.now = time.Duration(i) * 10 * time.Microsecond // 100 000 SYNs per second
		r.send(src, dst, uint32(i)*7919, 0, fSYN, nil)
		if i == n/2 {
			r.halfway()
		}
		if i == n-1 {
			writeHeapProfile(t, "synflood")
		}
	}
	s := r.finish()
	checkBound(t, r, fmt.Sprintf("SYN flood of %d (MaxConns %d)", n, maxConns), int64(maxConns)*synConnBudget+crossBound(cfg)+slack)
	checkFlat(t, r, "SYN flood")
	if want := int64(n - maxConns); s.EvictedFull < want {
		t.Errorf("EvictedFull = %d, want ≥ %d", s.EvictedFull, want)
	}
	if got := r.sink.ends[reassembly.EndEvicted]; got != s.EvictedFull {
		t.Errorf("%d connections ended as evicted, EvictedFull says %d", got, s.EvictedFull)
	}
	if len(r.sink.findings) > 0 {
		t.Errorf("findings on a SYN flood: %v", r.sink.findings)
	}
}

// TestIdleConnections: connections that open, make one request and then
// stay open without a byte more, while new ones keep coming. Idle eviction
// (capture time) ends them; memory stays at what IdleTimeout's worth of
// connections needs.
func TestIdleConnections(t *testing.T) {
	n := scale(1_000_000, 200_000, 20_000)
	opts := reassembly.Options{} // stress: the defaults (5 min idle timeout)
	idle := reassembly.DefaultIdleTimeout
	if !stress() {
		idle = 30 * time.Second
		opts.IdleTimeout = idle
	}
	const every = 4 * time.Millisecond // 250 new connections per second
	// Flush runs about once a second of capture time: a connection may
	// outlive the idle timeout by that much.
	live := int((idle+2*time.Second)/every) + 1
	cfg := analysisConfig()
	r := newRig(t, opts, cfg)
	r.every = int64(n / 10)
	req := []byte("GET /poll HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	srv := ep(192, 0, 2, 1, 80)
	for i := 0; i < n; i++ {
		r.now = time.Duration(i) * every
		c := newConn(ep(10, byte(i>>16), byte(i>>8), byte(i), uint16(1024+i%64000)), srv)
		r.handshake(c)
		r.clientData(c, req, mss)
		r.serverData(c, resp, mss)
		r.clientAck(c)
		if i == max(2*live, n/2) {
			r.halfway()
			writeHeapProfile(t, "idle")
		}
	}
	s := r.finish()
	checkBound(t, r, fmt.Sprintf("%d idle connections (idle timeout %v, ~%d live)", n, idle, live), int64(live)*httpConnBudget+crossBound(cfg)+slack)
	if r.late {
		checkFlat(t, r, "idle connections")
	}
	if want := int64(n - live); s.EvictedIdle < want {
		t.Errorf("EvictedIdle = %d, want ≥ %d", s.EvictedIdle, want)
	}
	if s.EvictedFull != 0 {
		t.Errorf("EvictedFull = %d: the table filled up although idle eviction should keep it at ~%d", s.EvictedFull, live)
	}
	if got := r.sink.ends[reassembly.EndIdle]; got != s.EvictedIdle {
		t.Errorf("%d connections ended idle, EvictedIdle says %d", got, s.EvictedIdle)
	}
	if s.Transactions != int64(n) {
		t.Errorf("%d transactions, want %d", s.Transactions, n)
	}
}

// parallelClients sends the same client byte stream on k connections at
// once, segment by segment in turn, so that every connection holds its
// worst case at the same moment. The server acknowledges every 8 segments.
func parallelClients(r *rig, k int, stream []byte) []*conn {
	srv := ep(192, 0, 2, 1, 80)
	cs := make([]*conn, k)
	for i := range cs {
		cs[i] = newConn(ep(10, 9, byte(i>>8), byte(i), uint16(40000+i)), srv)
		r.handshake(cs[i])
	}
	for off, seg := 0, 0; off < len(stream); off, seg = off+mss, seg+1 {
		b := stream[off:min(off+mss, len(stream))]
		r.now += 100 * time.Microsecond
		for _, c := range cs {
			r.clientData(c, b, mss)
			if seg%8 == 7 {
				r.serverAck(c)
			}
		}
	}
	return cs
}

// TestHugeHeaderLine: a 1 MiB header line, on many connections at once.
// The parser keeps at most MaxHeaderBytes of a header block, ends the
// message as malformed and resynchronises on the next request.
func TestHugeHeaderLine(t *testing.T) {
	k := scale(200, 50, 5)
	stream := []byte("GET / HTTP/1.1\r\nHost: example.com\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n" +
		"GET /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
	r := newRig(t, reassembly.Options{}, nil)
	r.every = int64(k * 64)
	parallelClients(r, k, stream)
	r.finish()
	perConn := int64(http1.DefaultMaxHeaderBytes + 2*reassembly.DefaultCompareBytes + httpConnBudget)
	checkBound(t, r, fmt.Sprintf("1 MiB header line on %d connections", k), int64(k)*perConn+slack)
}

// TestManyHeaders: 100 000 header fields in one request, on many
// connections at once: with the default MaxHeaderBytes (64 KiB) the byte
// cap cuts the block; with a 1 MiB byte cap MaxHeaders (200) keeps the
// field list short and counts the rest.
func TestManyHeaders(t *testing.T) {
	k := scale(100, 20, 4)
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: example.com\r\n")
	for i := 0; i < 100_000; i++ {
		b.WriteString("X-H: v\r\n")
	}
	b.WriteString("\r\nGET /after HTTP/1.1\r\nHost: example.com\r\n\r\n")
	stream := []byte(b.String())
	for _, tc := range []struct {
		name     string
		maxBytes int
	}{
		{"default byte cap", 0},
		{"1 MiB byte cap", 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRigHTTP(t, reassembly.Options{}, http1.Options{MaxHeaderBytes: tc.maxBytes}, nil)
			r.every = int64(k * 64)
			parallelClients(r, k, stream)
			r.finish()
			hb := int64(tc.maxBytes)
			if hb == 0 {
				hb = http1.DefaultMaxHeaderBytes
			}
			// The header block buffer, plus the kept fields (200 of them).
			perConn := hb + int64(http1.DefaultMaxHeaders)*64 + 2*reassembly.DefaultCompareBytes + httpConnBudget
			checkBound(t, r, fmt.Sprintf("100 000 headers on %d connections, %s", k, tc.name), int64(k)*perConn+slack)
		})
	}
}

// TestEndlessChunkedBody: a chunked response that never ends (and, as a
// variant, a chunk-size line whose extension never ends). The parser
// streams the body: memory does not grow with it.
func TestEndlessChunkedBody(t *testing.T) {
	total := scale(1<<30, 128<<20, 8<<20)
	chunk := append([]byte("3e8\r\n"), bytes.Repeat([]byte("x"), 1000)...)
	chunk = append(chunk, "\r\n"...)
	ext := append([]byte("1;"), bytes.Repeat([]byte("e"), len(chunk)-2)...)
	for _, tc := range []struct {
		name  string
		piece []byte
	}{
		{"chunks", chunk},
		{"chunk extension", ext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, reassembly.Options{}, nil)
			c := newConn(ep(10, 0, 0, 1, 40000), ep(192, 0, 2, 1, 80))
			r.handshake(c)
			r.clientData(c, []byte("GET /stream HTTP/1.1\r\nHost: example.com\r\n\r\n"), mss)
			r.serverData(c, []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), mss)
			r.every = int64(total / mss / 20)
			// Full-size segments cut across chunk boundaries.
			stream := bytes.Repeat(tc.piece, (64<<10)/len(tc.piece)+1)
			for sent, seg := 0, 0; sent < total; seg++ {
				off := (sent % len(tc.piece))
				b := stream[off : off+mss]
				r.now += 10 * time.Microsecond
				r.serverData(c, b, mss)
				sent += len(b)
				if seg%2 == 1 {
					r.clientAck(c)
				}
				if !r.late && sent >= total/2 {
					r.halfway()
				}
			}
			r.finish()
			name := fmt.Sprintf("endless chunked body (%s), %d MiB", tc.name, total>>20)
			checkBound(t, r, name, 2*reassembly.DefaultCompareBytes+httpConnBudget+slack)
			checkFlat(t, r, name)
		})
	}
}

// TestOutOfOrderFlood: data beyond a hole that is never filled, on many
// connections at once; the server never acknowledges past the hole. Each
// direction buffers at most MaxOutOfOrderBytes (or maxOOOChunks chunks for
// tiny segments) and all connections together at most MaxOutOfOrderTotal;
// then the holes are given up: declared gaps, counted in OutOfOrderDropped.
func TestOutOfOrderFlood(t *testing.T) {
	perConnBytes := scale(16<<20, 4<<20, 2<<20)
	for _, tc := range []struct {
		name  string
		k     int // connections
		seg   int // segment size
		hole  int // segments sent between holes
		total int // MaxOutOfOrderTotal (0: the default)
	}{
		{"full segments", scale(64, 16, 2), mss, 1500, 0}, // a new hole every ~2 MiB
		{"1-byte segments", scale(64, 16, 2), 1, 2000, 0},
		// More connections than the shared budget allows at 1 MiB each.
		{"shared budget", scale(1000, 64, 8), mss, 1500, scale(0, 16<<20, 4<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, reassembly.Options{MaxOutOfOrderTotal: tc.total}, nil)
			srv := ep(192, 0, 2, 1, 80)
			cs := make([]*conn, tc.k)
			for i := range cs {
				cs[i] = newConn(ep(10, 8, byte(i>>8), byte(i), uint16(30000+i)), srv)
				r.handshake(cs[i])
				r.clientData(cs[i], []byte("POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000000000\r\n\r\n"), mss)
				r.serverAck(cs[i])
			}
			payload := bytes.Repeat([]byte("y"), mss)
			limit := perConnBytes
			switch {
			case tc.seg == 1:
				limit = perConnBytes / 64 // a packet per byte: keep the run short
			case tc.total != 0 || stress() && tc.k > 100:
				limit = 3 << 20 // enough to fill the shared budget many times over
			}
			r.every = int64(limit / tc.seg * tc.k / 20)
			for sent, seg := 0, 0; sent < limit; sent, seg = sent+tc.seg, seg+1 {
				r.now += 10 * time.Microsecond
				for _, c := range cs {
					if seg%tc.hole == 0 {
						c.cseq++ // a byte the capture never sees
					}
					r.clientData(c, payload[:tc.seg], tc.seg)
				}
				if !r.late && sent >= limit/2 {
					r.halfway()
				}
			}
			s := r.finish()
			total := int64(tc.total)
			if total == 0 {
				total = reassembly.DefaultMaxOutOfOrderTotal
			}
			// Per connection: one direction's buffer (bytes, or chunks of one
			// byte with their bookkeeping), but no more than the shared
			// budget over all of them; and the compare rings.
			buffered := min(int64(tc.k)*(reassembly.DefaultMaxOutOfOrderBytes+1024*96), total+int64(tc.k)*1024*96)
			name := fmt.Sprintf("out-of-order flood (%s) on %d connections, %d MiB each", tc.name, tc.k, limit>>20)
			checkBound(t, r, name, buffered+int64(tc.k)*(2*reassembly.DefaultCompareBytes+httpConnBudget)+slack)
			checkFlat(t, r, name)
			if s.OutOfOrderDropped == 0 {
				t.Errorf("OutOfOrderDropped = 0: the cap was never reported")
			}
		})
	}
}

// TestTinySegments: millions of 1-byte segments on one connection (a
// request body sent a byte at a time, each acknowledged). Nothing kept per
// segment may grow.
func TestTinySegments(t *testing.T) {
	n := scale(10_000_000, 1_000_000, 100_000)
	r := newRig(t, reassembly.Options{}, nil)
	c := newConn(ep(10, 0, 0, 1, 40001), ep(192, 0, 2, 1, 80))
	r.handshake(c)
	r.clientData(c, []byte(fmt.Sprintf("POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n", n)), mss)
	r.every = int64(n / 10)
	one := []byte("z")
	for i := 0; i < n; i++ {
		r.now += 20 * time.Microsecond
		r.clientData(c, one, 1)
		if i%2 == 1 {
			r.serverAck(c)
		}
		if i == n/2 {
			r.halfway()
		}
	}
	r.serverData(c, []byte("HTTP/1.1 204 No Content\r\n\r\n"), mss)
	s := r.finish()
	name := fmt.Sprintf("%d one-byte segments on one connection", n)
	checkBound(t, r, name, 2*reassembly.DefaultCompareBytes+httpConnBudget+slack)
	checkFlat(t, r, name)
	if s.Transactions != 1 {
		t.Errorf("%d transactions, want 1", s.Transactions)
	}
}

// TestPipelinedFloodNoResponse: a client pipelines requests that the server
// never answers. The parser keeps at most MaxPending unanswered requests
// (the oldest is settled unanswered beyond that) and the engine does not
// keep more.
func TestPipelinedFloodNoResponse(t *testing.T) {
	n := scale(1_000_000, 200_000, 20_000)
	r := newRig(t, reassembly.Options{}, nil)
	c := newConn(ep(10, 0, 0, 1, 40002), ep(192, 0, 2, 1, 80))
	r.handshake(c)
	req := []byte("GET /a HTTP/1.1\r\nHost: example.com\r\nX-Pad: " + strings.Repeat("p", 400) + "\r\n\r\n")
	r.every = int64(n / 10)
	for i := 0; i < n; i++ {
		r.now += 10 * time.Microsecond
		r.clientData(c, req, mss)
		if i%4 == 3 {
			r.serverAck(c)
		}
		if i == n/2 {
			r.halfway()
		}
	}
	r.finish()
	// MaxPending requests of ~600 bytes each, with their parsed fields.
	perReq := int64(len(req) + 1024)
	name := fmt.Sprintf("%d pipelined requests never answered", n)
	checkBound(t, r, name, http1.DefaultMaxPending*perReq+2*reassembly.DefaultCompareBytes+httpConnBudget+slack)
	checkFlat(t, r, name)
}

// TestLongRunningSniff: hours of capture time of continuous traffic, as
// sniff sees it: short keep-alive connections that close, some that stay
// open and idle, from many clients. Idle eviction runs although packets
// never stop (Flush runs on capture time), the cross-connection rules keep
// time-windowed state, and memory at the end is what it was after the
// first hour.
func TestLongRunningSniff(t *testing.T) {
	hours := scale(12, 2, 1)
	const rate = 20 // connections per second
	n := hours * 3600 * rate
	cfg := analysisConfig()
	r := newRig(t, reassembly.Options{}, cfg)
	r.every = int64(n) // samples taken by hand below
	req := []byte("GET /x HTTP/1.1\r\nHost: example.com\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	srv := ep(192, 0, 2, 1, 80)
	for i := 0; i < n; i++ {
		r.now = time.Duration(i) * time.Second / rate
		cli := ep(10, 7, byte(i%200), byte(i%199), uint16(1024+i%60000))
		c := newConn(cli, srv)
		r.handshake(c)
		for range 2 {
			r.clientData(c, req, mss)
			r.serverData(c, resp, mss)
			r.clientAck(c)
		}
		if i%10 != 0 { // one in ten stays open and idles out
			r.send(c.cli, c.srv, c.cseq, c.sseq, fFIN|fACK, nil)
			r.send(c.srv, c.cli, c.sseq, c.cseq+1, fFIN|fACK, nil)
			r.send(c.cli, c.srv, c.cseq+1, c.sseq+1, fACK, nil)
		}
		if i == 3600*rate {
			r.halfway() // the first hour against the rest
		}
		if i == n-1 {
			writeHeapProfile(t, "long-running")
		}
	}
	s := r.finish()
	name := fmt.Sprintf("%d h of continuous traffic (%d connections)", hours, n)
	// One idle timeout's worth of connections (some still open) plus the
	// closing ones lingering.
	live := int64(reassembly.DefaultIdleTimeout/time.Second) * rate
	checkBound(t, r, name, live*httpConnBudget+crossBound(cfg)+slack)
	if hours > 1 {
		checkFlat(t, r, name)
	}
	if s.EvictedIdle == 0 {
		t.Errorf("no idle eviction in %d h of continuous traffic", hours)
	}
	if s.Transactions != int64(2*n) {
		t.Errorf("%d transactions, want %d", s.Transactions, 2*n)
	}
}

// TestNoFindingFromEvictedData: keep-alive clients whose connections are
// evicted in the middle of a response, once by a SYN flood that fills the
// table and once by staying quiet past the idle timeout, then carry on.
// What the capture shows is ordinary HTTP: no rule may report anything
// (a "truncated" response, a client that "does not reuse" its connections,
// an unsolicited response on the continuation, ...).
func TestNoFindingFromEvictedData(t *testing.T) {
	const clients = 20
	body := bytes.Repeat([]byte("b"), 3000)
	resp := append([]byte(fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(body))), body...)
	req := []byte("GET /item HTTP/1.1\r\nHost: example.com\r\n\r\n")
	for _, tc := range []struct {
		name  string
		opts  reassembly.Options
		flood bool          // evict by filling the table
		pause time.Duration // evict by idling
		end   reassembly.EndReason
	}{
		{"table full", reassembly.Options{MaxConns: 200}, true, 0, reassembly.EndEvicted},
		{"idle", reassembly.Options{IdleTimeout: 30 * time.Second}, false, 45 * time.Second, reassembly.EndIdle},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts, nil)
			srv := ep(192, 0, 2, 1, 80)
			cs := make([]*conn, clients)
			for i := range cs {
				cs[i] = newConn(ep(10, 6, 0, byte(i+1), uint16(50000+i)), srv)
				r.handshake(cs[i])
			}
			flood := 0
			for round := 0; round < 5; round++ {
				for _, c := range cs {
					r.now += time.Millisecond
					r.clientData(c, req, mss)
					r.serverData(c, resp[:len(resp)/2], mss)
					r.clientAck(c)
				}
				// Between the two halves of every response, the connections are evicted.
				if tc.flood {
					for i := 0; i < 2*tc.opts.MaxConns; i++ {
						r.now += 10 * time.Microsecond
						flood++
						r.send(ep(172, 16, byte(flood>>8), byte(flood), uint16(1024+flood%60000)), srv, uint32(flood), 0, fSYN, nil)
					}
				} else {
					r.now += tc.pause
				}
				for _, c := range cs {
					r.now += time.Millisecond
					r.serverData(c, resp[len(resp)/2:], mss)
					r.clientAck(c)
				}
			}
			for _, c := range cs {
				r.send(c.cli, c.srv, c.cseq, c.sseq, fFIN|fACK, nil)
				r.send(c.srv, c.cli, c.sseq, c.cseq+1, fFIN|fACK, nil)
				r.send(c.cli, c.srv, c.cseq+1, c.sseq+1, fACK, nil)
			}
			s := r.finish()
			if r.sink.ends[tc.end] < clients {
				t.Fatalf("only %d connections ended %v; the test did not evict", r.sink.ends[tc.end], tc.end)
			}
			t.Logf("summary: %d connections, evicted %d full / %d idle", s.Connections, s.EvictedFull, s.EvictedIdle)
			if len(r.sink.findings) > 0 {
				t.Errorf("findings that rely on evicted data: %v", r.sink.findings)
			}
		})
	}
}
