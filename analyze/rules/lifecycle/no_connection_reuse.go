package lifecycle

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/connlint/connlint/analyze"
)

// NoConnectionReuse: a client opened NoReuseMin or more sequential
// connections to one server, one transaction each, although the server
// offered persistence (HTTP/1.1 without Connection: close, or HTTP/1.0 with
// keep-alive; RFC 9112 §9.3) and did not close first. Every extra connection
// costs a handshake round trip, a fresh congestion window and, on the side
// that closes, a TIME_WAIT entry.
//
// A connection joins the run when it started after an earlier one of the
// run was done (closed) no longer than a kept-alive connection would have
// survived (the server's announced timeout, else noReuseMaxIdle): that
// earlier connection could have carried its request. The run's first
// connection counts too. A connection overlapping every recent one is
// parallel (parallel-connections' business): it neither counts nor breaks
// the run; so does a connection the server refused to keep open (it could
// not be reused, but the ones it kept open could have been). The run ends
// (and is reported if long enough) when the client reuses a connection,
// when the gap since the last usable connection is too long, or when the
// pair goes quiet for CrossWindow.
//
// When it is reported: reading a file, once per run, at the run's end. In
// a live capture, as soon as the run reaches NoReuseMin connections (about
// a second after the connection that makes it so ends), then at most once
// per CrossWindow while the run grows, and at the run's end only if it grew
// since the last report (earlyReport).
var NoConnectionReuse = &analyze.Rule{
	ID:           "no-connection-reuse",
	Severity:     analyze.Warning,
	Title:        "one connection per request although the server keeps connections open",
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return newNoReuse(cfg) },
	Requires:     []*analyze.Pass{CrossPass},
}

// noReuseMaxIdle: without an announced Keep-Alive timeout, a connection idle
// longer than this could not have been reused anyway (Apache's default
// KeepAliveTimeout is 5 s, nginx's keepalive_timeout 75 s; 15 s is a common
// setting in between).
const noReuseMaxIdle = 15 * time.Second

// maxRunRefs bounds the connections named in one finding.
const maxRunRefs = 10

// noReuseRecent is how many recent close times a run remembers to find the
// connection a new one could have reused.
const noReuseRecent = 64

type noReuseRun struct {
	count     int
	handshake time.Duration // sum over the run
	hsSeen    int           // connections whose handshake was measured
	first     *crossConn    // first connection of the run (compact record, no copies)
	lastEnd   time.Time
	done      [noReuseRecent]time.Time // ring of recent doneAt times
	nDone     int
	refs      []analyze.ConnRef
	frames    []analyze.Frame
	tlsRec    int // connections judged from TLS records
	tlsAny    int // TLS connections (handshake = TCP + TLS set-up)
	early     earlyReport
}

// reusable returns the latest recent close at or before t.
func (r *noReuseRun) reusable(t time.Time) (time.Time, bool) {
	var best time.Time
	ok := false
	for i := 0; i < min(r.nDone, noReuseRecent); i++ {
		if d := r.done[i]; !d.After(t) && (!ok || d.After(best)) {
			best, ok = d, true
		}
	}
	return best, ok
}

type noReuse struct {
	cfg *analyze.Config
	tab *crossTable[*noReuseRun]
	cr  *crossRule // live: report runs as they reach the threshold
	// pending: runs due for an early report after the current batch
	pending []pendingKey
}

func newNoReuse(cfg *analyze.Config) analyze.Aggregate {
	n := &noReuse{cfg: cfg, tab: newCrossTable[*noReuseRun](cfg)}
	n.cr = &crossRule{
		feed:    &crossFeed{},
		process: n.process,
		dropped: n.tab.takeDropped,
		finish: func(rep *analyze.Reporter) {
			n.tab.flush(func(e *crossEntry[*noReuseRun]) { n.finish(rep, e.key, e.val) })
		},
	}
	n.cr.settle = n.settle
	return n.cr
}

// settle reports the runs the last batch made due (still due: a run that
// ended in the batch was reported, or not, by finish).
func (n *noReuse) settle(rep *analyze.Reporter) {
	for _, p := range n.pending {
		e := n.tab.m[p.key]
		if e == nil {
			continue
		}
		run := e.val
		if run.count >= n.cfg.NoReuseMin && run.first != nil && run.early.update(p.at, run.count, n.cfg.CrossWindow) {
			n.report(rep, p.key, run)
			run.early.done(p.at, run.count)
		}
	}
	n.pending = n.pending[:0]
}

