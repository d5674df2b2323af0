package analyze

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// A small capture simulator for the lifecycle rules: it makes
// *reassembly.Conn values and drives an Engine with ConnStart, Segment,
// Message, Transaction and ConnEnd the way the Assembler does, packet by
// packet with global frame numbers, no pcap needed.

type lcCap struct {
	e    *Engine
	sink *recorder
	ord  int64
	ids  uint64
	base time.Time
}

func newLC(cfg *Config, rules ...string) *lcCap {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	for _, id := range rules {
		cfg.Enabled[id] = true
	}
	s := &recorder{}
	return &lcCap{e: NewEngine(cfg, Rules, s), sink: s, base: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
}

func (k *lcCap) pos(ms float64) flow.Pos {
	k.ord++
	return flow.Pos{Time: k.base.Add(time.Duration(ms * float64(time.Millisecond))), Frame: k.ord, Ord: k.ord}
}

func (k *lcCap) close() *recorder {
	k.e.Close()
	return k.sink
}

type lcConn struct {
	k    *lcCap
	c    *reassembly.Conn
	sent [2]uint64
	n    int
	last *http1.Message
}

// open starts a connection with a full handshake (rtt ms) at ms.
func (k *lcCap) open(client, server string, ms, rtt float64) *lcConn {
	k.ids++
	c := &reassembly.Conn{ID: k.ids, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server), HTTP: true}
	lc := &lcConn{k: k, c: c}
	c.SYN = k.pos(ms)
	c.First, c.Last = c.SYN, c.SYN
	k.e.ConnStart(c)
	lc.emit(c.SYN, flow.ClientToServer, 0, reassembly.SYN)
	c.SYNACK = k.pos(ms + rtt/2)
	lc.emit(c.SYNACK, flow.ServerToClient, 0, reassembly.SYN|reassembly.ACK)
	c.HandshakeACK = k.pos(ms + rtt)
	lc.emit(c.HandshakeACK, flow.ClientToServer, 0, reassembly.ACK)
	return lc
}

// refused: a SYN answered by RST.
func (k *lcCap) refused(client, server string, ms float64) {
	k.ids++
	c := &reassembly.Conn{ID: k.ids, Client: netip.MustParseAddrPort(client), Server: netip.MustParseAddrPort(server)}
	lc := &lcConn{k: k, c: c}
	c.SYN = k.pos(ms)
	c.First, c.Last = c.SYN, c.SYN
	k.e.ConnStart(c)
	lc.emit(c.SYN, flow.ClientToServer, 0, reassembly.SYN)
	lc.rst(flow.ServerToClient, ms+0.1)
	c.End = reassembly.EndRefused
	k.e.ConnEnd(c)
}

func (lc *lcConn) emit(p flow.Pos, d flow.Dir, n int, fl reassembly.Flags) {
	p.Offset = lc.sent[d]
	s := &reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: fl}
	if fl.Has(reassembly.ACK) {
		s.AckOffset, s.AckValid = lc.sent[1-d], true
	}
	lc.sent[d] += uint64(n)
	lc.c.Halves[d].Bytes = lc.sent[d]
	lc.c.Halves[d].Segments++
	lc.c.Last = p
	lc.k.e.Segment(lc.c, s)
}

// data sends n bytes from d at ms (acknowledging everything of the peer).
func (lc *lcConn) data(d flow.Dir, ms float64, n int) flow.Pos {
	p := lc.k.pos(ms)
	p.Offset = lc.sent[d]
	lc.emit(p, d, n, reassembly.ACK|reassembly.PSH)
	return p
}

// dataNoAck sends n bytes whose ACK field acknowledges only upTo bytes of the peer.
func (lc *lcConn) dataAck(d flow.Dir, ms float64, n int, upTo uint64) flow.Pos {
	p := lc.k.pos(ms)
	p.Offset = lc.sent[d]
	s := &reassembly.Segment{Pos: p, Dir: d, Len: n, Flags: reassembly.ACK | reassembly.PSH, AckOffset: upTo, AckValid: true}
	lc.sent[d] += uint64(n)
	lc.c.Halves[d].Bytes = lc.sent[d]
	lc.c.Last = p
	lc.k.e.Segment(lc.c, s)
	return p
}

