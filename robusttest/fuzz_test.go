package robusttest

import (
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// planReader reads the fuzzer's schedule bytes; past the end it reads zeros.
type planReader struct{ b []byte }

func (p *planReader) u8() byte {
	if len(p.b) == 0 {
		return 0
	}
	v := p.b[0]
	p.b = p.b[1:]
	return v
}

// pending is a generated packet not yet given to the Assembler (the
// schedule may hold one back to reorder it).
type pending struct {
	src, dst endpoint
	seq, ack uint32
	flags    byte
	payload  []byte
	at       time.Duration
}

// FuzzPipeline runs a whole connection through the Assembler, the HTTP
// parser and every rule of the engine: the client and server byte streams
// come from the fuzzer, and so does the capture's view of them (segment
// sizes, interleaving, timing, lost, duplicated and reordered segments,
// ACKs, the handshake or a mid-stream start, how it ends, tight limits).
// Nothing may panic, and every finding must be well-formed evidence: a
// registered rule, a message, frames that exist in the capture.
func FuzzPipeline(f *testing.F) {
	for _, s := range pipelineSeeds {
		f.Add([]byte(s.client), []byte(s.server), []byte(s.plan))
	}
	f.Fuzz(fuzzOne)
}

func fuzzOne(t *testing.T, client, server, plan []byte) {
	{
		if len(client)+len(server) > 16<<10 || len(plan) > 4<<10 {
			return
		}
		p := &planReader{b: plan}
		flags := p.u8()
		opts := reassembly.Options{}
		var httpOpts http1.Options
		if flags&0x02 != 0 {
			opts.MaxOutOfOrderBytes = 64 + int(p.u8())
			opts.CompareBytes = 1 + int(p.u8())
		}
		if flags&0x04 != 0 {
			httpOpts.MaxHeaderBytes = 16 + int(p.u8())*4
			httpOpts.MaxHeaders = 1 + int(p.u8()%8)
			httpOpts.MaxPending = 1 + int(p.u8()%4)
		}
		r := newPipe(t, opts, httpOpts)
		c := newConn(ep(10, 0, 0, 1, 40000+uint16(p.u8())), ep(192, 0, 2, 1, [4]uint16{80, 8080, 443, 5060}[flags>>4&3]))
		c.cseq, c.sseq = uint32(p.u8())<<24|0xfffff000, uint32(p.u8())<<24 // cross the 2^32 wrap sometimes

		var held *pending
		emit := func(q pending) {
			r.now = q.at
			r.send(q.src, q.dst, q.seq, q.ack, q.flags, q.payload)
		}
		queue := func(q pending, action byte) {
			switch {
			case action&0x0f == 1: // the capture lost it
			case action&0x0f == 2: // recorded twice
				emit(q)
				emit(q)
			case action&0x0f == 3 && held == nil: // arrives after the next one
				q2 := q
				held = &q2
			default:
				emit(q)
				if held != nil {
					emit(*held)
					held = nil
				}
			}
		}
		now := time.Duration(0)
		tick := func() {
			d := time.Duration(p.u8())
			if d > 200 {
				d = (d - 200) * 100 // up to 5.5 s: stalls, idle gaps
			}
			now += d * time.Millisecond
		}
		if flags&0x01 == 0 { // the handshake was captured
			r.now = now
			r.handshake(c)
		}
		rest := [2][]byte{client, server}
		for len(rest[0])+len(rest[1]) > 0 {
			d := p.u8() & 1
			if len(rest[d]) == 0 {
				d = 1 - d
			}
			n := 1 + int(p.u8())%mss
			if n > 300 && p.u8()&1 == 0 || len(p.b) == 0 {
				n = mss // full segments, also once the plan is used up
			}
			n = min(n, len(rest[d]))
			action := p.u8()
			tick()
			if d == 0 {
				queue(pending{c.cli, c.srv, c.cseq, c.sseq, fPA, rest[0][:n], now}, action)
				c.cseq += uint32(n)
			} else {
				queue(pending{c.srv, c.cli, c.sseq, c.cseq, fPA, rest[1][:n], now}, action)
				c.sseq += uint32(n)
			}
			rest[d] = rest[d][n:]
			if action&0x10 != 0 { // the peer acknowledges
				if d == 0 {
					queue(pending{c.srv, c.cli, c.sseq, c.cseq, fACK, nil, now}, 0)
				} else {
					queue(pending{c.cli, c.srv, c.cseq, c.sseq, fACK, nil, now}, 0)
				}
			}
		}
		if held != nil {
			emit(*held)
		}
		tick()
		r.now = now
		switch p.u8() % 5 {
		case 1: // orderly close, the client first
			r.send(c.cli, c.srv, c.cseq, c.sseq, fFIN|fACK, nil)
			r.send(c.srv, c.cli, c.sseq, c.cseq+1, fFIN|fACK, nil)
			r.send(c.cli, c.srv, c.cseq+1, c.sseq+1, fACK, nil)
		case 2: // the server closes first
			r.send(c.srv, c.cli, c.sseq, c.cseq, fFIN|fACK, nil)
			r.send(c.cli, c.srv, c.cseq, c.sseq+1, fFIN|fACK, nil)
		case 3:
			r.send(c.srv, c.cli, c.sseq, c.cseq, fRST|fACK, nil)
		case 4:
			r.send(c.cli, c.srv, c.cseq, c.sseq, fRST, nil)
		}
		if p.u8()&1 == 1 { // the same client reuses the port later
			r.now += 2 * time.Minute
			c2 := newConn(c.cli, c.srv)
			c2.cseq = c.cseq + 100000
			r.handshake(c2)
			r.clientData(c2, client[:min(len(client), 600)], mss)
			r.serverData(c2, server[:min(len(server), 600)], mss)
		}
		s := r.finish()
		for rule, n := range r.sink.findings {
			if suite.Lookup(rule) == nil {
				t.Errorf("%d findings of unregistered rule %q", n, rule)
			}
		}
		for _, fd := range r.sink.kept {
			if fd.Message == "" || fd.Severity < analyze.Info || fd.Severity > analyze.Error {
				t.Errorf("malformed finding %+v", fd)
			}
			for _, fr := range fd.Frames {
				if fr.Frame < 1 || fr.Frame > r.ord {
					t.Errorf("%s cites frame %d of %d: %s", fd.Rule, fr.Frame, r.ord, fd.Message)
				}
			}
		}
		if s.Packets != r.ord {
			t.Errorf("summary counts %d packets, %d were sent", s.Packets, r.ord)
		}
	}
}

// newPipe is a rig without heap measurement (a GC per fuzz input would
// make the fuzzer crawl) whose sink also keeps the findings.
func newPipe(t testing.TB, opts reassembly.Options, httpOpts http1.Options) *rig {
	r := &rig{t: t, sink: newCountingSink(), tmpl: newFrameTemplate(),
		t0: time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)}
	r.sink.keep = true
	r.eng = analyze.NewEngine(nil, suite.Rules, r.sink)
	opts.Consumers = r.eng.HTTP1Consumers(httpOpts)
	r.asm = reassembly.NewAssembler(r.eng, opts)
	return r
}

