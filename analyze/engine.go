package analyze

import (
	"net/netip"
	"slices"
	"sort"
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
	conns  map[uint64]*connState
	sum    Summary
	// txHist counts HTTP connections by number of transactions (for the median).
	txHist    map[int]int64
	pairs     map[pairKey]int
	pairsFull bool
	// evicted remembers connections that were evicted (table full or idle)
	// by their endpoints, so that the mid-stream piece reassembly starts
	// when more of their packets arrive is counted as the same connection:
	// the summary counts connections seen, whatever --max-conns tracks.
	evicted map[tupleKey]pieceCount
	// ticked is the latest time given to Advance (the clock never goes back).
	ticked time.Time
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

// checkerEntry is one installed checker and who it belongs to: a rule, or a
// pass (rule nil).
type checkerEntry[T any] struct {
	rule *Rule
	pass *Pass
	c    T
}

type connState struct {
	ctx    Ctx
	report *ConnReport
	counts map[string]int

	segs []checkerEntry[SegmentChecker]
	gaps []checkerEntry[GapChecker]
	incs []checkerEntry[InconsistencyChecker]
	msgs []checkerEntry[MessageChecker]
	txs  []checkerEntry[TransactionChecker]
	recs []checkerEntry[RecordChecker]
	ends []checkerEntry[EndChecker]
	sum  ConnSummary
	tls  *TLSFlow // nil unless the connection is TLS (tls_records.go)

	passes []Checker // per-connection pass results, as Engine.passes
	close  CloseFacts
	acks   ackIndex
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
	fp := c.e.emitAs(c.rule, f)
	c.st.report.Findings = append(c.st.report.Findings, fp)
}

// ResultOf returns the per-connection result of pass p (the pass's checker),
// which the current rule must list in Requires. Passes' packages wrap it in
// a typed accessor.
func (c *Ctx) ResultOf(p *Pass) Checker {
	if c.rule == nil || !slices.Contains(c.rule.Requires, p) {
		panic("analyze: ResultOf(" + p.Name + ") from a rule that does not require it")
	}
	return c.st.passes[slices.Index(c.e.passes, p)]
}

// Transactions returns the reports of the transactions settled so far on
// this connection (bounded by MaxTransactionsPerConn).
func (c *Ctx) Transactions() []*TxReport { return c.st.report.Transactions }

// Close returns how the connection closed (first FIN or RST of each side).
// It is computed once, when the connection ends: call it from End.
func (c *Ctx) Close() *CloseFacts { return &c.st.close }

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

// emitAs records f with the severity already decided.
func (e *Engine) emitAs(r *Rule, f Finding) *Finding {
	f.Rule = r.ID
	fp := &f
	e.sum.FindingsByRule[f.Rule]++
	e.sum.FindingsBySeverity[f.Severity.String()]++
	if e.sink != nil {
		e.sink.Finding(fp)
	}
	return fp
}

// ConnStart implements reassembly.Handler.
func (e *Engine) ConnStart(c *reassembly.Conn) {
	// maps are made on first use: most connections of a SYN flood or a scan
	// never carry a message or a finding
	st := &connState{report: &ConnReport{}}
	st.ctx = Ctx{Conn: c, Config: e.cfg, e: e, st: st}
	if len(e.passes) > 0 {
		st.passes = make([]Checker, len(e.passes))
	}
	for i, p := range e.passes {
		if p.NewConn != nil {
			st.passes[i] = p.NewConn(e.cfg)
			st.install(nil, p, st.passes[i])
		}
	}
	for _, r := range e.rules {
		if r.NewConn != nil {
			st.install(r, nil, r.NewConn(e.cfg))
		}
	}
	e.conns[c.ID] = st
	if e.sum.Start.IsZero() || c.First.Time.Before(e.sum.Start) {
		e.sum.Start = c.First.Time
	}
}

// install adds a checker to the dispatch lists of the interfaces it
// implements (Validate made sure there is at least one).
func (st *connState) install(r *Rule, p *Pass, ch Checker) {
	if x, ok := ch.(SegmentChecker); ok {
		st.segs = append(st.segs, checkerEntry[SegmentChecker]{r, p, x})
	}
	if x, ok := ch.(GapChecker); ok {
		st.gaps = append(st.gaps, checkerEntry[GapChecker]{r, p, x})
	}
	if x, ok := ch.(InconsistencyChecker); ok {
		st.incs = append(st.incs, checkerEntry[InconsistencyChecker]{r, p, x})
	}
	if x, ok := ch.(MessageChecker); ok {
		st.msgs = append(st.msgs, checkerEntry[MessageChecker]{r, p, x})
	}
	if x, ok := ch.(TransactionChecker); ok {
		st.txs = append(st.txs, checkerEntry[TransactionChecker]{r, p, x})
	}
	if x, ok := ch.(RecordChecker); ok {
		st.recs = append(st.recs, checkerEntry[RecordChecker]{r, p, x})
	}
	if x, ok := ch.(EndChecker); ok {
		st.ends = append(st.ends, checkerEntry[EndChecker]{r, p, x})
	}
}

// Segment implements reassembly.Handler.
func (e *Engine) Segment(c *reassembly.Conn, s *reassembly.Segment) {
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	st.acks.add(s)
	for _, x := range st.segs {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.Segment(&st.ctx, s)
	}
}

// Gap implements reassembly.Handler.
func (e *Engine) Gap(c *reassembly.Conn, g reassembly.Gap) {
	e.sum.Gaps++
	e.sum.GapBytes += g.Bytes
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	for _, x := range st.gaps {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.Gap(&st.ctx, g)
	}
}

// Inconsistency implements reassembly.Handler.
func (e *Engine) Inconsistency(c *reassembly.Conn, in reassembly.Inconsistency) {
	e.sum.Inconsistencies++
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	for _, x := range st.incs {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.Inconsistency(&st.ctx, in)
	}
}

// Message implements reassembly.Handler.
func (e *Engine) Message(c *reassembly.Conn, m *http1.Message) {
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	for _, x := range st.msgs {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.Message(&st.ctx, m)
	}
}

// Transaction implements reassembly.Handler. http1 delivers a transaction
// after all of its messages (tested in reassembly/http1), so rules see
// finished transactions only; the engine does not re-check.
func (e *Engine) Transaction(c *reassembly.Conn, t *http1.Transaction) {
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	e.sum.Transactions++
	st.report.TransactionCount++
	tr := NewTxReport(t)
	if tr.Index == 1 && c.HandshakeACK.Frame != 0 && c.SYN.Frame != 0 {
		// the first transaction paid for the handshake
		tr.Timing.Connect = c.HandshakeACK.Time.Sub(c.SYN.Time)
	}
	if len(st.report.Transactions) < e.cfg.MaxTransactionsPerConn {
		st.report.Transactions = append(st.report.Transactions, tr)
	} else {
		st.report.TransactionsDropped++
	}
	if req := t.Request; req != nil && req.HasToken("Connection", "close") {
		st.sum.ClientAskedClose = true
	}
	if resp := t.Response; resp != nil {
		if resp.HasToken("Connection", "close") {
			st.sum.ServerAskedClose = true
		}
		st.sum.ServerOfferedPersistence = OffersPersistence(resp)
		st.sum.KeepAliveTimeout = 0
		if ka := ParseKeepAlive(resp); ka.HasTimeout {
			st.sum.KeepAliveTimeout = ka.Timeout
		}
	}
	for _, x := range st.txs {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.Transaction(&st.ctx, t)
	}
}

// ConnEnd implements reassembly.Handler.
func (e *Engine) ConnEnd(c *reassembly.Conn) {
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	delete(e.conns, c.ID)
	st.close = closeFactsOf(c)
	for _, x := range st.ends {
		st.ctx.rule, st.ctx.pass = x.rule, x.pass
		x.c.End(&st.ctx)
	}
	e.tallyConn(c, st)
	st.report.describe(c)
	// A connection connlint stopped following (table full, idle timeout)
	// has no known end and maybe more transactions: the cross-connection
	// rules reason about when connections close and what they carried,
	// so it is kept out of them (no finding may rest on evicted data).
	evicted := c.End == reassembly.EndEvicted || c.End == reassembly.EndIdle
	if len(e.aggs) > 0 && !evicted {
		st.sum.Conn = &st.report.Conn
		st.sum.Transactions = st.report.Transactions
		st.sum.FirstCloser = st.close.First
		st.sum.Close = st.close
		st.sum.TransactionCount = st.report.TransactionCount
		st.sum.TLS = st.tls
		for _, a := range e.aggs {
			a.agg.Conn(a.rep, &st.sum)
		}
	}
	if e.sink != nil {
		e.sink.Connection(st.report)
	}
}

func (e *Engine) tallyConn(c *reassembly.Conn, st *connState) {
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
	if (c.End == reassembly.EndEvicted || c.End == reassembly.EndIdle) && len(e.evicted) < maxEvicted {
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
	n := st.report.TransactionCount
	if n > 1 {
		s.Reused++
	}
	e.txHist[n]++
	k := pairKey{client: c.Client.Addr(), server: c.Server}
	if _, ok := e.pairs[k]; ok || len(e.pairs) < maxPairs {
		e.pairs[k]++
	} else {
		e.pairsFull = true
	}
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
	for _, a := range e.aggs {
		if t, ok := a.agg.(Ticker); ok {
			t.Tick(a.rep, now)
		}
	}
}

// Close flushes the cross-connection rules and returns the summary. Call it
// after the Assembler's Close (which ends every connection).
func (e *Engine) Close() *Summary {
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

// NewTxReport builds the report row of a transaction.
func NewTxReport(t *http1.Transaction) *TxReport {
	tr := &TxReport{Index: t.Index + 1, Unsolicited: t.Unsolicited, Gap: t.Gap, Timing: &Breakdown{}}
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

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}