func (lc *lcConn) ack(d flow.Dir, ms float64) { lc.emit(lc.k.pos(ms), d, 0, reassembly.ACK) }

func (lc *lcConn) fin(d flow.Dir, ms float64) {
	p := lc.k.pos(ms)
	lc.emit(p, d, 0, reassembly.FIN|reassembly.ACK)
	lc.c.Halves[d].FIN = &p
}

func (lc *lcConn) rst(d flow.Dir, ms float64) {
	p := lc.k.pos(ms)
	lc.emit(p, d, 0, reassembly.RST|reassembly.ACK)
	lc.c.Halves[d].RST = &p
}

// request sends a request of n bytes (headers name/value pairs) and delivers its message.
func (lc *lcConn) request(method, target string, ms float64, body int64, headers ...string) *http1.Message {
	p := lc.data(flow.ClientToServer, ms, 200+int(body))
	m := &http1.Message{Dir: flow.ClientToServer, Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: p, HeaderEnd: p, Last: p, ContentLength: body, BodyLength: body, Index: lc.n}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	lc.k.e.Message(lc.c, m)
	lc.last = m
	return m
}

// response answers with n body bytes at ms (proto "HTTP/1.1" unless set in
// headers as ":proto"), acks it from the client, and settles the transaction.
func (lc *lcConn) response(q *http1.Message, status int, ms float64, n int, headers ...string) *http1.Message {
	p := lc.data(flow.ServerToClient, ms, 150+n)
	m := &http1.Message{Dir: flow.ServerToClient, Status: status, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: p, HeaderEnd: p, Last: p, ContentLength: int64(n), BodyLength: int64(n), BodyBytes: int64(n), Framing: http1.FramingContentLength}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == ":proto" {
			m.Proto, m.Minor = headers[i+1], int(headers[i+1][7]-'0')
			continue
		}
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	lc.k.e.Message(lc.c, m)
	lc.ack(flow.ClientToServer, ms+0.2)
	lc.settle(q, m)
	return m
}

func (lc *lcConn) settle(q, r *http1.Message) {
	lc.k.e.Transaction(lc.c, &http1.Transaction{Index: lc.n, Request: q, Response: r})
	lc.n++
}

// get is one complete GET exchange: request at ms, response rtt later.
func (lc *lcConn) get(target string, ms, rtt float64, respHeaders ...string) {
	q := lc.request("GET", target, ms, 0)
	lc.response(q, 200, ms+rtt, 100, respHeaders...)
}

// closeFIN: d closes first at ms, the peer answers with its FIN, d acks.
func (lc *lcConn) closeFIN(d flow.Dir, ms float64) {
	lc.fin(d, ms)
	lc.fin(1-d, ms+0.5)
	lc.ack(d, ms+1)
	lc.end(reassembly.EndFIN)
}

func (lc *lcConn) end(r reassembly.EndReason) {
	lc.c.End = r
	lc.k.e.ConnEnd(lc.c)
}

// lcCase is one table row: build drives the capture; want findings of the
// rule; says is a substring the first finding's message must contain.
type lcCase struct {
	name  string
	cfg   func(*Config)
	build func(k *lcCap)
	want  int
	says  []string
}

func runLC(t *testing.T, rule string, cases []lcCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(cfg)
			}
			k := newLC(cfg, rule)
			tc.build(k)
			got := k.close().byRule(rule)
			if len(got) != tc.want {
				for _, f := range got {
					t.Logf("finding: %s", f.Message)
				}
				t.Fatalf("%s: got %d findings, want %d", rule, len(got), tc.want)
			}
			for _, s := range tc.says {
				if !strings.Contains(got[0].Message, s) {
					t.Errorf("message %q does not mention %q", got[0].Message, s)
				}
			}
			for _, f := range got {
				if len(f.Frames) == 0 || f.Hint == "" {
					t.Errorf("finding lacks evidence: %+v", f)
				}
			}
			if testing.Verbose() && len(got) > 0 {
				t.Logf("%s", got[0].Message)
			}
		})
	}
}

const (
	cli = "10.0.0.1:50000"
	srv = "10.0.0.2:80"
	c2s = flow.ClientToServer
	s2c = flow.ServerToClient
)