// pipelineSeeds cover what the parser and the rules know about: keep-alive,
// pipelining, chunked bodies, framing conflicts, bodiless responses,
// CONNECT and Upgrade tunnels, HTTP/1.0 keep-alive, proxies, garbage.
var pipelineSeeds = []struct{ client, server, plan string }{
	{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "\x00\x00\x00\x00\x00\x00\x10\x01\x00\x10\x01\x01"},
	{"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nPOST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", "\x00\x00\x00\x00\x00\x00\xff\x10\x05\x01\x30\x10\x02"},
	{"POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "\x00\x00\x00\x00\x00\x00\x07\x10\x02\x01\x11\x00\x01\x03"},
	{"HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /late HTTP/1.1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\nbodybytes", "\x00\x00\x00\x00\x00\x00\x40\x10\x00\x01\x33\x10\x03"},
	{"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01\x00\x10hello-tls-bytes",
		"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03\x00\x20server-tls", "\x00\x00\x00\x00\x00\x00\x20\x10\x01\x10\x01\x01"},
	{"GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x85abcd\x01\x02\x03\x04\x05",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello", "\x00\x00\x00\x00\x00\x00\x20\x10\x01\x10\x01\x04"},
	{"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nVia: 1.1 proxy\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nKeep-Alive: timeout=5, max=2\r\n\r\nno length, read to close", "\x00\x00\x00\x00\x00\x00\xfa\x10\xfa\x01\xf0\x10\x02"},
	{"GET http://origin/x HTTP/1.1\r\nHost: origin\r\nProxy-Connection: keep-alive\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk", "\x01\x00\x00\x00\x00\x00\x01\x11\x00\x01\x12\x01\x03"},
	{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS on port 80", "\x16\x03\x03\x00\x5a\x02\x00\x00 server hello", "\x00\x00\x00\x00\x00\x00\x10\x10"},
	{"PROXY TCP4 10.0.0.1 10.0.0.2 1234 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "\x00\x00\x00\x00\x00\x00\x10\x10"},
	{"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP host\r\nContent-Length: 0\r\n\r\n", "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "\x30\x00\x00\x00\x00\x00\x10\x10"},
	{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\npartial", "\x06\x80\x04\x20\x08\x01\x00\x00\x05\x01\x11\x02\x03\x01\x01\x02"},
}
