package analyze

import (
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/http1"
)

// Sink receives the engine's output as it becomes final: each finding as soon
// as it is reported, each connection when it ends (with its findings).
type Sink interface {
	Finding(f *Finding)
	Connection(c *ConnReport)
}

// maxFindingsPerRuleConn bounds how often one rule reports on one connection;
// the rest are counted in Summary.Suppressed.
const maxFindingsPerRuleConn = 50

// maxFree bounds each of the engine's free lists (Engine.freeCheckers,
// freeAcks): enough for the connections that end between two starts on a
// busy link, small beside the connections open at once.
const maxFree = 1024

// maxFreeAckRing is the largest ACK index ring kept for reuse (entries):
// most connections carry a few requests, and a full ring (ackIndexSize)
// is 6 KiB, which maxFree of them would hold for nothing.
const maxFreeAckRing = 32

// maxPairs bounds the client→server pair table of the summary.
const maxPairs = 10000

// Engine runs the rules. It implements reassembly.Handler: feed it from an
// Assembler, then call Close once the Assembler is closed.
type Engine struct {
	cfg    *Config
	sink   Sink
	rules  []*Rule
	passes []*Pass // required by an enabled rule, in order of first mention
	aggs   []aggEntry
	slots  []slot // per-connection checker kinds: passes, then rules
	passAt map[*Pass]int
	disp   dispatch
	conns  map[uint64]*connState
	// last is the state of the connection the latest event was for: the
	// Assembler gives a connection's segments in runs (a response's burst,
	// its ACKs), and most events then skip the map (issue 15). ConnEnd
	// clears it.
	last *connState
	sum  Summary
	// txHist counts HTTP connections by number of transactions (for the median).
	txHist    map[int]int64
	pairs     map[pairKey]int
	pairsFull bool
	// q, when set (StartAggregator), carries findings and connection ends
	// to the aggregator goroutine, which runs the cross-connection rules
	// and the sink in the order the events were posted.
	q *aggQueue
	// evicted remembers connections that were evicted (table full or idle)
	// by their endpoints, so that the mid-stream piece reassembly starts
	// when more of their packets arrive is counted as the same connection:
	// the summary counts connections seen, whatever --max-conns tracks.
	evicted map[tupleKey]pieceCount
	// ticked is the latest time given to Advance (the clock never goes back).
	ticked time.Time
	// freeCheckers and freeAcks are the checker tables and ACK index rings
	// of ended connections, for the next ones to start with (bounded by
	// maxFree). Both serve only the per-connection side and are dropped
	// from the connection's state at its end, so nothing else holds them:
	// every connection needs one table, and a connection with client data
	// a ring (issue 15).
	freeCheckers [][]Checker
	freeAcks     [][]ackEntry

	// A shard (shard.go) runs the per-connection side for one Assembler
	// of several; its events are stamped with key and merged by the
	// engine that made it (merger), which runs the aggregator side.
	// shardOf is a shard's siblings (itself included), nil when the engine
	// is not a shard; its fixed tables (evicted) are shared out between them.
	shardOf []*Engine
	key     reassembly.EventKey
	shards  []*Engine
	merged  chan struct{} // closed when the merger has handled every event
}

type aggEntry struct {
	agg Aggregate
	rep *Reporter
}

// tupleKey is a connection's endpoints in a fixed order (a mid-stream piece
// may have guessed client and server the other way round).
type tupleKey struct{ a, b netip.AddrPort }

func tupleOf(c *reassembly.Conn) tupleKey {
	if c.Client.Compare(c.Server) < 0 {
		return tupleKey{c.Client, c.Server}
	}
	return tupleKey{c.Server, c.Client}
}

// pieceCount says what an evicted connection was already counted as.
type pieceCount struct{ http, notHTTP bool }

// maxEvicted bounds Engine.evicted; beyond it pieces count as connections.
const maxEvicted = 1 << 16

type pairKey struct {
	client netip.Addr
	server netip.AddrPort
}

// slot is one per-connection checker kind: a pass's (rule nil) or a rule's.
// Passes come first, in Engine.passes order, so that a pass has seen an
// event before any rule reading its result does.
type slot struct {
	rule    *Rule
	pass    *Pass
	newConn func(*Config) Checker
}

