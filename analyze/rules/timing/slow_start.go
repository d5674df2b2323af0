package timing

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// SlowStartFreshConnection: a response needed several round trips because
// it went on a new connection, whose congestion window starts at the
// initial window (RFC 6928: 10 segments) and only doubles per round trip
// (RFC 5681 slow start), while a connection from the same client to the same
// server had already grown its window and sat idle.
//
// Two halves: a per-connection flight counter (NewConn) that writes a
// compact ConnTiming into the connection's summary, and a cross-connection
// aggregate (NewAggregate) that pairs a fresh connection's slow response
// with a warm, idle sibling. The pair is judged when the later of the two
// connections ends, so the order in which they end does not matter.
var SlowStartFreshConnection = &analyze.Rule{
	ID:       "slow-start-fresh-connection",
	Severity: analyze.Info,
	Title:    "response spent round trips in slow start beside an idle warm connection",
	NewConn:  func(cfg *analyze.Config) analyze.Checker { return newFlightCounter(cfg) },
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate {
		return &slowStartAgg{cfg: cfg, keys: map[pairKey][]*ssEntry{}}
	},
}

const (
	// maxFlights bounds the server→client flights remembered per
	// connection: the first response's flights are what matters, and slow
	// start from 10 segments fills any real path within 20 round trips.
	maxFlights = 32
	// maxFlightSizes bounds the per-flight segment counts shown in a finding.
	maxFlightSizes = 12
	// minFreshFlights: "several round trips". Two flights are one doubling
	// of the initial window (a response of 11–30 segments); from three on
	// the cost is a visible multiple of the RTT.
	minFreshFlights = 3
	// ssMaxPerPair / ssMaxBusy bound the aggregate: connections kept per
	// client→server pair, transactions (busy spans) kept per connection.
	ssMaxPerPair = 32
	ssMaxBusy    = 64
	// ssSweepEvery: connections between full expiry sweeps of the table.
	ssSweepEvery = 1024
)

// ConnTiming is what the timing rules tell the cross-connection
// aggregate about one connection: a few numbers, no packets.
type ConnTiming struct {
	RTT       time.Duration // end-to-end RTT from the handshake (0: no handshake seen)
	MSS       int           // the server's send MSS
	WarmAt    time.Time     // when the server had delivered 2 × initial-window full segments (zero: never)
	MaxFlight int64         // the largest server→client flight, bytes: what one round trip could carry
	Fresh     *FreshResponse
}

// FreshResponse is a connection's first response when it took more than
// one flight (round trip) to deliver.
type FreshResponse struct {
	Tx            int // 1-based
	Request       string
	ReqStart      time.Time
	Bytes         int64 // response bytes on the wire
	Flights       int
	Segments      []int // segments per flight (first maxFlightSizes)
	Start, Last   flow.Pos
	SYN           flow.Pos
	FirstFlightSz int64
}

// flight is one round trip's worth of server data as seen at the capture
// point (see roundEnds).
//
// A few are inline in every connection's flightCounter, so it is kept to
// 24 bytes (issue 15).
type flight struct {
	start  uint64 // stream offset of its first byte
	bytes  int64
	segs   int32
	appGap bool // the pause before it was not ACK-clocked: the server had nothing to send
}

func (f flight) end() uint64 { return f.start + uint64(f.bytes) }

// flightCounter is SlowStartFresh's per-connection state; the flags are
// kept together so that they share a word (issue 15).
type flightCounter struct {
	rtt, rs  time.Duration // end to end; capture point ↔ server
	lastData int64         // Unix ns (pointer-free hot-path state, see mark)
	end      uint64
	cur      flight
	ackAt    int64 // Unix ns of the first client ACK of the current round's data
	una      uint64
	flights  []flight
	buf      [4]flight // flights' first backing array
	maxFl    int64
	lossAt   uint64
	warmAt   time.Time
	fresh    *FreshResponse

	iw       int32 // initial window, segments (Config.InitialWindowSegs)
	mss      int32 // the server's MSS (an IP datagram's size fits)
	off      bool
	seeded   bool
	started  bool
	haveAck  bool
	full     bool // more flights than maxFlights
	lossSeen bool
}

