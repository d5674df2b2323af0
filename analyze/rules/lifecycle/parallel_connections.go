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
	Requires:     []*analyze.Pass{CrossPass},
}

// maxIntervalsPerPair bounds the connections remembered per pair; the ones
// that ended first are dropped first (they are the least likely to overlap
// connections still to come). Far above any sensible connection limit, and
// small enough that the pairwise update stays cheap.
const maxIntervalsPerPair = 256

// interval is a stored connection as the pairwise count compares it: times
// as nanoseconds since 1970 (capture times, well inside int64's range) so a
// comparison is one instruction, and stored by value in one slice (issue 15:
// pointers to time.Time pairs made the per-connection scan the rule's
// cost). What only a report needs is in ivInfo, beside it.
type interval struct {
	start, end int64 // first packet, first FIN or RST (else last packet)
	startOrd   int64
	// endMax is the largest start or end of this interval and every one
	// stored before it: non-decreasing along the slice (records arrive
	// nearly in end order), so the intervals that started and ended before
	// a new one started, which can neither cover it nor be covered by it,
	// are a prefix found by binary search and skipped. (Start too: capture
	// timestamps can go backwards, leaving an end before the start.)
	endMax int64
	open   int // connections open at start (itself included)
}

// ivInfo is the part of a stored connection a report needs.
type ivInfo struct {
	start time.Time
	ref   analyze.ConnRef
	frame analyze.Frame
}

// covers reports whether i was open when j started (ties in time broken by
// capture order, so two connections never cover each other).
func (i *interval) covers(j *interval) bool {
	if i.start > j.start || (i.start == j.start && i.startOrd > j.startOrd) {
		return false
	}
	return j.start < i.end
}

// before says whether i opened the peak earlier than j: the tie-break
// between two candidates with as many connections open.
func (i *interval) before(j *interval) bool {
	return i.start < j.start || i.start == j.start && i.startOrd < j.startOrd
}

