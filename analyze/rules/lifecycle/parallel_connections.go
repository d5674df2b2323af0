package lifecycle

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/connlint/connlint/analyze"
)

// ParallelConnections: more than ParallelMax HTTP connections from one client
// IP to one server ip:port were open at the same time. A connection counts as
// open from its first packet to its first FIN or RST: a client that closed
// one and opened the next is not holding both. RFC 9112 §9.4 asks
// clients to limit simultaneous connections to a server; browsers use 6.
// Each extra connection has its own handshake and slow start and competes
// with the others for the same path.
//
// The aggregator only learns a connection when it ends, so concurrency is
// counted pairwise: every stored connection j keeps the number of
// connections that were open at its start (itself included); a new record
// increments the counts it covers and takes its own from the stored ones.
// The counts, and so the peak, do not depend on the order records arrive.
// One finding per pair and episode (until the pair is quiet for CrossWindow).
//
// When it is reported: reading a file, once per episode, at its end. In a
// live capture, as soon as the peak exceeds ParallelMax (about a second
// after the connection that shows it ends), then at most once per
// CrossWindow while the peak rises, and at the episode's end only if the
// peak rose since the last report (earlyReport).
var ParallelConnections = &analyze.Rule{
	ID:           "parallel-connections",
	Severity:     analyze.Info,
	Title:        "more concurrent connections to one server than a client should open",
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return newParallel(cfg) },
}

// maxIntervalsPerPair bounds the connections remembered per pair; the ones
// that ended first are dropped first (they are the least likely to overlap
// connections still to come). Far above any sensible connection limit, and
// small enough that the pairwise update stays cheap.
const maxIntervalsPerPair = 256

type interval struct {
	start, end time.Time
	startOrd   int64
	ref        analyze.ConnRef
	frame      analyze.Frame
	open       int // connections open at start (itself included)
}

// covers reports whether i was open when j started (ties in time broken by
// capture order, so two connections never cover each other).
func (i *interval) covers(j *interval) bool {
	if i.start.After(j.start) || (i.start.Equal(j.start) && i.startOrd > j.startOrd) {
		return false
	}
	return j.start.Before(i.end)
}

type parallelPair struct {
	ivs   []*interval
	total int // connections in the episode
	tls   int // connections judged from TLS records
	peak  int
	at    time.Time
	atOrd int64
	frame analyze.Frame
	refs  []analyze.ConnRef // connections open at the peak (bounded)
	early earlyReport
}

type parallel struct {
	cfg *analyze.Config
	tab *crossTable[*parallelPair]
	cr  *crossRule // live: report as soon as the peak exceeds the limit
	// pending: episodes due for an early report after the current batch
	pending []pendingKey
}

func newParallel(cfg *analyze.Config) analyze.Aggregate {
	p := &parallel{cfg: cfg, tab: newCrossTable[*parallelPair](cfg)}
	p.cr = &crossRule{
		process: p.process,
		dropped: p.tab.takeDropped,
		finish: func(rep *analyze.Reporter) {
			p.tab.flush(func(e *crossEntry[*parallelPair]) { p.finish(rep, e.key, e.val) })
		},
	}
	p.cr.settle = p.settle
	return p.cr
}

// settle reports the episodes the last batch made due (and still are).
func (p *parallel) settle(rep *analyze.Reporter) {
	for _, q := range p.pending {
		e := p.tab.m[q.key]
		if e == nil {
			continue
		}
		pp := e.val
		if pp.peak > p.cfg.ParallelMax && pp.early.update(q.at, pp.peak, p.cfg.CrossWindow) {
			p.report(rep, q.key, pp)
			pp.early.done(q.at, pp.peak)
		}
	}
	p.pending = p.pending[:0]
}

