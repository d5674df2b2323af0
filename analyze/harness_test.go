package analyze

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// recorder is a Sink that keeps everything.
type recorder struct {
	findings []*Finding
	conns    []*ConnReport
}

func (r *recorder) Finding(f *Finding)       { r.findings = append(r.findings, f) }
func (r *recorder) Connection(c *ConnReport) { r.conns = append(r.conns, c) }

func (r *recorder) byRule(id string) []*Finding {
	var out []*Finding
	for _, f := range r.findings {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// at builds a position: frame n at t0 + ms milliseconds; Ord = frame.
func at(frame int64, ms float64) http1.Pos {
	return http1.Pos{Time: t0.Add(time.Duration(ms * float64(time.Millisecond))), Frame: frame, Ord: frame}
}

func newConn(id uint64) *reassembly.Conn {
	return &reassembly.Conn{
		ID:     id,
		Client: netip.MustParseAddrPort("10.0.0.1:51234"),
		Server: netip.MustParseAddrPort("10.0.0.2:80"),
		First:  at(1, 0),
		Last:   at(1, 0),
		HTTP:   true,
	}
}

func req(method, target string, start, end http1.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: http1.ClientToServer, Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: end, Last: end, ContentLength: -1}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}

func resp(status int, start, end http1.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: http1.ServerToClient, Status: status, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: start, Last: end, ContentLength: -1, Framing: http1.FramingContentLength}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}

// script drives an Engine with one connection's events, in order.
type script struct {
	t   *testing.T
	rec *recorder
	e   *Engine
	c   *reassembly.Conn
	n   int
}

func newScript(t *testing.T, cfg *Config, rules ...string) *script {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	for _, id := range rules {
		cfg.Enabled[id] = true
	}
	rec := &recorder{}
	s := &script{t: t, rec: rec, e: NewEngine(cfg, Rules, rec), c: newConn(1)}
	s.e.ConnStart(s.c)
	return s
}

// tx delivers a request/response pair as the parser would: messages first,
// then the transaction.
func (s *script) tx(q, r *http1.Message) *http1.Transaction {
	t := &http1.Transaction{Index: s.n, Request: q, Response: r}
	s.n++
	s.deliver(t)
	return t
}

func (s *script) deliver(t *http1.Transaction) {
	for _, m := range []*http1.Message{t.Request, t.Response} {
		if m != nil {
			s.e.Message(s.c, m)
			if m.Last.Ord > s.c.Last.Ord {
				s.c.Last = m.Last
			}
		}
	}
	s.e.Transaction(s.c, t)
}

func (s *script) end() *recorder {
	s.e.ConnEnd(s.c)
	s.e.Close()
	return s.rec
}

// seg delivers a data segment: dir, frame (also Ord), stream offset and
// length, and the peer-stream offset it acknowledges.
func (s *script) seg(dir reassembly.Dir, frame int64, ms float64, off uint64, n int, ack uint64) {
	p := at(frame, ms)
	p.Offset = off
	s.e.Segment(s.c, &reassembly.Segment{Pos: p, Dir: dir, Len: n, Flags: reassembly.ACK, AckOffset: ack, AckValid: true})
}