// dispatch lists, per event kind, the slots whose checker implements it (in
// slot order). The kinds a checker implements are a property of its type,
// read once from a prototype when the engine is made.
type dispatch struct {
	segs, gaps, incs, msgs, txs, recs, ends []int
	recycle                                 []int // Recycler
}

// connState is what the engine keeps per live connection. Checkers are made
// on first use (the first event of a kind the checker implements, or a
// rule's ResultOf): a connection that never carried data (a SYN flood, a
// scan) holds the few segment checkers only, not one of every rule.
type connState struct {
	ctx Ctx
	// The report is made at ConnEnd (a ConnReport is near a kilobyte, and
	// thousands of connections are open at once on a busy link, issue 15)
	// and travels in the connection's end event (aggEvent.report); until
	// then the connection's transactions and findings are kept here.
	txs       []*TxReport // bounded by MaxTransactionsPerConn
	txCount   int
	txDropped int
	findings  []*Finding
	tlsReport *TLSReport
	counts    map[string]int

	checkers []Checker // by slot; nil until first use
	// sum.TLS is the connection's TLS flow from its first record on, nil
	// unless the connection is TLS (tls_records.go), and sum.Close how it
	// closed (Ctx.Close), set at its end: the summary's fields are the only
	// copies, so that connState fits a smaller size class (288 bytes, not
	// 352: a SYN flood makes one per SYN, issue 15). Only the aggregates
	// read the summary, and only of a connection that was not evicted.
	sum ConnSummary

	acks ackIndex
}

// checker returns slot i's checker on st, making it on first use.
func (e *Engine) checker(st *connState, i int) Checker {
	if c := st.checkers[i]; c != nil {
		return c
	}
	return e.newChecker(st, i)
}

// newChecker makes slot i's checker on st (Segment's loop calls it
// directly: checker is not inlined there, and the loop runs for every
// segment).
func (e *Engine) newChecker(st *connState, i int) Checker {
	c := e.slots[i].newConn(e.cfg)
	st.checkers[i] = c
	return c
}

// at sets the Ctx's current rule or pass to slot i's.
func (st *connState) at(s *slot) {
	st.ctx.rule, st.ctx.pass = s.rule, s.pass
}

// NewEngine makes an engine running every rule of rules that cfg enables
// (the suite: suite.Rules), and the passes they require.
func NewEngine(cfg *Config, rules []*Rule, sink Sink) *Engine {
	if cfg == nil {
		cfg = DefaultConfig()
	}
	e := &Engine{cfg: cfg, sink: sink, conns: map[uint64]*connState{}, txHist: map[int]int64{}, pairs: map[pairKey]int{}, evicted: map[tupleKey]pieceCount{}}
	e.sum.FindingsByRule = map[string]int{}
	e.sum.FindingsBySeverity = map[string]int{}
	for _, r := range rules {
		if !cfg.On(r.ID) {
			continue
		}
		e.rules = append(e.rules, r)
		for _, p := range r.Requires {
			if !slices.Contains(e.passes, p) {
				e.passes = append(e.passes, p)
			}
		}
	}
	// pass aggregates first: a rule's aggregate reads what they released
	for _, p := range e.passes {
		if p.NewAggregate != nil {
			e.aggs = append(e.aggs, aggEntry{agg: p.NewAggregate(cfg), rep: &Reporter{e: e, pass: p}})
		}
	}
	for _, r := range e.rules {
		if r.NewAggregate != nil {
			e.aggs = append(e.aggs, aggEntry{agg: r.NewAggregate(cfg), rep: &Reporter{e: e, rule: r}})
		}
	}
	for _, a := range e.aggs {
		a.rep.aggs = e.aggs
	}
	e.passAt = map[*Pass]int{}
	for _, p := range e.passes {
		if p.NewConn != nil {
			e.passAt[p] = len(e.slots)
			e.slots = append(e.slots, slot{pass: p, newConn: p.NewConn})
		}
	}
	for _, r := range e.rules {
		if r.NewConn != nil {
			e.slots = append(e.slots, slot{rule: r, newConn: r.NewConn})
		}
	}
	for i, sl := range e.slots {
		proto := sl.newConn(cfg)
		if _, ok := proto.(SegmentChecker); ok {
			e.disp.segs = append(e.disp.segs, i)
		}
		if _, ok := proto.(GapChecker); ok {
			e.disp.gaps = append(e.disp.gaps, i)
		}
		if _, ok := proto.(InconsistencyChecker); ok {
			e.disp.incs = append(e.disp.incs, i)
		}
		if _, ok := proto.(MessageChecker); ok {
			e.disp.msgs = append(e.disp.msgs, i)
		}
		if _, ok := proto.(TransactionChecker); ok {
			e.disp.txs = append(e.disp.txs, i)
		}
		if _, ok := proto.(RecordChecker); ok {
			e.disp.recs = append(e.disp.recs, i)
		}
		if _, ok := proto.(EndChecker); ok {
			e.disp.ends = append(e.disp.ends, i)
		}
		if r, ok := proto.(Recycler); ok {
			e.disp.recycle = append(e.disp.recycle, i)
			r.Recycle() // the prototype served its purpose
		}
	}
	return e
}

