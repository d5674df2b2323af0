// Package analyzetest drives an analyze.Engine with synthetic connection
// events, as reassembly.Assembler would, for rule tests: no pcap needed.
// Script plays one connection's messages and transactions; Capture plays
// packets (segments with offsets, ACKs, windows, FIN/RST) of several
// connections with one frame counter, and Replay delivers connections built
// whole. Tests assert on finding attributes (rule, severity, frames,
// transaction, duration, Attrs) read from a Recorder, not on message text.
package analyzetest

import (
	"net/netip"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Recorder is an analyze.Sink that keeps everything.
type Recorder struct {
	Findings []*analyze.Finding
	Conns    []*analyze.ConnReport
}

func (r *Recorder) Finding(f *analyze.Finding)       { r.Findings = append(r.Findings, f) }
func (r *Recorder) Connection(c *analyze.ConnReport) { r.Conns = append(r.Conns, c) }

// ByRule returns the findings of rule id, in report order.
func (r *Recorder) ByRule(id string) []*analyze.Finding {
	var out []*analyze.Finding
	for _, f := range r.Findings {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

// T0 is the capture time every synthetic connection starts from.
var T0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// At builds a position: frame n at T0 + ms milliseconds; Ord = frame.
func At(frame int64, ms float64) flow.Pos {
	return flow.Pos{Time: T0.Add(time.Duration(ms * float64(time.Millisecond))), Frame: frame, Ord: frame}
}

// NewConn makes an HTTP connection 10.0.0.1:51234 → 10.0.0.2:80 starting
// at frame 1.
func NewConn(id uint64) *reassembly.Conn {
	return &reassembly.Conn{
		ID:     id,
		Client: netip.MustParseAddrPort("10.0.0.1:51234"),
		Server: netip.MustParseAddrPort("10.0.0.2:80"),
		First:  At(1, 0),
		Last:   At(1, 0),
		HTTP:   true,
	}
}

// Req builds an HTTP/1.1 request from start to end (headers: name, value
// pairs).
func Req(method, target string, start, end flow.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: flow.ClientToServer, Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: end, Last: end, ContentLength: -1}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}

// Resp builds an HTTP/1.1 Content-Length-framed response.
func Resp(status int, start, end flow.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: flow.ServerToClient, Status: status, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: start, Last: end, ContentLength: -1, Framing: http1.FramingContentLength}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}

// Script drives an Engine with one connection's events, in order.
type Script struct {
	T   *testing.T
	Rec *Recorder
	E   *analyze.Engine
	C   *reassembly.Conn
	n   int
}

// NewScript starts connection 1 on an engine running rules; when enable
// names rule IDs, only those run (cfg.Enabled). cfg nil means the defaults.
func NewScript(t *testing.T, cfg *analyze.Config, rules []*analyze.Rule, enable ...string) *Script {
	if cfg == nil {
		cfg = analyze.DefaultConfig()
	}
	for _, id := range enable {
		cfg.Enabled[id] = true
	}
	rec := &Recorder{}
	s := &Script{T: t, Rec: rec, E: analyze.NewEngine(cfg, rules, rec), C: NewConn(1)}
	s.E.ConnStart(s.C)
	return s
}

// Tx delivers a request/response pair as the parser would: messages first,
// then the transaction.
func (s *Script) Tx(q, r *http1.Message) *http1.Transaction {
	t := &http1.Transaction{Index: s.n, Request: q, Response: r}
	s.n++
	s.Deliver(t)
	return t
}

// Deliver delivers t's request and response, then t.
func (s *Script) Deliver(t *http1.Transaction) {
	for _, m := range []*http1.Message{t.Request, t.Response} {
		if m != nil {
			s.E.Message(s.C, m)
			if m.Last.Ord > s.C.Last.Ord {
				s.C.Last = m.Last
			}
		}
	}
	s.E.Transaction(s.C, t)
}

// End ends the connection and the run, and returns the recorder.
func (s *Script) End() *Recorder {
	s.E.ConnEnd(s.C)
	s.E.Close()
	return s.Rec
}

// Seg delivers a data segment: dir, frame (also Ord), stream offset and
// length, and the peer-stream offset it acknowledges.
func (s *Script) Seg(dir flow.Dir, frame int64, ms float64, off uint64, n int, ack uint64) {
	p := At(frame, ms)
	p.Offset = off
	s.E.Segment(s.C, &reassembly.Segment{Pos: p, Dir: dir, Len: n, Flags: reassembly.ACK, AckOffset: ack, AckValid: true})
}
