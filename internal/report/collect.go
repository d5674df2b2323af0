package report

import (
	"cmp"
	"container/heap"
	"slices"

	"github.com/connlint/connlint/analyze"
)

// Timeline sampling budgets of a Collector.
const (
	// maxTrackedPairs bounds the client→server pairs whose connections a
	// Collector samples for the timelines (besides pinned ones): the page
	// draws the MaxTimelinePairs busiest, so a margin of busy pairs is
	// kept and the quietest is dropped for a new one.
	maxTrackedPairs = 32
	// barBudgetFactor × MaxTimelineConns compact bars are kept per pair;
	// beyond it the sample halves (every other one) and its stride doubles.
	barBudgetFactor = 2
)

// Collector is an analyze.Sink that keeps what the page draws, and only
// that, so memory stays bounded whatever the size of the capture:
//
//   - per rule, the Options.MaxDiagramsPerRule worst findings (by severity,
//     then Duration, then time) and a tally of all (count, worst severity,
//     time lost);
//   - the Options.MaxConnSections worst connections with findings (their
//     transactions cut to Options.MaxTxRows) and a count of the rest;
//   - the Options.MaxCleanConns first connections (by ID) without findings,
//     without their transactions, and a count of the rest;
//   - the first packet of the connections the kept findings name;
//   - for at most maxTrackedPairs client→server pairs (plus those a kept
//     timeline finding names), a sample of at most
//     barBudgetFactor × Options.MaxTimelineConns compact bars (≈ 100 B each).
//
// With the default Options that is 22 rules × 5 findings, 100 + 200
// connection reports (each at most 40 transactions and the findings the
// engine keeps on it, ≤ 50 per rule), and about 36 pairs × 600 bars ≈ 2 MB
// of bars: a few MB in all, whatever the capture holds.
type Collector struct {
	o        Options
	rules    map[string]*ruleKeep
	with     connHeap // worst connections with findings; the least bad on top
	withN    int
	clean    idHeap // first connections without findings; the highest ID on top
	cleanN   int
	pairs    map[pairKey]*pairBars
	first    map[uint64]analyze.Point // first packet of connections ended so far that kept findings name
	wantConn map[uint64]int           // kept ladder findings per connection ID
	findings int
}

type ruleKeep struct {
	worst []*analyze.Finding // at most MaxDiagramsPerRule, unordered
	tally RuleTally
}

// NewCollector returns a Collector bounded by o (zero values: the page's defaults).
func NewCollector(o Options) *Collector {
	return &Collector{o: o.withDefaults(), rules: map[string]*ruleKeep{}, pairs: map[pairKey]*pairBars{},
		first: map[uint64]analyze.Point{}, wantConn: map[uint64]int{}}
}

// Finding keeps f if it is among the worst of its rule so far.
func (c *Collector) Finding(f *analyze.Finding) {
	c.findings++
	rk := c.rules[f.Rule]
	if rk == nil {
		rk = &ruleKeep{}
		c.rules[f.Rule] = rk
	}
	rk.tally.Count++
	rk.tally.Severity = max(rk.tally.Severity, f.Severity)
	if timeLostRules[f.Rule] {
		rk.tally.Lost += f.Duration
	}
	if len(rk.worst) < c.o.MaxDiagramsPerRule {
		rk.worst = append(rk.worst, f)
		c.kept(f)
		return
	}
	// Replace the least bad kept one if f is worse. Ties keep the earlier
	// finding, as the page's stable sort would.
	least := 0
	for i := range rk.worst {
		if worse(rk.worst[i], rk.worst[least]) > 0 {
			least = i
		}
	}
	if worse(f, rk.worst[least]) < 0 {
		c.dropped(rk.worst[least])
		rk.worst[least] = f
		c.kept(f)
	}
}

// kept notes what a kept finding needs: its connections' first packets
// (ladders) or its pair's bars (timelines).
func (c *Collector) kept(f *analyze.Finding) {
	cs := conns(f)
	if IsLadder(f) {
		for _, r := range cs {
			c.wantConn[r.ID]++
		}
		return
	}
	if len(cs) > 0 {
		pk := pairKey{cs[0].Client.Addr(), cs[0].Server}
		pb := c.pairs[pk]
		if pb == nil {
			pb = &pairBars{stride: 1}
			c.pairs[pk] = pb
		}
		pb.pinned = true
	}
}

func (c *Collector) dropped(f *analyze.Finding) {
	if !IsLadder(f) {
		return // a pinned pair stays pinned: a bounded number of pins over a run
	}
	for _, r := range conns(f) {
		if c.wantConn[r.ID]--; c.wantConn[r.ID] <= 0 {
			delete(c.wantConn, r.ID)
			delete(c.first, r.ID)
		}
	}
}

