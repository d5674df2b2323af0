package lifecycle

import (
	"fmt"
	"time"

	"github.com/connlint/connlint/analyze"
)

// PortChurn: short connections from one client IP to one server ip:port
// close so fast that the client's ephemeral port range would be used up.
// Every closed connection's 4-tuple is held in TIME_WAIT for 2×MSL by
// whichever side closed first (RFC 9293 §3.6.1); only the client's
// TIME_WAIT keeps a client port busy, so the exhaustion is projected from
// the connections the client closed first. A server that closes first
// (HTTP/1.0, Connection: close) holds TIME_WAIT itself and leaves the
// client's ports free; that matters only when the capture shows a 4-tuple
// reused within 2×MSL while the server still held it (the server's
// TIME_WAIT must then accept the new SYN: RFC 6191, RFC 1337 lists what
// can go wrong), and is reported as such. Reported with the rate, who holds
// TIME_WAIT, the projected time to exhaustion and the reuses.
//
// Only connections closed by FIN count: an aborted (RST) connection leaves
// no TIME_WAIT. Refused connections count for nothing, and neither do
// connections with a direction missing from the capture (who closed first
// is unknown).
//
// When it is reported: reading a file, at the end of the episode (the pair
// quiet for CrossWindow, or the end of the capture), and once per
// CrossWindow while the episode lasts longer. In a live capture, as soon
// as a measurement projects exhaustion (or shows churnMinReuse reuses),
// then at most once per CrossWindow while it still does, and at the
// episode's end only if a window has passed since the last report (a new
// window's measurement; within one it would repeat the last).
var PortChurn = &analyze.Rule{
	ID:           "port-churn",
	Severity:     analyze.Warning,
	Title:        "connections churn fast enough to exhaust ephemeral ports",
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return newPortChurn(cfg) },
	Requires:     []*analyze.Pass{CrossPass},
}

const (
	// churnBuckets splits the 2×MSL window into counting buckets: the
	// population in TIME_WAIT is known to 1/churnBuckets of 2×MSL.
	churnBuckets = 60
	// churnMinConns and churnMinSpan: a rate is projected only from at least
	// this many closes spread over at least this long; a burst of a few
	// dozen connections says nothing about a sustained rate.
	churnMinConns = 100
	churnMinSpan  = time.Second
	// churnMinReuse: this many 4-tuples reused inside 2×MSL fire the rule
	// even when the measured rate alone does not (the range is smaller than
	// configured, or tcp_tw_reuse is already papering over it). A single
	// reuse is often a tool binding a fixed port.
	churnMinReuse = 10
	// maxPortsPerPair bounds the per-pair table of recently closed client
	// ports used to see 4-tuple reuse; older entries are forgotten first.
	maxPortsPerPair = 4096
)

type churnBucket struct {
	idx           int64
	n             int
	byClient      int
	first, last   time.Time
	firstF, lastF analyze.Frame
}

type portUse struct {
	closeAt time.Time
	closer  int
	ref     analyze.ConnRef
	frame   analyze.Frame
	seq     uint64
}

type portKey struct {
	port uint16
	seq  uint64
}

type churnPair struct {
	buckets []churnBucket
	ports   map[uint16]portUse
	fifo    []portKey
	seq     uint64
	total   int // TIME_WAIT-producing closes in the episode

	// the measurement (largest window population that fired) reported
	detected       bool
	since          time.Time
	rate           float64
	n, byClient    int
	span           time.Duration
	from, to       time.Time
	fromF, toF     analyze.Frame
	reuses         int
	reuseClientTW  int
	clientRate     float64 // closes per second the client held TIME_WAIT for
	firstReuse     [2]portUse
	firstReusePort uint16
	firstReuseGap  time.Duration

	early earlyReport // live reports (at, reported; no measure)
}