var (
	_ analyze.SegmentChecker     = (*flightCounter)(nil)
	_ analyze.TransactionChecker = (*flightCounter)(nil)
	_ analyze.EndChecker         = (*flightCounter)(nil)
	_ analyze.Recycler           = (*flightCounter)(nil)
)

// flightPool holds the counters of ended connections: every connection
// that carries a segment makes one, and none outlives its connection (End
// hands the aggregate a ConnTiming of its own; issue 15).
var flightPool = sync.Pool{New: func() any { return new(flightCounter) }}

func newFlightCounter(cfg *analyze.Config) *flightCounter {
	f := flightPool.Get().(*flightCounter)
	f.iw = int32(min(cfg.InitialWindowSegs, math.MaxInt32))
	f.flights = f.buf[:0]
	return f
}

// Recycle implements analyze.Recycler.
func (f *flightCounter) Recycle() {
	*f = flightCounter{}
	flightPool.Put(f)
}

func (f *flightCounter) Segment(ctx *analyze.Ctx, g *reassembly.Segment) {
	if f.off || g.Kind == reassembly.SegDuplicate {
		return
	}
	c := ctx.Conn
	if !f.seeded {
		if c.MidStream || c.RolesGuessed {
			f.off = true // not a new connection as far as we can see
			return
		}
		if c.HandshakeACK.Frame == 0 {
			return
		}
		f.seeded = true
		f.rs = c.SYNACK.Time.Sub(c.SYN.Time)
		f.rtt = c.HandshakeACK.Time.Sub(c.SYN.Time)
		f.mss = int32(sendMSS(c, flow.ServerToClient))
		if f.rtt <= 0 || f.mss == 0 {
			f.off = true
			return
		}
	}
	if g.Dir == flow.ClientToServer {
		if g.AckValid && g.AckOffset > f.una {
			f.una = g.AckOffset
			if f.started && !f.haveAck && g.AckOffset > f.cur.start {
				// the first ACK of this round's data: one capture point ↔
				// server round trip later the server may send the next round
				f.ackAt, f.haveAck = g.Time.UnixNano(), true
			}
		}
		return
	}
	if g.Len == 0 || g.Flags.Has(reassembly.SYN) {
		return
	}
	switch g.Kind {
	case reassembly.SegNew:
	case reassembly.SegRetransmit, reassembly.SegPartialOverlap, reassembly.SegOutOfOrder:
		// Loss recovery (or a capture hole): flights from here on say
		// nothing about slow start.
		if !f.lossSeen {
			f.lossSeen, f.lossAt = true, g.Offset
		}
		return
	default:
		return
	}
	if !f.started {
		f.started = true
		f.cur = flight{start: g.Offset, bytes: int64(g.Len), segs: 1}
	} else if now := g.Time.UnixNano(); f.roundEnds(now) {
		f.closeFlight()
		f.cur = flight{start: g.Offset, bytes: int64(g.Len), segs: 1, appGap: f.appLimited(now)}
		f.haveAck = false
	} else {
		f.cur.bytes += int64(g.Len)
		f.cur.segs++
	}
	f.lastData = g.Time.UnixNano()
	f.end = g.Offset + uint64(g.Len)
	if f.warmAt.IsZero() && f.end >= uint64(2*int(f.iw)*int(f.mss)) {
		f.warmAt = g.Time
	}
}