// Config returns the engine's configuration.
func (e *Engine) Config() *Config { return e.cfg }

// Ctx is what a per-connection checker sees: the connection, the
// configuration, a way to report, and the results of the passes its rule
// requires.
type Ctx struct {
	Conn   *reassembly.Conn
	Config *Config
	e      *Engine
	st     *connState
	rule   *Rule // the rule whose checker runs; nil while a pass runs
	pass   *Pass
}

// Report records a finding for the current rule on this connection. Rule,
// severity and connection are filled in. Passes report nothing.
func (c *Ctx) Report(f Finding) {
	if c.rule == nil {
		panic("analyze: pass " + c.pass.Name + " reported a finding")
	}
	if c.st.counts == nil {
		c.st.counts = map[string]int{}
	}
	c.st.counts[c.rule.ID]++
	if c.st.counts[c.rule.ID] > maxFindingsPerRuleConn {
		c.e.sum.Suppressed++
		return
	}
	f.Conn = ConnRef{ID: c.Conn.ID, Client: c.Conn.Client, Server: c.Conn.Server}
	// A rule may set a lower severity on one finding (a fact about the
	// capture rather than the endpoints, e.g. a message cut by the end of
	// the capture, is info: DESIGN "Trust"). The lower of it and the rule's
	// configured severity wins, whatever the user configured: raising a
	// rule to error must not turn a capture note into a failing finding.
	if cfgSev := c.e.cfg.SeverityOf(c.rule); f.Severity == 0 || f.Severity > cfgSev {
		f.Severity = cfgSev
	}
	f.Rule = c.rule.ID
	fp := &f
	c.e.post(aggEvent{f: fp})
	c.st.findings = append(c.st.findings, fp)
}

// ResultOf returns the per-connection result of pass p (the pass's checker),
// which the current rule must list in Requires. Passes' packages wrap it in
// a typed accessor.
func (c *Ctx) ResultOf(p *Pass) Checker {
	if c.rule == nil || !slices.Contains(c.rule.Requires, p) {
		panic("analyze: ResultOf(" + p.Name + ") from a rule that does not require it")
	}
	i, ok := c.e.passAt[p]
	if !ok {
		return nil // a pass with no per-connection part
	}
	return c.e.checker(c.st, i)
}

// Transactions returns the reports of the transactions settled so far on
// this connection (bounded by MaxTransactionsPerConn).
func (c *Ctx) Transactions() []*TxReport { return c.st.txs }

// Close returns how the connection closed (first FIN or RST of each side).
// It is computed once, when the connection ends: call it from End.
func (c *Ctx) Close() *CloseFacts { return &c.st.sum.Close }

// SetSummaryData stores v on this connection's summary for the current
// rule's (or pass's) own aggregate, which reads it with
// Reporter.SummaryData.
func (c *Ctx) SetSummaryData(v any) {
	if c.st.sum.Data == nil {
		c.st.sum.Data = map[string]any{}
	}
	c.st.sum.Data[c.key()] = v
}

func (c *Ctx) key() string {
	if c.rule != nil {
		return c.rule.ID
	}
	return c.pass.Name
}

// Reporter lets a cross-connection rule report.
type Reporter struct {
	e    *Engine
	rule *Rule // nil for a pass
	pass *Pass
	aggs []aggEntry
}