type parallelPair struct {
	ivs  []interval // in arrival order; info[k] belongs to ivs[k]
	info []ivInfo
	// ivBuf and infoBuf are the buffers ivs and info live in (room)
	ivBuf   []interval
	infoBuf []ivInfo
	total   int // connections in the episode
	tls     int // connections judged from TLS records
	peak    int
	at      time.Time
	atNS    int64 // at in nanoseconds
	atOrd   int64
	frame   analyze.Frame
	refs    []analyze.ConnRef // connections open at the peak (bounded)
	early   earlyReport
	// minEnd is at most the smallest stored end (exact after each cut): the
	// cut scans the intervals only when one may have left the window.
	minEnd int64
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
		feed:    &crossFeed{},
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

// process counts c against the stored connections of its pair: every
// stored connection c covers gains one open connection, c's own count is
// the stored ones that cover it. Each gain is a candidate for the peak;
// all candidates of one record are compared at once, the best (most open,
// then earliest) wins, which is what comparing them one by one gave.
// Only the stored connections that ended after c started are looked at.
func (p *parallel) process(rep *analyze.Reporter, c *crossConn) {
	defer p.tab.expire(c.end, func(e *crossEntry[*parallelPair]) { p.finish(rep, e.key, e.val) })
	if !c.http && !c.tlsRec || c.refused {
		return
	}
	e := p.tab.get(c.key, c.end, func() *parallelPair { return &parallelPair{} })
	pp := e.val
	n := interval{start: c.start.UnixNano(), end: c.doneAt.UnixNano(), startOrd: c.startOrd, open: 1}
	pp.total++
	if c.tlsRec {
		pp.tls++
	}
	win := -1 // index of the best stored candidate, len(ivs) for n
	ivs := pp.ivs
	// the prefix that started and ended before n started covers nothing of
	// n's and n covers none of it: skip it
	lo, hi := 0, len(ivs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ivs[m].endMax < n.start {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for k := lo; k < len(ivs); k++ {
		j := &ivs[k]
		if n.covers(j) {
			j.open++
			if j.open >= pp.peak && (win < 0 || j.open > ivs[win].open || j.open == ivs[win].open && j.before(&ivs[win])) {
				win = k
			}
		}
		if j.covers(&n) {
			n.open++
		}
	}
	nInfo := ivInfo{start: c.start, ref: c.ref, frame: c.first}
	if win >= 0 {
		p.consider(pp, &ivs[win], &pp.info[win])
	}
	p.consider(pp, &n, &nInfo)
	n.endMax = max(n.start, n.end)
	if k := len(ivs); k > 0 && ivs[k-1].endMax > n.endMax {
		n.endMax = ivs[k-1].endMax
	}
	if len(pp.ivs) == 0 || n.end < pp.minEnd {
		pp.minEnd = n.end
	}
	pp.room()
	pp.ivs = append(pp.ivs, n)
	pp.info = append(pp.info, nInfo)
	// drop connections that ended before anything still relevant started
	if cut := c.end.Add(-p.cfg.CrossWindow).UnixNano(); pp.minEnd < cut {
		keep := 0
		pp.minEnd = n.end
		for k := range pp.ivs {
			if pp.ivs[k].end >= cut {
				pp.ivs[keep], pp.info[keep] = pp.ivs[k], pp.info[k]
				pp.minEnd = min(pp.minEnd, pp.ivs[k].end)
				keep++
			}
		}
		clear(pp.info[keep:])
		pp.ivs, pp.info = pp.ivs[:keep], pp.info[:keep]
	}
	if over := len(pp.ivs) - maxIntervalsPerPair; over > 0 {
		// records arrive sorted by end, so the front holds the ones that
		// ended first; room moves the rest down when the buffer's end is
		// reached, so each drop costs O(1) amortised
		clear(pp.info[:over])
		pp.ivs, pp.info = pp.ivs[over:], pp.info[over:]
		// minEnd stays a lower bound of the stored ends
	}
	p.tab.resize(e, len(pp.ivs))
	if p.cr.live && pp.peak > p.cfg.ParallelMax && pp.early.update(c.end, pp.peak, p.cfg.CrossWindow) {
		p.pending = append(p.pending, pendingKey{c.key, c.end})
	}
}

// room makes space for one more interval at the end of ivs and info: in
// place when the buffers have a free front left by dropped intervals (moved
// down once per buffer length), else in buffers twice as large.
func (pp *parallelPair) room() {
	if len(pp.ivs) < cap(pp.ivs) {
		return
	}
	if len(pp.ivBuf) <= len(pp.ivs) {
		pp.ivBuf = make([]interval, max(1, 2*len(pp.ivs)))
		pp.infoBuf = make([]ivInfo, len(pp.ivBuf))
	}
	k := copy(pp.ivBuf, pp.ivs)
	copy(pp.infoBuf, pp.info)
	clear(pp.infoBuf[k:])
	pp.ivs, pp.info = pp.ivBuf[:k], pp.infoBuf[:k]
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
func (p *parallel) consider(pp *parallelPair, j *interval, ji *ivInfo) {
	if j.open < pp.peak || (j.open == pp.peak && (j.start > pp.atNS || j.start == pp.atNS && j.startOrd >= pp.atOrd)) {
		return
	}
	pp.peak, pp.at, pp.atNS, pp.atOrd, pp.frame = j.open, ji.start, j.start, j.startOrd, ji.frame
	if pp.peak <= p.cfg.ParallelMax {
		return
	}
	pp.refs = pp.refs[:0]
	for k := range pp.ivs {
		if len(pp.refs) == 2*maxRunRefs {
			break
		}
		if i := &pp.ivs[k]; i == j || i.covers(j) {
			pp.refs = append(pp.refs, pp.info[k].ref)
		}
	}
	if len(pp.refs) < 2*maxRunRefs {
		pp.refs = append(pp.refs, ji.ref) // j itself may not be stored yet
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