// roundEnds decides whether new server data at t starts the next round
// trip. Slow start is ACK-clocked: the server sends round k+1 when the
// first ACK of round k reaches it, so at the capture point round k+1 starts
// about rs after that ACK passed (rs = capture point ↔ server RTT). And a
// window-limited server then pauses: it has sent its window and waits, so
// there is a silence of a good part of the RTT (a quarter) before the new
// round. Without the pause the pipe is full and further round trips are
// the path's bandwidth, not the window: they are not counted. Rounds are
// spread out by the bottleneck (and by pacing) at a client-side capture, so
// a plain "gap of half an RTT" would merge them.
func (f *flightCounter) roundEnds(t int64) bool {
	gap := time.Duration(t - f.lastData)
	if !f.haveAck {
		return gap >= f.rtt/2 // no ACK of this round yet: only a long silence starts another
	}
	return gap >= f.rtt/4 && time.Duration(t-f.ackAt) >= f.rs-f.slack()
}

// appLimited: the new round began well after the ACK could have released
// it, so the server was waiting for its application, not for the window.
func (f *flightCounter) appLimited(t int64) bool {
	return !f.haveAck || time.Duration(t-f.ackAt) > f.rs+f.slack()
}

func (f *flightCounter) slack() time.Duration { return releaseSlackMin + f.rs/releaseSlackDiv }

func (f *flightCounter) closeFlight() {
	f.maxFl = max(f.maxFl, f.cur.bytes)
	if len(f.flights) < maxFlights {
		f.flights = append(f.flights, f.cur)
	} else {
		f.full = true
	}
}

// Transaction counts the flights of the connection's first response.
func (f *flightCounter) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if f.off || !f.seeded || t.Index != 0 || t.Gap || t.Request == nil || t.Response == nil || t.Response.End != http1.EndComplete {
		return
	}
	r := t.Response
	from, to := r.Start.Offset, r.Last.Offset+1
	if len(t.Interim) > 0 {
		from = t.Interim[0].Start.Offset
	}
	if f.lossSeen && f.lossAt < to {
		return
	}
	n := len(f.flights)
	if f.full && f.flights[n-1].end() < to {
		return // the response runs past the flights we kept
	}
	// Counted on the stack and kept only when it took several flights:
	// every connection's first response comes here (issue 15).
	fr := FreshResponse{Tx: t.Index + 1, ReqStart: t.Request.Start.Time,
		Bytes: int64(to - from), Start: r.Start, Last: r.Last, SYN: ctx.Conn.SYN}
	if len(t.Interim) > 0 {
		fr.Start = t.Interim[0].Start
	}
	var segs [maxFlightSizes]int
	nsegs := 0
	for i := 0; i <= n; i++ { // the kept flights, then the current one
		fl := f.cur
		if i < n {
			fl = f.flights[i]
		}
		if fl.start >= to || fl.end() <= from {
			continue
		}
		if fr.Flights > 0 && fl.appGap {
			return // the server paused for its application inside the response: not the window
		}
		if fr.Flights == 0 {
			fr.FirstFlightSz = fl.bytes
		}
		fr.Flights++
		if nsegs < maxFlightSizes {
			segs[nsegs] = int(fl.segs)
			nsegs++
		}
	}
	if fr.Flights >= 2 {
		fr.Request = analyze.Describe(t.Request)
		fr.Segments = append([]int(nil), segs[:nsegs]...)
		// a copy, so that fr itself stays on the stack: taking its address
		// would put every first response's on the heap (issue 15)
		kept := new(FreshResponse)
		*kept = fr
		f.fresh = kept
	}
}

// End hands the connection's timing summary to the aggregate.
func (f *flightCounter) End(ctx *analyze.Ctx) {
	if f.off || !f.seeded {
		return
	}
	if f.started {
		f.maxFl = max(f.maxFl, f.cur.bytes)
	}
	if f.warmAt.IsZero() && (f.fresh == nil || f.fresh.Flights < minFreshFlights) {
		return // neither warm nor a slow fresh response: nothing for the aggregate
	}
	ctx.SetSummaryData(&ConnTiming{RTT: f.rtt, MSS: int(f.mss), WarmAt: f.warmAt, MaxFlight: f.maxFl, Fresh: f.fresh})
}

// pairKey is a client address and the server it talks to: the pair whose
// connections are compared.
type pairKey struct {
	client netip.Addr
	server netip.AddrPort
}