// Report records a finding for the reporter's rule.
func (r *Reporter) Report(f Finding) {
	if r.rule == nil {
		panic("analyze: pass " + r.pass.Name + " reported a finding")
	}
	f.Across = true
	r.e.emit(r.rule, f)
}

// Config returns the run's configuration.
func (r *Reporter) Config() *Config { return r.e.cfg }

// ResultOf returns pass p's aggregate, which the reporter's rule must list
// in Requires.
func (r *Reporter) ResultOf(p *Pass) Aggregate {
	if r.rule == nil || !slices.Contains(r.rule.Requires, p) {
		panic("analyze: ResultOf(" + p.Name + ") from a rule that does not require it")
	}
	for _, a := range r.aggs {
		if a.rep.pass == p {
			return a.agg
		}
	}
	return nil
}

// SummaryData returns what this rule's (or pass's) checker stored on s with
// Ctx.SetSummaryData, or nil.
func (r *Reporter) SummaryData(s *ConnSummary) any {
	if r.rule != nil {
		return s.Data[r.rule.ID]
	}
	return s.Data[r.pass.Name]
}

// WindowDropped counts n entries a cross-connection window let go early
// because it was full (Summary.WindowDropped).
func (r *Reporter) WindowDropped(n int64) { r.e.sum.WindowDropped += n }

// maxProxyChains bounds Summary.ProxyChains.
const maxProxyChains = 1000

// AddProxyChain lists a transaction seen on both legs of a proxy in the
// run's summary (bounded by maxProxyChains; the rest are counted).
func (r *Reporter) AddProxyChain(ch ProxyChain) {
	s := &r.e.sum
	if len(s.ProxyChains) >= maxProxyChains {
		s.ProxyChainsDropped++
		return
	}
	s.ProxyChains = append(s.ProxyChains, ch)
}

func (e *Engine) emit(r *Rule, f Finding) *Finding {
	// A rule may lower one finding's severity (Finding.Severity set); the
	// user's configured severity for the rule still wins.
	if _, set := e.cfg.Severity[r.ID]; set || f.Severity == 0 {
		f.Severity = e.cfg.SeverityOf(r)
	}
	return e.emitAs(r, f)
}

// emitAs records f with the severity already decided (aggregator side).
func (e *Engine) emitAs(r *Rule, f Finding) *Finding {
	f.Rule = r.ID
	fp := &f
	e.deliver(fp)
	return fp
}

// deliver counts a finding and hands it to the sink (aggregator side).
func (e *Engine) deliver(fp *Finding) {
	e.sum.FindingsByRule[fp.Rule]++
	e.sum.FindingsBySeverity[fp.Severity.String()]++
	if e.sink != nil {
		e.sink.Finding(fp)
	}
}

// aggEvent is what the per-connection side hands to the aggregator side: a
// finding, or a connection end (its report and summary, no longer touched
// by the per-connection side).
type aggEvent struct {
	f       *Finding
	st      *connState
	report  *ConnReport // st's, with st
	evicted bool
	tick    time.Time // set: Advance's time, for the Ticker aggregates

	// From a shard (shard.go): where the event stands in the one order
	// of events, and the shard's bookkeeping events.
	key  reassembly.EventKey
	kind shardEvent
	id   uint64 // the shard's connection number (idTaken, idUnused)
}

// aggQueue batches events to the aggregator goroutine. The channel is
// bounded, so the per-connection side waits when the aggregator lags:
// memory stays bounded by aggQueueDepth batches.
type aggQueue struct {
	ch   chan []aggEvent
	buf  []aggEvent
	free chan []aggEvent
	done chan struct{}
}

const (
	aggBatch      = 256
	aggQueueDepth = 16
)

// StartAggregator moves the cross-connection rules and the sink to a
// goroutine of their own, fed in order with the findings and connection
// ends the per-connection side produces: the output is the same, in the
// same order, as without it. From then on the sink is called from that
// goroutine only, until Close returns. Use it when nothing but the engine
// reads the sink's state during the run (a file, not a live capture whose
// loss accounting shares state with the handler).
func (e *Engine) StartAggregator() {
	if e.q != nil {
		return
	}
	q := &aggQueue{ch: make(chan []aggEvent, aggQueueDepth), free: make(chan []aggEvent, aggQueueDepth+2), done: make(chan struct{})}
	e.q = q
	go func() {
		defer close(q.done)
		for b := range q.ch {
			for i := range b {
				e.handle(b[i])
				b[i] = aggEvent{}
			}
			select {
			case q.free <- b[:0]:
			default:
			}
		}
	}()
}