// Connection keeps r if it is among the worst connections with findings or
// the first without, and samples it for its pair's timeline.
func (c *Collector) Connection(r *analyze.ConnReport) {
	if c.wantConn[r.Conn.ID] > 0 {
		c.first[r.Conn.ID] = analyze.Point{Time: r.Conn.First.Time, Input: r.Conn.First.Input, Frame: r.Conn.First.Frame}
	}
	c.sample(r)
	if len(r.Findings) > 0 {
		c.withN++
		if c.with.Len() < c.o.MaxConnSections {
			heap.Push(&c.with, c.trim(r))
		} else if connWorst(r, c.with[0]) < 0 {
			c.with[0] = c.trim(r)
			heap.Fix(&c.with, 0)
		}
		return
	}
	c.cleanN++
	if c.clean.Len() < c.o.MaxCleanConns {
		heap.Push(&c.clean, c.bare(r))
	} else if r.Conn.ID < c.clean[0].Conn.ID {
		c.clean[0] = c.bare(r)
		heap.Fix(&c.clean, 0)
	}
}

// trim copies a report with at most MaxTxRows transactions (the waterfall
// draws no more): a connection may carry thousands.
func (c *Collector) trim(r *analyze.ConnReport) *analyze.ConnReport {
	if len(r.Transactions) <= c.o.MaxTxRows {
		return r
	}
	cp := *r
	cp.TransactionsDropped += len(r.Transactions) - c.o.MaxTxRows
	cp.Transactions = slices.Clone(r.Transactions[:c.o.MaxTxRows])
	return &cp
}

// bare copies a report without transactions: the table of clean
// connections shows only their count.
func (c *Collector) bare(r *analyze.ConnReport) *analyze.ConnReport {
	cp := *r
	cp.Transactions, cp.Gaps = nil, nil
	cp.Conn.Gaps = nil
	return &cp
}

func (c *Collector) sample(r *analyze.ConnReport) {
	pk := pairKey{r.Conn.Client.Addr(), r.Conn.Server}
	pb := c.pairs[pk]
	if pb == nil {
		if c.unpinned() >= maxTrackedPairs {
			c.evictQuietest()
		}
		pb = &pairBars{stride: 1}
		c.pairs[pk] = pb
	}
	pb.add(barOf(r), barBudgetFactor*c.o.MaxTimelineConns)
}

func (c *Collector) unpinned() int {
	n := 0
	for _, pb := range c.pairs {
		if !pb.pinned {
			n++
		}
	}
	return n
}

// evictQuietest drops the unpinned pair with the fewest connections: the
// busy pairs the page draws stay.
func (c *Collector) evictQuietest() {
	var victim pairKey
	least := -1
	for k, pb := range c.pairs {
		if !pb.pinned && (least < 0 || pb.seen < least || pb.seen == least && pairLess(k, victim)) {
			victim, least = k, pb.seen
		}
	}
	if least >= 0 {
		delete(c.pairs, victim)
	}
}

func pairLess(a, b pairKey) bool {
	if c := a.client.Compare(b.client); c != 0 {
		return c < 0
	}
	return a.server.Compare(b.server) < 0
}

// Input returns the page's input from what was kept; the caller adds
// Inputs, Summary, ReadErr and Options.
func (c *Collector) Input() *Input {
	in := &Input{Tally: map[string]RuleTally{}, ConnsWithFindings: c.withN, CleanConns: c.cleanN,
		ConnFirst: map[uint64]analyze.Point{}, pairs: c.pairs, Options: c.o}
	ids := make([]string, 0, len(c.rules))
	for id := range c.rules {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		rk := c.rules[id]
		in.Tally[id] = rk.tally
		in.Findings = append(in.Findings, rk.worst...)
	}
	in.Conns = append(append(in.Conns, c.with...), c.clean...)
	for id, p := range c.first {
		in.ConnFirst[id] = p
	}
	return in
}

// Retained says how much the Collector holds now (for tests of its bounds).
type Retained struct {
	Findings, Conns, Pairs, Bars, ConnFirst int
}

// Retained counts what the Collector holds.
func (c *Collector) Retained() Retained {
	r := Retained{Conns: c.with.Len() + c.clean.Len(), Pairs: len(c.pairs), ConnFirst: len(c.first)}
	for _, rk := range c.rules {
		r.Findings += len(rk.worst)
	}
	for _, pb := range c.pairs {
		r.Bars += len(pb.bars)
	}
	return r
}

// connHeap keeps the least bad connection on top.
type connHeap []*analyze.ConnReport

func (h connHeap) Len() int           { return len(h) }
func (h connHeap) Less(i, j int) bool { return connWorst(h[i], h[j]) > 0 }
func (h connHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *connHeap) Push(x any)        { *h = append(*h, x.(*analyze.ConnReport)) }
func (h *connHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// idHeap keeps the highest connection ID on top.
type idHeap []*analyze.ConnReport

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return cmp.Compare(h[i].Conn.ID, h[j].Conn.ID) > 0 }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(*analyze.ConnReport)) }
func (h *idHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