// ssEntry is what the aggregate keeps per finished connection.
type ssEntry struct {
	ref       analyze.ConnRef
	syn       time.Time
	end       time.Time // last packet
	closeAt   time.Time // first FIN or RST; zero when it never closed in the capture
	warmAt    time.Time
	maxFlight int64
	busy      []span // its transactions, request start → response end (the last ssMaxBusy)
	busyFrom  time.Time
	rtt       time.Duration
	fresh     *FreshResponse
	done      bool // fresh already reported
}

type span struct{ from, to time.Time }

type slowStartAgg struct {
	cfg    *analyze.Config
	keys   map[pairKey][]*ssEntry
	n      int
	calls  int
	newest time.Time
}

func (a *slowStartAgg) Conn(r *analyze.Reporter, s *analyze.ConnSummary) {
	t, _ := r.SummaryData(s).(*ConnTiming)
	c := s.Conn
	if t == nil || c == nil || c.SYN.Frame == 0 {
		return
	}
	e := &ssEntry{ref: analyze.ConnRef{ID: c.ID, Client: c.Client, Server: c.Server}, syn: c.SYN.Time, end: c.Last.Time,
		warmAt: t.WarmAt, maxFlight: t.MaxFlight, rtt: t.RTT, fresh: t.Fresh}
	if p := s.Close.FirstPos(); p != nil {
		e.closeAt = p.Time
	}
	txs := s.Transactions
	if len(txs) > ssMaxBusy || s.TransactionCount > len(txs) {
		if len(txs) > ssMaxBusy {
			txs = txs[len(txs)-ssMaxBusy:]
		}
		if len(txs) > 0 {
			e.busyFrom = txs[0].RequestStart.Time
		} else {
			e.busyFrom = e.end
		}
	}
	for _, x := range txs {
		sp := span{from: x.RequestStart.Time, to: x.ResponseEnd.Time}
		if !x.HasRequest {
			sp.from = x.ResponseStart.Time
		}
		if !x.HasResponse {
			sp.to = e.end // never answered: busy until the connection ended
		}
		e.busy = append(e.busy, sp)
	}
	if e.end.After(a.newest) {
		a.newest = e.end
	}
	key := pairKey{client: c.Client.Addr(), server: c.Server}
	// Expire the pair at hand on every call, and the whole table now and
	// then: a full sweep per connection would be quadratic in the pairs.
	a.calls++
	if a.calls%ssSweepEvery == 0 {
		a.expire()
	} else {
		a.expireKey(key)
	}
	list := a.keys[key]
	if e.fresh != nil && e.fresh.Flights >= minFreshFlights {
		for _, w := range list {
			if a.report(r, e, w, s) {
				break
			}
		}
	}
	if !e.warmAt.IsZero() {
		for _, f := range list {
			if !f.done && f.fresh != nil && f.fresh.Flights >= minFreshFlights {
				a.report(r, f, e, nil)
			}
		}
	}
	if e.warmAt.IsZero() && (e.fresh == nil || e.done || e.fresh.Flights < minFreshFlights) {
		return // neither half of a future pair
	}
	if len(list) >= ssMaxPerPair {
		list = list[1:]
		a.n--
	}
	if list == nil && len(a.keys) >= a.cfg.CrossMaxEntries {
		return // table full: keep memory flat, lose this pair
	}
	a.keys[key] = append(list, e)
	a.n++
}

// expire drops connections that ended more than CrossWindow (capture time)
// before the newest end seen.
func (a *slowStartAgg) expire() {
	for k := range a.keys {
		a.expireKey(k)
	}
}

func (a *slowStartAgg) expireKey(k pairKey) {
	list := a.keys[k]
	cut := a.newest.Add(-a.cfg.CrossWindow)
	i := 0
	for i < len(list) && list[i].end.Before(cut) {
		i++
	}
	if i == 0 {
		return
	}
	a.n -= i
	if i == len(list) {
		delete(a.keys, k)
	} else {
		a.keys[k] = append(list[:0:0], list[i:]...)
	}
}