// post hands ev to the aggregator side: now, or through the queue.
func (e *Engine) post(ev aggEvent) {
	q := e.q
	if q == nil {
		e.handle(ev)
		return
	}
	ev.key = e.key
	if q.buf == nil {
		select {
		case q.buf = <-q.free:
		default:
			q.buf = make([]aggEvent, 0, aggBatch)
		}
	}
	q.buf = append(q.buf, ev)
	if len(q.buf) == aggBatch {
		q.ch <- q.buf
		q.buf = nil
	}
}

// stopAggregator sends what is left and waits for the goroutine to finish.
func (e *Engine) stopAggregator() {
	q := e.q
	if q == nil {
		return
	}
	if len(q.buf) > 0 {
		q.ch <- q.buf
	}
	close(q.ch)
	<-q.done
	e.q = nil
}

// handle runs on the aggregator side.
func (e *Engine) handle(ev aggEvent) {
	if ev.f != nil {
		e.deliver(ev.f)
		return
	}
	if !ev.tick.IsZero() {
		for _, a := range e.aggs {
			if t, ok := a.agg.(Ticker); ok {
				t.Tick(a.rep, ev.tick)
			}
		}
		return
	}
	st := ev.st
	if len(e.aggs) > 0 && !ev.evicted {
		for _, a := range e.aggs {
			a.agg.Conn(a.rep, &st.sum)
		}
	}
	e.tallyPair(ev.report)
	if e.sink != nil {
		e.sink.Connection(ev.report)
	}
}

// tallyPair counts an HTTP connection for its client→server pair
// (aggregator side, in the one order of connection ends: which pairs are
// listed once maxPairs is reached does not depend on shards).
func (e *Engine) tallyPair(r *ConnReport) {
	if !r.HTTP {
		return
	}
	k := pairKey{client: r.Client.Addr(), server: r.Server}
	if _, ok := e.pairs[k]; ok || len(e.pairs) < maxPairs {
		e.pairs[k]++
	} else {
		e.pairsFull = true
	}
}

// ConnStart implements reassembly.Handler.
func (e *Engine) ConnStart(c *reassembly.Conn) {
	// maps are made on first use: most connections of a SYN flood or a scan
	// never carry a message or a finding
	st := &connState{}
	st.ctx = Ctx{Conn: c, Config: e.cfg, e: e, st: st}
	if n := len(e.freeCheckers); n > 0 {
		st.checkers = e.freeCheckers[n-1]
		e.freeCheckers[n-1] = nil
		e.freeCheckers = e.freeCheckers[:n-1]
	} else {
		st.checkers = make([]Checker, len(e.slots))
	}
	if n := len(e.freeAcks); n > 0 {
		st.acks.ring = e.freeAcks[n-1]
		e.freeAcks[n-1] = nil
		e.freeAcks = e.freeAcks[:n-1]
	}
	e.conns[c.ID] = st
	if e.sum.Start.IsZero() || c.First.Time.Before(e.sum.Start) {
		e.sum.Start = c.First.Time
	}
}

// state returns c's state, nil if it has none (never started, or ended).
func (e *Engine) state(c *reassembly.Conn) *connState {
	if st := e.last; st != nil && st.ctx.Conn == c {
		return st
	}
	st := e.conns[c.ID]
	if st != nil {
		e.last = st
	}
	return st
}

// Segment implements reassembly.Handler.
func (e *Engine) Segment(c *reassembly.Conn, s *reassembly.Segment) {
	st := e.state(c)
	if st == nil {
		return
	}
	st.acks.add(s)
	for _, i := range e.disp.segs {
		st.at(&e.slots[i])
		c := st.checkers[i]
		if c == nil {
			c = e.newChecker(st, i)
		}
		c.(SegmentChecker).Segment(&st.ctx, s)
	}
}

// Gap implements reassembly.Handler.
func (e *Engine) Gap(c *reassembly.Conn, g reassembly.Gap) {
	e.sum.Gaps++
	e.sum.GapBytes += g.Bytes
	st := e.state(c)
	if st == nil {
		return
	}
	for _, i := range e.disp.gaps {
		st.at(&e.slots[i])
		e.checker(st, i).(GapChecker).Gap(&st.ctx, g)
	}
}

