package lifecycle

import (
	"net/netip"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// This file is the machinery the cross-connection lifecycle rules share
// (unsafe-retry, no-connection-reuse, parallel-connections, port-churn); it
// lives with them because no other family uses it:
//
//   - crossConn: the compact record kept per finished connection. It holds
//     no packets and no transaction list, only the handful of facts those
//     rules need (a few non-idempotent requests at most), so the aggregator's
//     memory does not depend on how big the connections were.
//   - crossFeed: a small reorder buffer. Connections reach the aggregator in
//     connection-end order, which is not unique: several connections can end
//     at the same capture time, idle evictions come late, and with several
//     workers the interleaving differs between runs. The feed releases
//     records sorted by (last packet time, first packet ordinal) once the
//     newest end seen is crossReorder past them, so every rule sees the same
//     sequence whatever order the ends arrived in (within that slack).
//   - crossTable: per client/server state with a least-recently-used list,
//     dropped after CrossWindow of capture time without activity and capped
//     at CrossMaxEntries stored items (oldest key first): memory stays flat
//     however many connections a capture holds.

// crossReorder is how far behind the newest connection end a record waits
// before rules see it. Ends that tie (the common case: a burst of
// connections closed by one packet train, or everything still open when the
// capture ends) are released together and sorted; one second also absorbs the
// small disorder of the end events themselves.
const crossReorder = time.Second

// crossFeedMax bounds the reorder buffer; beyond it the oldest record is
// released early (order may then differ, memory may not grow).
const crossFeedMax = 4096

// maxCopiesPerConn bounds the non-idempotent requests kept per connection for
// unsafe-retry: retries happen on connections that carried a handful of
// requests, and a connection with thousands of POSTs needs only its first few
// to be matched.
const maxCopiesPerConn = 8

// pairKey is a client address and the server it talks to: the unit the
// cross-connection rules count in. sni is the TLS server name ("" for
// cleartext): one server address can serve many names, and a client reuses
// (or resumes) a connection only for the name it was opened for.
type pairKey struct {
	client netip.Addr
	server netip.AddrPort
	sni    string
}

// tcpPair is k without the server name: what TCP itself counts in (ports,
// TIME_WAIT).
func (k pairKey) tcpPair() pairKey { k.sni = ""; return k }

// crossConn is the compact per-connection record.
type crossConn struct {
	ref        analyze.ConnRef
	key        pairKey
	start, end time.Time     // first and last packet
	endNS      int64         // end in nanoseconds: the feed's sort key, one comparison
	startOrd   int64         // global ordinal of the first packet: unique, worker-independent
	first      analyze.Frame // SYN frame, else first frame
	last       analyze.Frame
	handshake  time.Duration // SYN → handshake ACK; 0 when not seen
	refused    bool
	http       bool
	gap        bool // capture gaps, mid-stream start, or guessed roles: rules stay careful
	ended      bool // closed by FIN or RST (not open at capture end, not evicted)
	// oneSided: a direction has no packet at all in the capture (asymmetric
	// routing, a span port seeing one way): who closed first is unknown.
	// (reassembly.Conn.SilentSide).
	oneSided bool

	// First close: who sent the first FIN or RST, when, and whether it was a
	// RST (an aborted connection leaves no TIME_WAIT).
	closer   int // -1 none, else flow.Dir
	closeRST bool
	closeAt  time.Time
	closePos analyze.Frame
	// doneAt is when the connection stopped being usable: its first FIN or
	// RST (the teardown handshake after it does not make it "open"), else
	// its last packet.
	doneAt time.Time

	// tlsRec: a TLS connection that was not decrypted, judged from its
	// records: txs counts its request/response exchanges, completeTx says
	// the last one was answered, and the server's persistence offer
	// (invisible) is taken from its not closing first.
	tlsRec bool
	tls    *tlsFacts // nil unless TLS
	// initiator is the side that decided to close: the sender of the first
	// TLS close_notify when it came before any FIN or RST, else closer.
	initiator int

	txs                int
	offeredPersistence bool
	serverAskedClose   bool
	keepAliveTimeout   time.Duration
	completeTx         bool // its (only or last) transaction has a complete response

	copies []reqCopy // non-idempotent requests, first maxCopiesPerConn
}

// tlsFacts is what tls-full-handshake-repeated needs of a TLS connection.
type tlsFacts struct {
	version           string
	serverHello       bool
	resumed           bool
	resumptionOffered bool          // session ID or ticket offered by the server (or resumed)
	clientTried       bool          // the client offered a ticket or PSK
	hs                time.Duration // SYN → first application data (TCP + TLS handshakes)
}

// reqCopy is one non-idempotent request as unsafe-retry matches it.
type reqCopy struct {
	method, target string
	body           int64
	tx             int // 1-based
	start          time.Time
	startOrd       int64
	frame          analyze.Frame
	answered       bool // a complete response came
}

// compactConn extracts the record from a summary. The summary and the
// connection it points to are reused by the engine: copy, never keep.
func compactConn(s *analyze.ConnSummary) *crossConn {
	c := s.Conn
	r := &crossConn{
		ref:      analyze.ConnRef{ID: c.ID, Client: c.Client, Server: c.Server},
		key:      pairKey{client: c.Client.Addr(), server: c.Server},
		start:    c.First.Time,
		end:      c.Last.Time,
		endNS:    c.Last.Time.UnixNano(),
		startOrd: c.First.Ord,
		first:    analyze.FrameAt(c.First),
		last:     analyze.FrameAt(c.Last),
		refused:  c.End == reassembly.EndRefused,
		http:     c.HTTP,
		gap:      len(c.Gaps) > 0 || c.GapsDropped > 0 || c.MidStream || c.RolesGuessed,
		ended:    c.End == reassembly.EndFIN || c.End == reassembly.EndRST,
		oneSided: c.SilentSide(),
		closer:   -1,

		txs:                s.TransactionCount,
		offeredPersistence: s.ServerOfferedPersistence,
		serverAskedClose:   s.ServerAskedClose,
		keepAliveTimeout:   s.KeepAliveTimeout,
	}
	if t := s.TLS; t != nil {
		r.key.sni = t.Facts.SNI
		r.tls = &tlsFacts{version: t.Facts.VersionName(), serverHello: t.Facts.ServerHello, resumed: t.Facts.Resumed,
			resumptionOffered: t.Facts.ResumptionOffered, clientTried: t.Facts.TicketOffered || t.Facts.PSKOffered}
		if t.FirstRequest.Frame != 0 && c.SYN.Frame != 0 {
			r.tls.hs = nonNeg(t.FirstRequest.Time.Sub(c.SYN.Time))
		}
		if !c.HTTP && t.RecordsJudged() {
			r.tlsRec = true
			r.txs = t.Exchanges
			r.completeTx = t.Exchanges > 0 && !t.Unanswered
			r.offeredPersistence = true
		}
	}
	if c.SYN.Frame != 0 {
		r.first = analyze.FrameAt(c.SYN)
		if c.HandshakeACK.Frame != 0 {
			r.handshake = nonNeg(c.HandshakeACK.Time.Sub(c.SYN.Time))
		}
	}
	if p := s.Close.FirstPos(); p != nil {
		r.closer = s.Close.First
		r.closeRST = s.Close.RST(c, flow.Dir(r.closer))
		r.closeAt, r.closePos = p.Time, analyze.FrameAt(*p)
	}
	if r.tls != nil && r.tls.hs > 0 {
		// HTTPS: the set-up a reused connection saves is the TCP and the
		// TLS handshake, SYN → first application data
		r.handshake = r.tls.hs
	}
	r.initiator = r.closer
	if t := s.TLS; t != nil && t.AlertFirst >= 0 {
		if p := s.Close.FirstPos(); p == nil || t.AlertAt.Ord < p.Ord {
			r.initiator = t.AlertFirst
		}
	}
	r.doneAt = r.end
	if r.closer >= 0 {
		r.doneAt = r.closeAt
	}
	if n := len(s.Transactions); n > 0 {
		last := s.Transactions[n-1]
		r.completeTx = last.HasResponse && last.ResponseComplete && !last.Gap
	}
	for _, t := range s.Transactions {
		if len(r.copies) == maxCopiesPerConn {
			break
		}
		if !t.HasRequest || t.Gap || t.Method == "" || analyze.Idempotent(t.Method) { // "": junk taken as a malformed request
			continue
		}
		r.copies = append(r.copies, reqCopy{
			method: t.Method, target: t.Target, body: t.RequestBody, tx: t.Index,
			start: t.RequestStart.Time, startOrd: t.RequestStart.Ord, frame: analyze.FrameAt(t.RequestStart),
			answered: t.HasResponse && t.ResponseComplete,
		})
	}
	return r
}

// less orders records the way rules see them: by end, then by first packet.
func (r *crossConn) less(o *crossConn) bool {
	if r.endNS != o.endNS {
		return r.endNS < o.endNS
	}
	if r.startOrd != o.startOrd {
		return r.startOrd < o.startOrd
	}
	return r.ref.ID < o.ref.ID
}

// crossFeed is the reorder buffer in front of the rules. There is one, in
// CrossPass's aggregate, shared by every cross-connection rule: they all see
// the same records in the same order, so sorting them once is enough (issue
// 15: one feed per rule sorted every record five times).
type crossFeed struct {
	h         recHeap
	watermark time.Time // newest end seen
}

// recHeap is a binary min-heap of records by crossConn.less, written out
// for its one element type (issue 15: container/heap's interface calls and
// boxing were most of the feed's cost). less is a total order (the
// connection ID breaks every tie), so the order records leave in does not
// depend on how the heap is built.
type recHeap []*crossConn

func (h recHeap) Len() int { return len(h) }

func (h *recHeap) push(r *crossConn) {
	*h = append(*h, r)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *recHeap) pop() *crossConn {
	s := *h
	n := len(s) - 1
	x := s[0]
	s[0] = s[n]
	s[n] = nil
	s = s[:n]
	*h = s
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && s[r].less(s[l]) {
			m = r
		}
		if !s[m].less(s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	return x
}

// push adds a record and appends every record now due to out, in order.
func (f *crossFeed) push(r *crossConn, out []*crossConn) []*crossConn {
	f.h.push(r)
	if r.end.After(f.watermark) {
		f.watermark = r.end
	}
	due := f.watermark.Add(-crossReorder)
	for f.h.Len() > 0 && (f.h[0].end.Before(due) || f.h.Len() > crossFeedMax) {
		out = append(out, f.h.pop())
	}
	return out
}

// release appends to out every record that ended more than crossReorder
// before now (a live tick: capture time passed with no connection ending,
// so nothing can come to reorder them any more), in order.
func (f *crossFeed) release(now time.Time, out []*crossConn) []*crossConn {
	due := now.Add(-crossReorder)
	for f.h.Len() > 0 && f.h[0].end.Before(due) {
		out = append(out, f.h.pop())
	}
	return out
}

// drain appends everything left to out, in order (end of the run).
func (f *crossFeed) drain(out []*crossConn) []*crossConn {
	for f.h.Len() > 0 {
		out = append(out, f.h.pop())
	}
	return out
}

// crossItemBytes is the estimated memory of one stored item of a crossTable
// (the key's map slot and entry with its LRU links, or one item of a key's
// value): Config.CrossMaxBytes / crossItemBytes bounds the items as
// CrossMaxEntries does, whichever is lower (8 MiB: 20 971 items). About
// 400 bytes per key was measured on a table of one-connection pairs (the
// port-churn table of a SYN flood from distinct clients).
const crossItemBytes = 400

// crossTable holds per-pair state V with LRU expiry by capture time and a
// bound on the number of items stored (each key reports its own size),
// from Config.CrossMaxEntries and Config.CrossMaxBytes.
type crossTable[V any] struct {
	window  time.Duration
	max     int
	m       map[pairKey]*crossEntry[V]
	head    *crossEntry[V] // least recently touched
	tail    *crossEntry[V]
	entries int
	dropped int64 // keys let go early because the table was full
}

type crossEntry[V any] struct {
	key        pairKey
	val        V
	last       time.Time
	size       int
	prev, next *crossEntry[V]
}

func newCrossTable[V any](cfg *analyze.Config) *crossTable[V] {
	max := cfg.CrossMaxEntries
	if b := cfg.CrossMaxBytes / crossItemBytes; cfg.CrossMaxBytes > 0 && b < max {
		max = b
	}
	if max <= 0 {
		max = 1
	}
	return &crossTable[V]{window: cfg.CrossWindow, max: max, m: map[pairKey]*crossEntry[V]{}}
}

// takeDropped returns the keys let go early since the last call.
func (t *crossTable[V]) takeDropped() int64 {
	n := t.dropped
	t.dropped = 0
	return n
}

// get returns the entry for k, creating it (with init) when missing, and marks
// it touched at now.
func (t *crossTable[V]) get(k pairKey, now time.Time, init func() V) *crossEntry[V] {
	e := t.m[k]
	if e == nil {
		e = &crossEntry[V]{key: k, val: init(), size: 1}
		t.m[k] = e
		t.entries++
	} else {
		t.unlink(e)
	}
	if now.After(e.last) {
		e.last = now
	}
	t.append(e)
	return e
}

// resize records that e now stores n items (at least 1 for the key itself).
func (t *crossTable[V]) resize(e *crossEntry[V], n int) {
	if n < 1 {
		n = 1
	}
	t.entries += n - e.size
	e.size = n
}

// expire removes (calling done first) keys idle for longer than the window
// before now, and the oldest keys while more than max items are stored. The
// most recently touched key is never evicted for size: it is the one being
// worked on, and its own size is bounded by the rule.
func (t *crossTable[V]) expire(now time.Time, done func(*crossEntry[V])) {
	for t.head != nil && (t.head.last.Before(now.Add(-t.window)) || t.entries > t.max && t.head != t.tail) {
		e := t.head
		if !e.last.Before(now.Add(-t.window)) {
			t.dropped++
		}
		done(e)
		t.remove(e)
	}
}

// flush removes every key, oldest first (touch order is deterministic
// because records arrive sorted), calling done for each.
func (t *crossTable[V]) flush(done func(*crossEntry[V])) {
	for t.head != nil {
		e := t.head
		done(e)
		t.remove(e)
	}
}

func (t *crossTable[V]) remove(e *crossEntry[V]) {
	t.unlink(e)
	delete(t.m, e.key)
	t.entries -= e.size
}

func (t *crossTable[V]) unlink(e *crossEntry[V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if t.head == e {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if t.tail == e {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (t *crossTable[V]) append(e *crossEntry[V]) {
	e.prev = t.tail
	if t.tail != nil {
		t.tail.next = e
	} else {
		t.head = e
	}
	t.tail = e
}

// crossRule adapts a rule's record handler to the Aggregate interface: the
// shared feed (CrossPass's) sorts, the handler processes one record at a
// time, finish is called at the end of the run after the feed is drained.
//
// It is also an analyze.Ticker: a live capture's tick releases the records
// that have waited crossReorder (without it the last connections of a burst
// would wait in the feed for the next connection to end, or for exit), and
// marks the rule live, which rules read to report early (see earlyReport).
// A file is never ticked: its findings, and their order, stay as they were.
type crossRule struct {
	// feed is CrossPass's shared reorder buffer once the rule has seen a
	// call (an empty one of its own until then)
	feed    *crossFeed
	process func(r *analyze.Reporter, c *crossConn)
	finish  func(r *analyze.Reporter)
	// dropped, when set, returns what the rule's table let go early for
	// its bounds since the last call (counted in Summary.WindowDropped).
	dropped func() int64
	// live is set by the first Tick: the run is a live capture.
	live bool
	// settle, when set, is called in a live capture after each batch of
	// records the feed released (on a connection's end or a tick): a rule
	// reports there what the batch made true, so that connections released
	// together (a burst) make one finding, not one per step of the climb.
	settle func(r *analyze.Reporter)
	// compactor is CrossPass's aggregate (looked up on first use)
	compactor *crossCompactor
}

var _ analyze.Ticker = (*crossRule)(nil)

// batch returns the records CrossPass released with the call at hand (it
// runs before the rules for each summary, tick and flush), in order.
func (a *crossRule) batch(r *analyze.Reporter) []*crossConn {
	if a.compactor == nil {
		a.compactor = r.ResultOf(CrossPass).(*crossCompactor)
		a.feed = &a.compactor.feed
	}
	return a.compactor.released
}

func (a *crossRule) Tick(r *analyze.Reporter, now time.Time) {
	a.live = true
	for _, c := range a.batch(r) {
		a.process(r, c)
	}
	a.settleLive(r)
}

func (a *crossRule) settleLive(r *analyze.Reporter) {
	if a.live && a.settle != nil {
		a.settle(r)
	}
}

func (a *crossRule) Conn(r *analyze.Reporter, s *analyze.ConnSummary) {
	for _, c := range a.batch(r) {
		a.process(r, c)
	}
	a.settleLive(r)
}

func (a *crossRule) Flush(r *analyze.Reporter) {
	for _, c := range a.batch(r) {
		a.process(r, c)
	}
	a.finish(r)
	if a.dropped != nil {
		r.WindowDropped(a.dropped())
	}
}

// CrossPass makes the compact record of each finished connection once for
// all the cross-connection rules (issue 15: each rule made its own copy,
// five records per connection), and puts the records in the order the
// rules see them, once for all of them too (crossFeed). The records are
// shared: rules read them and keep them, never change them.
var CrossPass = &analyze.Pass{
	Name:         "lifecycle-cross",
	Doc:          "the compact record of each finished connection the cross-connection lifecycle rules share",
	NewAggregate: func(*analyze.Config) analyze.Aggregate { return &crossCompactor{} },
}

// crossCompactor is CrossPass's aggregate. released is what the summary,
// tick or flush at hand released from the feed, in order: the rules'
// aggregates, which run after the pass's, process it (crossRule.batch).
type crossCompactor struct {
	feed     crossFeed
	released []*crossConn
}

var _ analyze.Aggregate = (*crossCompactor)(nil)
var _ analyze.Ticker = (*crossCompactor)(nil)

// reset empties released, not keeping the records of the last batch alive.
func (p *crossCompactor) reset() {
	clear(p.released)
	p.released = p.released[:0]
}

func (p *crossCompactor) Conn(_ *analyze.Reporter, s *analyze.ConnSummary) {
	p.reset()
	p.released = p.feed.push(compactConn(s), p.released)
}

func (p *crossCompactor) Tick(_ *analyze.Reporter, now time.Time) {
	p.reset()
	p.released = p.feed.release(now, p.released)
}

func (p *crossCompactor) Flush(*analyze.Reporter) {
	p.reset()
	p.released = p.feed.drain(p.released)
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// pairText names a client→server pair in messages.
func pairText(k pairKey) string {
	t := k.client.String() + " → " + k.server.String()
	if k.sni != "" {
		t += " (TLS server name " + k.sni + ")"
	}
	return t
}

// earlyReport is what one key (a pair's run or episode) remembers of the
// findings it reported early, in a live capture. The policy the rules
// share (no-connection-reuse, parallel-connections, tls-full-handshake-
// repeated; port-churn uses at and reported only):
//
//   - first crossing: the finding is reported as soon as the batch of
//     records holding the one that makes the threshold true is processed
//     (in a live capture a tick releases it about crossReorder after the
//     connection's end): the rule marks the key pending in process and
//     reports it in crossRule.settle, after the batch;
//   - updates: while the run goes on, it is reported again only when its
//     measure (connections in the run, peak of concurrent connections) has
//     grown since the last report and at least CrossWindow of capture time
//     has passed since it: at most one update per window;
//   - end of the run (reuse, long gap, quiet for CrossWindow, end of the
//     capture): reported only if it was never reported or its measure grew
//     since the last report (the final tally then differs); never the same
//     finding twice.
//
// In a file nothing is reported early: the run is reported once, at its
// end, as before.
type earlyReport struct {
	reported bool
	at       time.Time // capture time of the last report
	measure  int       // the measure then
}

// update says whether a run whose measure is m should be reported at now
// while it goes on (first crossing, or the window's update).
func (e *earlyReport) update(now time.Time, m int, window time.Duration) bool {
	return !e.reported || m > e.measure && now.Sub(e.at) >= window
}

// final says whether the run must be reported at its end.
func (e *earlyReport) final(m int) bool { return !e.reported || m > e.measure }

// pendingKey is a key whose early report is due after the current batch,
// as of at (the end of the record that made it due).
type pendingKey struct {
	key pairKey
	at  time.Time
}

// done records a report of measure m at now.
func (e *earlyReport) done(now time.Time, m int) {
	e.reported, e.at, e.measure = true, now, m
}