func (p *parallel) process(rep *analyze.Reporter, c *crossConn) {
	defer p.tab.expire(c.end, func(e *crossEntry[*parallelPair]) { p.finish(rep, e.key, e.val) })
	if !c.http && !c.tlsRec || c.refused {
		return
	}
	e := p.tab.get(c.key, c.end, func() *parallelPair { return &parallelPair{} })
	pp := e.val
	n := &interval{start: c.start, end: c.doneAt, startOrd: c.startOrd, ref: c.ref, frame: c.first, open: 1}
	pp.total++
	if c.tlsRec {
		pp.tls++
	}
	for _, j := range pp.ivs {
		if n.covers(j) {
			j.open++
			p.consider(pp, j)
		}
		if j.covers(n) {
			n.open++
		}
	}
	p.consider(pp, n)
	pp.ivs = append(pp.ivs, n)
	// drop connections that ended before anything still relevant started
	cut := c.end.Add(-p.cfg.CrossWindow)
	keep := pp.ivs[:0]
	for _, j := range pp.ivs {
		if !j.end.Before(cut) {
			keep = append(keep, j)
		}
	}
	pp.ivs = keep
	if over := len(pp.ivs) - maxIntervalsPerPair; over > 0 {
		// records arrive sorted by end, so the front holds the ones that ended first
		n := copy(pp.ivs, pp.ivs[over:])
		clear(pp.ivs[n:])
		pp.ivs = pp.ivs[:n]
	}
	p.tab.resize(e, len(pp.ivs))
	if p.cr.live && pp.peak > p.cfg.ParallelMax && pp.early.update(c.end, pp.peak, p.cfg.CrossWindow) {
		p.pending = append(p.pending, pendingKey{c.key, c.end})
	}
}

// finish reports an episode whose peak exceeded the limit at its end,
// unless that peak was already reported.
func (p *parallel) finish(rep *analyze.Reporter, k pairKey, pp *parallelPair) {
	if pp.peak <= p.cfg.ParallelMax || !pp.early.final(pp.peak) {
		return
	}
	p.report(rep, k, pp)
}

// consider makes j the peak if it has more connections open at its start, or
// as many and earlier: the result is the same in any arrival order.
func (p *parallel) consider(pp *parallelPair, j *interval) {
	if j.open < pp.peak || (j.open == pp.peak && (j.start.After(pp.at) || j.start.Equal(pp.at) && j.startOrd >= pp.atOrd)) {
		return
	}
	pp.peak, pp.at, pp.atOrd, pp.frame = j.open, j.start, j.startOrd, j.frame
	if pp.peak <= p.cfg.ParallelMax {
		return
	}
	pp.refs = pp.refs[:0]
	for _, i := range pp.ivs {
		if (i == j || i.covers(j)) && len(pp.refs) < 2*maxRunRefs {
			pp.refs = append(pp.refs, i.ref)
		}
	}
	if len(pp.refs) < 2*maxRunRefs {
		pp.refs = append(pp.refs, j.ref) // j itself may not be stored yet
	}
	sort.Slice(pp.refs, func(a, b int) bool { return pp.refs[a].ID < pp.refs[b].ID })
	pp.refs = dedupRefs(pp.refs)
}

func dedupRefs(rs []analyze.ConnRef) []analyze.ConnRef {
	out := rs[:0]
	for i, r := range rs {
		if i == 0 || r.ID != rs[i-1].ID {
			out = append(out, r)
		}
	}
	return out
}

func (p *parallel) report(rep *analyze.Reporter, k pairKey, pp *parallelPair) {
	if pp.peak <= p.cfg.ParallelMax {
		return
	}
	attrs := map[string]any{"peak": pp.peak, "limit": p.cfg.ParallelMax, "connections": pp.total}
	judged := ""
	if pp.tls > 0 {
		attrs["judged_from"] = "tls-records"
		judged = fmt.Sprintf(" (%d of them TLS connections judged from their records, not decrypted)", pp.tls)
	}
	rep.Report(analyze.Finding{
		Time:   pp.at,
		Frames: []analyze.Frame{pp.frame},
		Message: fmt.Sprintf("%s: %d connections were open at the same time (limit %d), the peak reached when the connection at frame %d opened; %d connections to this server in all%s",
			pairText(k), pp.peak, p.cfg.ParallelMax, pp.frame.Frame, pp.total, judged),
		Hint:    "limit concurrent connections per server (browsers use 6; RFC 9112 §9.4) and reuse the open ones; queue the rest",
		Related: slices.Clone(pp.refs), // consider rewrites pp.refs in place
		Attrs:   attrs,
	})
}