// Inconsistency implements reassembly.Handler.
func (e *Engine) Inconsistency(c *reassembly.Conn, in reassembly.Inconsistency) {
	e.sum.Inconsistencies++
	st := e.state(c)
	if st == nil {
		return
	}
	for _, i := range e.disp.incs {
		st.at(&e.slots[i])
		e.checker(st, i).(InconsistencyChecker).Inconsistency(&st.ctx, in)
	}
}

// Message implements reassembly.Handler.
func (e *Engine) Message(c *reassembly.Conn, m *http1.Message) {
	st := e.state(c)
	if st == nil {
		return
	}
	for _, i := range e.disp.msgs {
		st.at(&e.slots[i])
		e.checker(st, i).(MessageChecker).Message(&st.ctx, m)
	}
}

// Transaction implements reassembly.Handler. http1 delivers a transaction
// after all of its messages (tested in reassembly/http1), so rules see
// finished transactions only; the engine does not re-check.
func (e *Engine) Transaction(c *reassembly.Conn, t *http1.Transaction) {
	st := e.state(c)
	if st == nil {
		return
	}
	e.sum.Transactions++
	st.txCount++
	// A report beyond the per-connection bound is not kept, and nothing
	// else reads it: it is not built (issue 15).
	if len(st.txs) < e.cfg.MaxTransactionsPerConn {
		tr := NewTxReport(t)
		if tr.Index == 1 && c.HandshakeACK.Frame != 0 && c.SYN.Frame != 0 {
			// the first transaction paid for the handshake
			tr.Timing.Connect = c.HandshakeACK.Time.Sub(c.SYN.Time)
		}
		// the report lives until the connection ends (a keep-alive
		// connection keeps thousands): its strings must not pin the
		// message's whole header block (issue 15)
		var prev *TxReport
		if n := len(st.txs); n > 0 {
			prev = st.txs[n-1]
		}
		tr.detachSharing(prev)
		st.txs = append(st.txs, tr)
	} else {
		st.txDropped++
	}
	if req := t.Request; req != nil && req.HasToken("Connection", "close") {
		st.sum.ClientAskedClose = true
	}
	if resp := t.Response; resp != nil {
		closes := resp.HasToken("Connection", "close")
		if closes {
			st.sum.ServerAskedClose = true
		}
		st.sum.ServerOfferedPersistence = offersPersistence(resp, closes)
		st.sum.KeepAliveTimeout = 0
		if ka := ParseKeepAlive(resp); ka.HasTimeout {
			st.sum.KeepAliveTimeout = ka.Timeout
		}
	}
	for _, i := range e.disp.txs {
		st.at(&e.slots[i])
		e.checker(st, i).(TransactionChecker).Transaction(&st.ctx, t)
	}
}

// ConnEnd implements reassembly.Handler.
func (e *Engine) ConnEnd(c *reassembly.Conn) {
	st := e.state(c)
	if st == nil {
		return
	}
	e.last = nil
	delete(e.conns, c.ID)
	st.sum.Close = closeFactsOf(c)
	for _, i := range e.disp.ends {
		st.at(&e.slots[i])
		e.checker(st, i).(EndChecker).End(&st.ctx)
	}
	for _, i := range e.disp.recycle {
		if c := st.checkers[i]; c != nil {
			c.(Recycler).Recycle()
		}
	}
	report := &ConnReport{Transactions: st.txs, TransactionsDropped: st.txDropped, TransactionCount: st.txCount, Findings: st.findings, TLS: st.tlsReport}
	st.txs, st.findings, st.tlsReport = nil, nil, nil
	e.tallyConn(c, report)
	report.describe(c)
	// A connection connlint stopped following (table full, idle timeout)
	// has no known end and maybe more transactions: the cross-connection
	// rules reason about when connections close and what they carried,
	// so it is kept out of them (no finding may rest on evicted data).
	evicted := c.End == reassembly.EndEvicted || c.End == reassembly.EndIdle
	if len(e.aggs) > 0 && !evicted {
		st.sum.Conn = &report.Conn
		st.sum.Transactions = report.Transactions
		st.sum.FirstCloser = st.sum.Close.First
		st.sum.TransactionCount = report.TransactionCount
	}
	st.ctx.Conn = nil // the Assembler's connection: not ours past its end
	// The checkers and the ACK index served the connection's events, which
	// have all come: the aggregator reads only the report and the summary.
	// Dropping them here frees them while the connection waits in the
	// aggregator's queue (up to aggQueueDepth×aggBatch of them, issue 15).
	if len(e.freeCheckers) < maxFree {
		clear(st.checkers) // the checkers themselves go
		e.freeCheckers = append(e.freeCheckers, st.checkers)
	}
	if c := cap(st.acks.ring); c > 0 && c <= maxFreeAckRing && len(e.freeAcks) < maxFree {
		e.freeAcks = append(e.freeAcks, st.acks.ring[:0])
	}
	st.checkers, st.acks = nil, ackIndex{}
	e.post(aggEvent{st: st, report: report, evicted: evicted})
}

