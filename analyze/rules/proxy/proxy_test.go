package proxy

import (
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// The proxy tests build connections whose transactions are given whole
// (legSpec) and replay them through an engine (runLegs), or feed the leg
// pairer directly (legs_test.go).

// family is this package's rules, as the suite lists them.
var family = []*analyze.Rule{HopByHopForwarded, DumbProxyKeepAlive}

// runLegs drives an engine with the proxy rules over synthetic connections,
// ending them in capture order, and returns what was reported.
func runLegs(t *testing.T, specs ...*legSpec) (*analyzetest.Recorder, *analyze.Summary) {
	t.Helper()
	k := analyzetest.NewCapture(t, nil, family, HopByHopForwarded.ID, DumbProxyKeepAlive.ID)
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].conn().Last.Ord < specs[j].conn().Last.Ord })
	for _, s := range specs {
		var txs []*http1.Transaction
		for i, m := range s.txs {
			txs = append(txs, &http1.Transaction{Index: i, Request: m[0], Response: m[1]})
		}
		k.Replay(s.conn(), txs...)
	}
	rec := k.Close()
	return rec, k.Summary
}

// Synthetic legs: positions are milliseconds after t0; a position's Ord (and
// Frame) is its time in microseconds, so capture order is time order.

func lpos(ms float64) flow.Pos {
	us := int64(math.Round(ms * 1000))
	return flow.Pos{Time: analyzetest.T0.Add(time.Duration(us) * time.Microsecond), Frame: us + 1, Ord: us + 1}
}

// lreq is a request whose header block spans [start, start+0.01 ms].
func lreq(method, target, proto string, start float64, hdrs ...string) *http1.Message {
	m := analyzetest.Req(method, target, lpos(start), lpos(start+0.01), hdrs...)
	m.Proto = proto
	if proto == "HTTP/1.0" {
		m.Minor = 0
	}
	return m
}

// lresp is a complete response from start to end.
func lresp(status int, start, end float64, hdrs ...string) *http1.Message {
	return analyzetest.Resp(status, lpos(start), lpos(end), hdrs...)
}

// legSpec is one connection of a synthetic capture.
type legSpec struct {
	id             uint64
	client, server string
	txs            [][2]*http1.Message // request, response (nil: none)
	// closes: ms of the first FIN by the client / server side, 0 = none
	finClient, finServer float64
	rstServer            float64
	last                 float64
	gap                  bool
	// syn: ms of the client's SYN, 0 = not captured (the connection was
	// open before the capture's view of it mattered)
	syn float64
	// oneWay: only the client's direction was captured
	oneWay bool
}

func (s *legSpec) conn() *reassembly.Conn {
	c := &reassembly.Conn{
		ID: s.id, Client: netip.MustParseAddrPort(s.client), Server: netip.MustParseAddrPort(s.server), HTTP: true,
		End: reassembly.EndOpen,
	}
	first, last := 1e18, s.last
	for _, tx := range s.txs {
		for _, m := range tx {
			if m == nil {
				continue
			}
			first = min(first, float64(m.Start.Ord-1)/1000)
			last = max(last, float64(m.Last.Ord-1)/1000)
		}
	}
	set := func(ms float64) *flow.Pos {
		if ms == 0 {
			return nil
		}
		p := lpos(ms)
		last = max(last, ms)
		c.End = reassembly.EndFIN
		return &p
	}
	c.Halves[0].FIN = set(s.finClient)
	c.Halves[1].FIN = set(s.finServer)
	c.Halves[1].RST = set(s.rstServer)
	if s.syn != 0 {
		c.SYN = lpos(s.syn)
		first = min(first, s.syn)
	}
	c.First, c.Last = lpos(first), lpos(last)
	// both directions carried packets unless the spec says otherwise
	c.Halves[0].Segments = 1
	if !s.oneWay {
		c.Halves[1].Segments = 1
	}
	if s.gap {
		c.Gaps = []reassembly.Gap{{Dir: 1, Offset: 10, Bytes: 100}}
	}
	return c
}

// summary runs the collector over the connection's transactions, as the
// engine does, and returns the ConnSummary an aggregator receives.
func (s *legSpec) summary() *analyze.ConnSummary {
	sum := &analyze.ConnSummary{Conn: s.conn()}
	if len(s.txs) == 0 {
		return sum // the collector stores nothing before a transaction
	}
	c := &legConn{}
	for i, tx := range s.txs {
		c.collect(&http1.Transaction{Index: i, Request: tx[0], Response: tx[1]})
	}
	sum.Data = map[string]any{LegsPass.Name: c}
	return sum
}

// pairs feeds the summaries (in connection-end order) to a pairer and
// returns the pairs as "client-conn/tx>upstream-conn/tx", sorted.
func pairs(cfg *analyze.Config, specs ...*legSpec) []string {
	if cfg == nil {
		cfg = analyze.DefaultConfig()
	}
	p := newLegPairer(cfg)
	var out []string
	p.pair = func(a, b *legTx) {
		out = append(out, fmt.Sprintf("%d/%d>%d/%d", a.conn.ref.ID, a.index, b.conn.ref.ID, b.index))
	}
	sums := make([]*analyze.ConnSummary, 0, len(specs))
	for _, s := range specs {
		sums = append(sums, s.summary())
	}
	sort.SliceStable(sums, func(i, j int) bool { return sums[i].Conn.Last.Ord < sums[j].Conn.Last.Ord })
	for _, s := range sums {
		p.add(s, legsData(s))
	}
	p.flush()
	sort.Strings(out)
	return out
}

func tx(q, r *http1.Message) [2]*http1.Message { return [2]*http1.Message{q, r} }

func wantPairs(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pairs = %v, want %v", got, want)
	}
}

const (
	proxyIn  = "10.0.0.2:3128"
	proxyOut = "10.0.0.2:40001"
	origin   = "10.0.0.9:80"
)