// idleWarm reports whether w was open, warm and idle from f's SYN until f's
// request left, and since when it had been idle.
func idleWarm(f, w *ssEntry) (time.Time, bool) {
	fr := f.fresh
	if w.ref.ID == f.ref.ID || !w.syn.Before(f.syn) || w.warmAt.IsZero() || w.warmAt.After(f.syn) {
		return time.Time{}, false
	}
	if !w.closeAt.IsZero() && !w.closeAt.After(fr.ReqStart) {
		return time.Time{}, false // closed (or closing) before the request could have used it
	}
	if !w.busyFrom.IsZero() && !w.busyFrom.Before(f.syn) {
		return time.Time{}, false // its transactions around that time were not kept: cannot tell
	}
	idleSince := w.warmAt
	for _, sp := range w.busy {
		if !sp.from.After(fr.ReqStart) && !sp.to.Before(f.syn) {
			return time.Time{}, false // busy: a new connection was the right call
		}
		if !sp.to.After(f.syn) && sp.to.After(idleSince) {
			idleSince = sp.to
		}
	}
	return idleSince, true
}

// report emits the finding for fresh connection f beside warm w when they
// qualify; cur is f's own summary when f is the connection ending now
// (then its transaction's breakdown still can take the attribution).
func (a *slowStartAgg) report(r *analyze.Reporter, f, w *ssEntry, cur *analyze.ConnSummary) bool {
	idleSince, ok := idleWarm(f, w)
	if !ok || w.maxFlight <= 0 || f.rtt <= 0 {
		return false
	}
	fr := f.fresh
	warmFlights := int((fr.Bytes + w.maxFlight - 1) / w.maxFlight)
	extra := fr.Flights - max(warmFlights, 1)
	if extra < 1 {
		return false
	}
	f.done = true
	cost := time.Duration(extra) * f.rtt
	sizes := make([]string, len(fr.Segments))
	for i, n := range fr.Segments {
		sizes[i] = fmt.Sprint(n)
	}
	if fr.Flights > len(fr.Segments) {
		sizes = append(sizes, "…")
	}
	mss := a.cfg.InitialWindowSegs
	r.Report(analyze.Finding{
		Transaction: fr.Tx,
		Time:        fr.Start.Time,
		Frames:      analyze.Frames(fr.SYN, fr.Start, fr.Last),
		Duration:    cost,
		Related:     []analyze.ConnRef{f.ref, w.ref},
		Message: fmt.Sprintf("%s on new connection %d (%s → %s): the %d-B response took %d round trips (flights of %s segments: slow start from the initial window) while connection %d to the same server was warm (one round trip carried up to %d B there) and idle for %s; about %s, %s, more than on the warm connection",
			fr.Request, f.ref.ID, f.ref.Client, f.ref.Server, fr.Bytes, fr.Flights, strings.Join(sizes, ", "), w.ref.ID,
			w.maxFlight, analyze.Dur(fr.ReqStart.Sub(idleSince)), analyze.Plural(int(extra), "round trip"), analyze.Dur(cost)),
		Hint: "send the request on the idle keep-alive connection (a connection pool that prefers warm connections) instead of opening a new one; note that Linux servers restart slow start after an idle RTO unless net.ipv4.tcp_slow_start_after_idle=0",
		Attrs: map[string]any{
			"flights": fr.Flights, "flight_segments": fr.Segments, "response_bytes": fr.Bytes,
			"warm_connection": w.ref.ID, "warm_max_flight_bytes": w.maxFlight, "extra_round_trips": extra,
			"rtt_ms": analyze.MS(f.rtt), "initial_window_segments": mss,
		},
	})
	if cur != nil {
		for _, t := range cur.Transactions {
			if t.Index == fr.Tx {
				r.Attribute(t, cost)
				break
			}
		}
	}
	return true
}

func (a *slowStartAgg) Flush(r *analyze.Reporter) {}