func (e *Engine) tallyConn(c *reassembly.Conn, r *ConnReport) {
	s := &e.sum
	tk := tupleOf(c)
	prev, piece := e.evicted[tk]
	piece = piece && c.SYN.Frame == 0 // a client SYN starts a new connection (port reuse)
	delete(e.evicted, tk)
	if !piece {
		s.Connections++
		if c.MidStream {
			s.MidStream++
		}
		prev = pieceCount{}
	}
	if (c.End == reassembly.EndEvicted || c.End == reassembly.EndIdle) && len(e.evicted) < maxEvicted/max(1, len(e.shardOf)) {
		e.evicted[tk] = pieceCount{http: prev.http || c.HTTP, notHTTP: prev.notHTTP || c.NotHTTP}
	}
	if c.Last.Time.After(s.End) {
		s.End = c.Last.Time
	}
	switch c.End {
	case reassembly.EndRefused:
		s.Refused++
	case reassembly.EndRST:
		s.Reset++
	case reassembly.EndOpen:
		s.OpenAtEnd++
	}
	if c.NotHTTP && !prev.notHTTP && !prev.http {
		s.NonHTTP++
	}
	if !c.HTTP {
		return
	}
	if !prev.http {
		s.HTTPConnections++
	}
	n := r.TransactionCount
	if n > 1 {
		s.Reused++
	}
	e.txHist[n]++
}

// Advance tells the cross-connection rules that capture time has reached
// now with no connection ending (a live capture's tick; call it after the
// Assembler's Advance, which ends the connections due by then). Aggregates
// implementing Ticker get the call, passes first; a time before the last
// one is ignored. Reading a file needs no Advance: packets carry the time.
func (e *Engine) Advance(now time.Time) {
	if now.Before(e.ticked) {
		return
	}
	e.ticked = now
	// through the aggregator's queue when it runs on its own goroutine
	// (StartAggregator), so that ticks and connection ends keep their order
	// and the aggregates are only ever touched by one goroutine
	e.post(aggEvent{tick: now})
}

// Close flushes the cross-connection rules and returns the summary. Call it
// after the Assembler's Close (which ends every connection).
func (e *Engine) Close() *Summary {
	e.stopAggregator()
	e.stopMerger()
	for _, a := range e.aggs {
		a.agg.Flush(a.rep)
	}
	s := &e.sum
	// transactions per HTTP connection: min, median, max from the histogram
	var ns []int
	var total int64
	for n, cnt := range e.txHist {
		ns = append(ns, n)
		total += cnt
	}
	sort.Ints(ns)
	if len(ns) > 0 {
		s.TxPerConnMin, s.TxPerConnMax = ns[0], ns[len(ns)-1]
		var seen int64
		for _, n := range ns {
			seen += e.txHist[n]
			if seen*2 >= total {
				s.TxPerConnMedian = n
				break
			}
		}
	}
	s.Pairs = s.Pairs[:0]
	for k, n := range e.pairs {
		s.Pairs = append(s.Pairs, PairCount{Client: k.client.String(), Server: k.server.String(), Connections: n})
	}
	sort.Slice(s.Pairs, func(i, j int) bool {
		a, b := s.Pairs[i], s.Pairs[j]
		if a.Connections != b.Connections {
			return a.Connections > b.Connections
		}
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.Server < b.Server
	})
	return s
}