func (n *noReuse) process(rep *analyze.Reporter, c *crossConn) {
	defer n.tab.expire(c.end, func(e *crossEntry[*noReuseRun]) { n.finish(rep, e.key, e.val) })
	if !c.http && !c.tlsRec || c.refused || c.gap || c.txs == 0 {
		return
	}
	e := n.tab.get(c.key, c.end, func() *noReuseRun { return &noReuseRun{} })
	run := e.val
	switch {
	case c.txs > 1:
		// the client does reuse connections to this server
		n.finish(rep, c.key, run)
		return
	case !c.completeTx:
		return // no complete answer: says nothing either way
	case !c.offeredPersistence || c.serverAskedClose || c.initiator == 1:
		// the server ended this one: the client had no choice here, but
		// that says nothing about the connections the server did keep
		// open (a scanner mixing bad and good requests, say)
		return
	}
	if run.count > 0 {
		prev, ok := run.reusable(c.start)
		if !ok {
			return // overlaps every recent one: parallel, not sequential
		}
		maxIdle := noReuseMaxIdle
		if c.keepAliveTimeout > 0 {
			maxIdle = c.keepAliveTimeout
		}
		if c.start.Sub(prev) > maxIdle {
			n.finish(rep, c.key, run)
		}
	}
	if run.count == 0 {
		cp := *c
		cp.copies = nil
		run.first = &cp
	}
	run.count++
	if c.tlsRec {
		run.tlsRec++
	}
	if c.tls != nil {
		run.tlsAny++
	}
	if c.handshake > 0 {
		run.handshake += c.handshake
		run.hsSeen++
	}
	if c.end.After(run.lastEnd) {
		run.lastEnd = c.end
	}
	run.done[run.nDone%noReuseRecent] = c.doneAt
	run.nDone++
	if len(run.refs) < maxRunRefs {
		run.refs = append(run.refs, c.ref)
		run.frames = append(run.frames, c.first)
	}
	if n.cr.live && run.count >= n.cfg.NoReuseMin && run.early.update(c.end, run.count, n.cfg.CrossWindow) {
		n.pending = append(n.pending, pendingKey{c.key, c.end})
	}
}

// finish reports a run that reached the threshold (unless that was already
// reported as it stands) and resets it.
func (n *noReuse) finish(rep *analyze.Reporter, k pairKey, run *noReuseRun) {
	defer func() { *run = noReuseRun{} }()
	if run.count < n.cfg.NoReuseMin || run.first == nil || !run.early.final(run.count) {
		return
	}
	n.report(rep, k, run)
}

// report reports the run as it stands. The finding gets its own copies of
// the run's lists: a live run goes on growing (and sorting) them.
func (n *noReuse) report(rep *analyze.Reporter, k pairKey, run *noReuseRun) {
	frames, refs := slices.Clone(run.frames), slices.Clone(run.refs)
	span := run.lastEnd.Sub(run.first.start)
	saved := ""
	attrs := map[string]any{"connections": run.count, "handshake_ms": analyze.MS(run.handshake)}
	if run.hsSeen > 0 {
		avg := run.handshake / time.Duration(run.hsSeen)
		save := avg * time.Duration(run.count-1)
		saved = fmt.Sprintf("; reusing one connection would save %d handshakes (about %s of round trips at %s each), %d TIME_WAIT entries and the slow-start of every new connection",
			run.count-1, analyze.Dur(save), analyze.Dur(avg), run.count-1)
		attrs["saved_ms"] = analyze.MS(save)
	}
	sort.Slice(frames, func(i, j int) bool { return frames[i].Frame < frames[j].Frame })
	sort.Slice(refs, func(i, j int) bool { return refs[i].ID < refs[j].ID })
	what, offer, hsWhat := "one transaction", "although the server offered to keep them open", "TCP handshakes"
	if run.tlsAny > 0 {
		hsWhat = "TCP and TLS handshakes (SYN to first application data)"
	}
	if run.tlsRec > 0 {
		// HTTPS without keys: the exchanges are the request/response
		// rhythm of application-data records; the server's persistence
		// offer is invisible, its not closing first stands in for it.
		what, offer = "one exchange of TLS application data", "although the server did not close them (judged from TLS records, not decrypted)"
		attrs["judged_from"] = "tls-records"
	}
	rep.Report(analyze.Finding{
		Time:     run.first.start,
		Frames:   frames,
		Duration: run.handshake,
		Message: fmt.Sprintf("%s: %d connections in %s carried %s each, each opened after an earlier one had closed, %s; %s spent in %s%s",
			pairText(k), run.count, analyze.Dur(span), what, offer, analyze.Dur(run.handshake), hsWhat, saved),
		Hint:    "reuse connections: keep one client (connection pool / HTTP agent) for all requests instead of one per request, and do not send Connection: close unless done",
		Related: refs,
		Attrs:   attrs,
	})
}