type portChurn struct {
	cfg      *analyze.Config
	tab      *crossTable[*churnPair]
	tw       time.Duration // 2×MSL
	maxPorts int           // port table bound per pair, within CrossMaxEntries
	cr       *crossRule    // live: report as soon as the measurement fires
	// pending: pairs due for an early report after the current batch
	pending []pendingKey
}

func newPortChurn(cfg *analyze.Config) analyze.Aggregate {
	p := &portChurn{cfg: cfg, tab: newCrossTable[*churnPair](cfg), tw: 2 * cfg.MSL, maxPorts: maxPortsPerPair}
	if q := cfg.CrossMaxEntries / 4; q < p.maxPorts {
		p.maxPorts = max(q, 64)
	}
	p.cr = &crossRule{
		feed:    &crossFeed{},
		process: p.process,
		finish: func(rep *analyze.Reporter) {
			p.tab.flush(func(e *crossEntry[*churnPair]) { p.finish(rep, e.key, e.val, e.last) })
		},
		dropped: p.tab.takeDropped,
	}
	p.cr.settle = p.settle
	return p.cr
}

// settle reports the pairs the last batch made due (and still are): the
// first measurement that fires, then one per window while it fires.
func (p *portChurn) settle(rep *analyze.Reporter) {
	for _, q := range p.pending {
		e := p.tab.m[q.key]
		if e == nil {
			continue
		}
		cp := e.val
		if cp.detected && (!cp.early.reported || q.at.Sub(cp.early.at) >= p.cfg.CrossWindow) {
			p.report(rep, q.key, cp)
			cp.early.done(q.at, 0)
		}
	}
	p.pending = p.pending[:0]
}

// finish reports an episode at its end (as of now, its last activity),
// unless a live report of it is less than a window old.
func (p *portChurn) finish(rep *analyze.Reporter, k pairKey, cp *churnPair, now time.Time) {
	if cp.early.reported && now.Sub(cp.early.at) < p.cfg.CrossWindow {
		return
	}
	p.report(rep, k, cp)
}

func (p *portChurn) process(rep *analyze.Reporter, c *crossConn) {
	defer p.tab.expire(c.end, func(e *crossEntry[*churnPair]) { p.finish(rep, e.key, e.val, e.last) })
	if c.refused || c.oneSided || p.tw <= 0 {
		return
	}
	e := p.tab.get(c.key.tcpPair(), c.end, func() *churnPair { return &churnPair{ports: map[uint16]portUse{}} })
	cp := e.val
	defer func() { p.tab.resize(e, len(cp.buckets)+len(cp.ports)) }()
	port := c.ref.Client.Port()
	p.noteReuse(cp, c, port)
	if c.closer < 0 || c.closeRST {
		delete(cp.ports, port) // no TIME_WAIT left behind
		return
	}
	p.rememberPort(cp, c, port)
	if !p.countClose(cp, c) {
		return // too late to matter for the window
	}
	p.measure(cp, c.end)
	if p.cr.live {
		// first crossing, then one report per window while it still fires
		if cp.detected && (!cp.early.reported || c.end.Sub(cp.early.at) >= p.cfg.CrossWindow) {
			p.pending = append(p.pending, pendingKey{c.key.tcpPair(), c.end})
		}
		return
	}
	if cp.detected && c.end.Sub(cp.since) > p.cfg.CrossWindow {
		// a live capture that never goes quiet still gets a finding per window
		p.report(rep, c.key.tcpPair(), cp)
	}
}

// noteReuse counts a 4-tuple reuse: c opened while an earlier connection on
// the same 4-tuple was still in TIME_WAIT.
func (p *portChurn) noteReuse(cp *churnPair, c *crossConn, port uint16) {
	prev, ok := cp.ports[port]
	if !ok || prev.ref.ID == c.ref.ID || c.start.Before(prev.closeAt) {
		return
	}
	gap := c.start.Sub(prev.closeAt)
	if gap >= p.tw {
		return
	}
	cp.reuses++
	if prev.closer == 0 {
		cp.reuseClientTW++
	}
	if cp.reuses == 1 {
		cp.firstReuse = [2]portUse{prev, {ref: c.ref, frame: c.first}}
		cp.firstReusePort, cp.firstReuseGap = port, gap
	}
}