// Summary gives access to the running tally (e.g. to add capture statistics).
func (e *Engine) Summary() *Summary { return &e.sum }

// txBox is a transaction's report and its breakdown in one allocation:
// they live and die together, and every transaction makes one (issue 15).
type txBox struct {
	tr TxReport
	b  Breakdown
}

// NewTxReport builds the report row of a transaction.
func NewTxReport(t *http1.Transaction) *TxReport {
	box := &txBox{}
	tr := &box.tr
	*tr = TxReport{Index: t.Index + 1, Unsolicited: t.Unsolicited, Gap: t.Gap, Timing: &box.b}
	if q := t.Request; q != nil {
		tr.HasRequest = true
		tr.Method, tr.Target, tr.Proto = q.Method, q.Target, q.Proto
		tr.Host, _ = q.Get("Host")
		tr.RequestBody = q.BodyLength
		tr.RequestStart, tr.RequestEnd = q.Start, q.Last
		tr.Timing.Send = q.Last.Time.Sub(q.Start.Time)
	}
	first := t.Response
	if len(t.Interim) > 0 {
		first = t.Interim[0]
	}
	if r := t.Response; r != nil {
		tr.HasResponse = true
		tr.Status, tr.Reason = r.Status, r.Reason
		if tr.Proto == "" {
			tr.Proto = r.Proto
		}
		tr.ResponseBody = r.BodyLength
		tr.ResponseComplete = r.End == http1.EndComplete
		// ResponseStart is the final response (what a user looks for); TTFB
		// counts from the first byte of any response, a 100 Continue included.
		tr.ResponseStart, tr.ResponseEnd = r.Start, r.Last
		tr.Timing.Receive = r.Last.Time.Sub(r.Start.Time)
		if tr.HasRequest {
			tr.TTFB = nonNeg(first.Start.Time.Sub(tr.RequestStart.Time))
			tr.Total = nonNeg(r.Last.Time.Sub(tr.RequestStart.Time))
			// after a 100 Continue the body is sent, then the server works:
			// wait is from the last request byte to the final response
			tr.Timing.Wait = nonNeg(r.Start.Time.Sub(tr.RequestEnd.Time))
		}
	}
	return tr
}

// detach copies the strings that point into a message's header block, so a
// kept report costs its own bytes, not the block's. Registered methods
// (http1.KnownMethod), the usual versions and "OK" become shared constants;
// the rest is copied.
func (tr *TxReport) detach() { tr.detachSharing(nil) }

// detachSharing is detach, taking a target or host equal to prev's (the
// connection's previous kept report, nil if none) from prev instead of
// copying it again: a keep-alive connection names one host, often one
// target, many times. What is left to copy goes into one string, sliced:
// one allocation per report instead of one per field (issue 15); the
// pieces live as long as the report does either way.
func (tr *TxReport) detachSharing(prev *TxReport) {
	method, proto, target, host, reason := &tr.Method, &tr.Proto, &tr.Target, &tr.Host, &tr.Reason
	if m := http1.KnownMethod(tr.Method); m != "" {
		tr.Method, method = m, nil
	}
	switch tr.Proto {
	case "HTTP/1.1":
		tr.Proto, proto = "HTTP/1.1", nil
	case "HTTP/1.0":
		tr.Proto, proto = "HTTP/1.0", nil
	}
	if tr.Reason == "OK" {
		tr.Reason, reason = "OK", nil // the constant, not the block's bytes
	}
	if prev != nil {
		if tr.Target == prev.Target {
			tr.Target, target = prev.Target, nil
		}
		if tr.Host == prev.Host {
			tr.Host, host = prev.Host, nil
		}
	}
	fields := [...]*string{method, proto, target, host, reason}
	n := 0
	for _, f := range fields {
		if f != nil {
			n += len(*f)
		}
	}
	if n == 0 {
		for _, f := range fields {
			if f != nil {
				*f = "" // empty: nothing to pin
			}
		}
		return
	}
	var b strings.Builder
	b.Grow(n)
	for _, f := range fields {
		if f != nil {
			b.WriteString(*f)
		}
	}
	all := b.String()
	at := 0
	for _, f := range fields {
		if f == nil {
			continue
		}
		if l := len(*f); l > 0 {
			*f = all[at : at+l]
			at += l
		} else {
			*f = ""
		}
	}
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