// rememberPort records that c's client port entered TIME_WAIT, forgetting
// the oldest ports beyond the table's bound.
func (p *portChurn) rememberPort(cp *churnPair, c *crossConn, port uint16) {
	cp.seq++
	cp.ports[port] = portUse{closeAt: c.closeAt, closer: c.closer, ref: c.ref, frame: c.closePos, seq: cp.seq}
	cp.fifo = append(cp.fifo, portKey{port, cp.seq})
	for len(cp.ports) > p.maxPorts || len(cp.fifo) > 2*p.maxPorts {
		old := cp.fifo[0]
		cp.fifo = cp.fifo[1:]
		if u, ok := cp.ports[old.port]; ok && u.seq == old.seq {
			delete(cp.ports, old.port)
		}
	}
	if cap(cp.fifo) > 4*p.maxPorts {
		cp.fifo = append([]portKey(nil), cp.fifo...) // let the backing array go
	}
}

// countClose counts c's close in its bucket and drops the buckets that left
// the 2×MSL window; false when the close is itself too old to count.
func (p *portChurn) countClose(cp *churnPair, c *crossConn) bool {
	w := p.tw / churnBuckets
	idx := c.closeAt.UnixNano() / int64(w)
	cur := idx
	if n := len(cp.buckets); n > 0 && cp.buckets[n-1].idx > cur {
		cur = cp.buckets[n-1].idx
	}
	if idx <= cur-churnBuckets {
		return false
	}
	cp.total++
	i := len(cp.buckets) - 1
	for i >= 0 && cp.buckets[i].idx > idx {
		i--
	}
	if i < 0 || cp.buckets[i].idx != idx {
		cp.buckets = append(cp.buckets, churnBucket{})
		copy(cp.buckets[i+2:], cp.buckets[i+1:])
		i++
		cp.buckets[i] = churnBucket{idx: idx, first: c.closeAt, last: c.closeAt, firstF: c.closePos, lastF: c.closePos}
	}
	b := &cp.buckets[i]
	b.n++
	if c.closer == 0 {
		b.byClient++
	}
	if c.closeAt.Before(b.first) {
		b.first, b.firstF = c.closeAt, c.closePos
	}
	if !c.closeAt.Before(b.last) {
		b.last, b.lastF = c.closeAt, c.closePos
	}
	k := 0
	for k < len(cp.buckets) && cp.buckets[k].idx <= cur-churnBuckets {
		k++
	}
	cp.buckets = append(cp.buckets[:0], cp.buckets[k:]...)
	return true
}

// measure projects the TIME_WAIT population from the closes in the window.
func (p *portChurn) measure(cp *churnPair, now time.Time) {
	var n, byClient int
	for _, b := range cp.buckets {
		n += b.n
		byClient += b.byClient
	}
	if n < churnMinConns || len(cp.buckets) == 0 {
		return
	}
	first, last := cp.buckets[0], cp.buckets[len(cp.buckets)-1]
	span := last.last.Sub(first.first)
	if span < churnMinSpan {
		return
	}
	rate := float64(n-1) / span.Seconds()
	// only the client's TIME_WAIT holds client ports
	clientRate := rate * float64(byClient) / float64(n)
	exhausts := clientRate*p.tw.Seconds() >= float64(p.cfg.EphemeralPorts)
	if !exhausts && cp.reuses < churnMinReuse {
		return
	}
	if !cp.detected {
		cp.detected, cp.since = true, now
	}
	// keep the measurement with the most evidence (the largest population
	// that still projects exhaustion); rates from few closes are noisier
	if n >= cp.n {
		cp.rate, cp.clientRate, cp.n, cp.byClient, cp.span = rate, clientRate, n, byClient, span
		cp.from, cp.to, cp.fromF, cp.toF = first.first, last.last, first.firstF, last.lastF
	}
}

func (p *portChurn) report(rep *analyze.Reporter, k pairKey, cp *churnPair) {
	if !cp.detected {
		return
	}
	defer func() { cp.detected, cp.rate, cp.clientRate, cp.reuses, cp.reuseClientTW = false, 0, 0, 0, 0 }()
	holder := "the client"
	switch {
	case cp.byClient == 0:
		holder = "the server"
	case cp.byClient < cp.n:
		holder = fmt.Sprintf("the client for %d of them, the server for %d", cp.byClient, cp.n-cp.byClient)
	}
	pop := cp.clientRate * p.tw.Seconds()
	msg := fmt.Sprintf("%s: %d connections closed in %s (%.0f/s); each 4-tuple stays in TIME_WAIT for 2×MSL = %s, held by %s",
		pairText(k), cp.n, analyze.Dur(cp.span), cp.rate, analyze.Dur(p.tw), holder)
	if cp.byClient > 0 {
		msg += fmt.Sprintf("; the client's share keeps about %.0f ports waiting at once against %d ephemeral ports", pop, p.cfg.EphemeralPorts)
	} else {
		msg += ", so the client's ports are free again as soon as each connection closes"
	}
	attrs := map[string]any{"rate_per_s": cp.rate, "connections": cp.n, "time_wait_by_client": cp.byClient,
		"time_wait_by_server": cp.n - cp.byClient, "projected_time_wait": pop, "ephemeral_ports": p.cfg.EphemeralPorts,
		"reused_4tuples": cp.reuses, "reused_4tuples_server_time_wait": cp.reuses - cp.reuseClientTW}
	var dur time.Duration
	if pop >= float64(p.cfg.EphemeralPorts) {
		dur = time.Duration(float64(p.cfg.EphemeralPorts) / cp.clientRate * float64(time.Second))
		msg += fmt.Sprintf(": at this rate the client runs out of ports to this server after %s", analyze.Dur(dur))
		attrs["exhaustion_ms"] = analyze.MS(dur)
	}
	fr := []analyze.Frame{cp.fromF, cp.toF}
	var related []analyze.ConnRef
	if cp.reuses > 0 {
		a, b := cp.firstReuse[0], cp.firstReuse[1]
		side := "the server"
		if a.closer == 0 {
			side = "the client"
		}
		held := fmt.Sprintf("%d of them while the client held TIME_WAIT", cp.reuseClientTW)
		if n := cp.reuses - cp.reuseClientTW; n > 0 {
			held += fmt.Sprintf(", %d while the server did", n)
		}
		msg += fmt.Sprintf(". %s %s reused within 2×MSL (%s); first: client port %d, connection %d closed (frame %d, TIME_WAIT at %s) and connection %d reused it %s later (frame %d)",
			analyze.Plural(int(cp.reuses), "4-tuple"), analyze.WasWere(int(cp.reuses)), held, cp.firstReusePort, a.ref.ID, a.frame.Frame, side, b.ref.ID, analyze.Dur(cp.firstReuseGap), b.frame.Frame)
		if cp.reuses > cp.reuseClientTW {
			msg += "; a SYN that meets the server's TIME_WAIT is accepted only if its sequence number (or timestamp) is above the old connection's (RFC 6191), else it is answered with an ACK and the client retries"
		}
		for _, f := range []analyze.Frame{a.frame, b.frame} {
			if f != fr[0] && f != fr[1] {
				fr = append(fr, f)
			}
		}
		related = []analyze.ConnRef{a.ref, b.ref}
	}
	rep.Report(analyze.Finding{
		Time:     cp.from,
		Frames:   fr,
		Duration: dur,
		Message:  msg,
		Hint:     "reuse connections (keep-alive, a connection pool) instead of one per request; if short connections must stay, let the server close first, widen the ephemeral range or spread over more client addresses — do not shorten TIME_WAIT (RFC 1337)",
		Related:  related,
		Attrs:    attrs,
	})
}
