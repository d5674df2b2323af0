package proxy

import (
	"cmp"
	"hash/maphash"
	"iter"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Leg correlation: when a capture holds both sides of a proxy (taken on the
// proxy host, or on a mirror port that sees both networks), the same
// transaction appears twice: on the client's connection to the proxy ("leg
// 1", often with an absolute-form target) and on the proxy's connection to
// the origin ("leg 2", origin-form target plus Host). The proxy rules
// (hop-by-hop-forwarded, dumb-proxy-keepalive) compare the two copies.
//
// Data flow, following DESIGN.md's "compact summaries, never packets":
//
//  1. legConn (a per-connection TransactionChecker) reduces each
//     transaction to a legTx: method, normalised target, body lengths, a few
//     header facts (the hop-by-hop fields as sent, the Connection tokens, a
//     hash per field name) and the positions where the request and response
//     started and ended. It stores the connection's legConn on the summary
//     with Ctx.SetSummaryData.
//  2. legPairer (inside each proxy rule's Aggregate) keeps those legTx in a
//     store indexed by (method, path, request body length), bounded by
//     CrossMaxEntries transactions and by CrossWindow of capture time, and
//     pairs them when they leave the store (age, memory pressure, end of
//     run) — late enough that both legs' connections have normally ended.
//  3. The rule looks at each pair (and at each transaction that found no
//     partner) and reports.
//
// Pairing (legPairer.best): leg 1 = A, leg 2 = B.
//
//   - same method, same path (the absolute-form target of A reduced to its
//     path, or A's origin-form target), same decoded request body length;
//     CONNECT, asterisk-form and transactions with capture gaps never pair;
//   - timing order: B's request starts after A's header block arrived (the
//     proxy needs it to route) and within ProxyLegWindow; when both have a
//     response, B's response started no later than A's and the statuses
//     agree; A answered while B was not is impossible (that is a cache hit);
//   - a proxy cannot be its own origin: B's server is never A's server
//     (same ip:port). Many clients of one server (two curls, a client's
//     connection pool, a benchmark) send identical requests that may nest
//     in time; they are never a chain;
//   - the proxy is the server of A and the client of B, and B comes from
//     the proxy's side. Same IP first. A proxy that uses another address
//     upstream (two interfaces, as in the lab, or a mirror) is accepted
//     only when nothing is ambiguous: the four addresses differ; B's
//     connection was opened for A (its SYN after A's header block), or A's
//     absolute-form target names B's server literally, or an earlier
//     transaction already paired the two connections; A was sent to a
//     proxy (absolute-form) or B gained a Via/X-Forwarded-For/Forwarded;
//     byte-identical header blocks (what a NAT or mirror shows) pair only
//     when an HTTP-aware hop chose the destination (the SYN after the
//     header block, or the named authority); and A has exactly one such
//     candidate B and B exactly one such A;
//   - a connection with a direction missing from the capture pairs with
//     nothing (no packet at all one way: reassembly.Conn.SilentSide);
//   - among candidates, the lowest cost wins: (B request start − A request
//     start) + (A response start − B response start), so that identical
//     requests from several clients, or responses that cross in time, pair
//     with the copy whose timing fits; a matching Host/authority comes first
//     (a proxy may rewrite Host, so a mismatch only ranks lower).
//
// A transaction may be leg 2 of one pair and leg 1 of the next (a chain of
// two proxies captured on all three legs).

// maxLegTx bounds the transactions kept per connection. A proxy's pooled
// upstream connection can carry thousands; pairing the first few hundred is
// enough to diagnose the proxy, and bounds the cost of one connection.
const maxLegTx = 256

// maxLegValue bounds the hop-by-hop values kept per field (they are only
// compared and quoted).
const maxLegValue = 128

// maxLegNames bounds the field-name hashes kept per message.
const maxLegNames = 64

// maxLegScan bounds the candidates examined per lookup: a capture with
// thousands of identical requests in flight at once (GET / from a load test)
// would otherwise cost O(n²); beyond it a partner may be missed.
const maxLegScan = 1024

// legPos is a compact position: time, evidence frame, global ordinal.
type legPos struct {
	t     time.Time
	frame analyze.Frame
	ord   int64
}

func legPosOf(p flow.Pos) legPos { return legPos{t: p.Time, frame: analyze.FrameAt(p), ord: p.Ord} }

func (p legPos) set() bool { return p.frame.Frame != 0 || !p.t.IsZero() }

// legField is a hop-by-hop field as sent (value cut at maxLegValue).
type legField struct{ name, value string }

// legMsg is what the proxy rules know about one message's header block.
// The hop-by-hop facts, absent from most messages, are behind a pointer
// (issue 15: compact records): never nil once collected, it points to a
// shared empty legHop when there are none, and to a shared one for the
// common lone "Connection: keep-alive" or "close". Records are never
// changed after collect, so sharing is safe.
type legMsg struct {
	*legHop
	names []uint32 // hash of every field name, lower-cased (first maxLegNames)
	sig   uint64   // hash of the target and every field: equal only for an untouched copy
	xff   bool     // X-Forwarded-For present
	fwd   bool     // Forwarded present
}

// legHop is the part of a header block kept as text.
type legHop struct {
	hop  []legField // Connection and the fixed hop-by-hop fields, as sent, in order
	conn []string   // Connection tokens as written
	via  string     // first Via value ("" when none)
}

// noHop is the legHop of a message without hop-by-hop fields or Via.
var noHop = &legHop{}

// sharedHops are the legHops of a message whose only hop-by-hop field is
// one of these Connection headers (and no Via): what most responses carry.
var sharedHops = func() map[legField]*legHop {
	m := map[legField]*legHop{}
	for _, v := range []string{"keep-alive", "Keep-Alive", "close", "Close"} {
		f := legField{"Connection", v}
		m[f] = &legHop{hop: []legField{f}, conn: []string{v}}
	}
	return m
}()

// internNames are the field names and values kept without a copy when they
// are written exactly so.
var internNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range append(hopByHopNames[:], "Connection", "keep-alive", "Keep-Alive", "close", "Close", "upgrade", "Upgrade", "HTTP/1.1", "HTTP/1.0") {
		m[n] = n
	}
	return m
}()

// intern returns s, copied unless it is one of internNames (the strings
// of the records must not point into the parsed message).
func intern(s string) string {
	if t, ok := internNames[s]; ok {
		return t
	}
	return strings.Clone(s)
}

// hopByHopNames are the fields RFC 9110 §7.6.1 (and RFC 9112 appendix C.2.2
// for Keep-Alive and Proxy-Connection) make hop-by-hop, besides Connection
// itself and whatever Connection names.
var hopByHopNames = [...]string{"Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Proxy-Authorization", "Proxy-Authenticate"}

// hopLens[n]: some hop-by-hop name (or Connection) is n bytes long.
var hopLens = func() (l [20]bool) {
	for _, n := range append(hopByHopNames[:], "Connection") {
		l[len(n)] = true
	}
	return l
}()

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isHopName(n string) bool {
	// by length first: most fields have a length no hop-by-hop name has
	// (unless they are not ASCII: EqualFold folds the Kelvin sign to k)
	if (len(n) >= len(hopLens) || !hopLens[len(n)]) && isASCII(n) {
		return false
	}
	if strings.EqualFold(n, "Connection") {
		return true
	}
	for _, h := range hopByHopNames {
		if strings.EqualFold(n, h) {
			return true
		}
	}
	return false
}

// nameHash is 32-bit FNV-1a of n lower-cased (written out: hash/fnv
// through its interface cost a call per byte, issue 15).
func nameHash(n string) uint32 {
	h := uint32(fnv32Offset)
	for i := 0; i < len(n); i++ {
		c := n[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		h ^= uint32(c)
		h *= fnv32Prime
	}
	return h
}

// FNV-1a parameters (hash/fnv's), for nameHash.
const (
	fnv32Offset = 2166136261
	fnv32Prime  = 16777619
)

// sigSeed seeds the message signatures (legMsg.sig). They are only ever
// compared with each other within one run, so a seed made per process
// serves; hash/maphash reads eight bytes at a time where the FNV-1a loop
// before it read one (the signature covers every header byte of every
// message: issue 15).
var sigSeed = maphash.MakeSeed()

// legMsgBuild is a header block as read first reduces it, in scratch
// lists the caller provides (collect's, on its stack: issue 15, the lists
// grown one append at a time were most of the proxy rules' allocations).
// compact then keeps what the record needs in a legMsg.
type legMsgBuild struct {
	hop   []legField
	conn  []string
	names []uint32
	sig   uint64
	via   string
	xff   bool
	fwd   bool
}

// newLegMsg reduces m in lists of its own.
func newLegMsg(m *http1.Message) legMsgBuild {
	return legMsgBuild{}.read(m)
}

// read returns b with m reduced into it, appending to b's lists. (A value
// in and out, not a pointer: stores through a pointer would make the
// caller's scratch arrays escape to the heap.)
func (b legMsgBuild) read(m *http1.Message) legMsgBuild {
	var sig maphash.Hash
	sig.SetSeed(sigSeed)
	sig.WriteString(m.Target)
	sig.WriteByte(0)
	names := len(b.names)
	for _, f := range m.Headers {
		sig.WriteString(f.Name)
		sig.WriteByte(0)
		sig.WriteString(f.Value)
		sig.WriteByte(0)
		if len(b.names)-names < maxLegNames {
			b.names = append(b.names, nameHash(f.Name))
		}
		switch {
		case isHopName(f.Name):
			v := f.Value
			if len(v) > maxLegValue {
				v = v[:maxLegValue]
			}
			b.hop = append(b.hop, legField{intern(f.Name), intern(v)})
			if strings.EqualFold(f.Name, "Connection") {
				for t := range http1.HeaderTokens(f.Value) {
					if len(b.conn) < maxLegConn {
						b.conn = append(b.conn, intern(t))
					}
				}
			}
		case strings.EqualFold(f.Name, "Via"):
			if b.via == "" {
				// cut, not copied yet: compact copies it when it is kept
				b.via = f.Value
				if len(b.via) > maxLegValue {
					b.via = b.via[:maxLegValue]
				}
			}
		case strings.EqualFold(f.Name, "X-Forwarded-For"):
			b.xff = true
		case strings.EqualFold(f.Name, "Forwarded"):
			b.fwd = true
		}
	}
	b.sig = sig.Sum64()
	return b
}

// maxLegConn bounds the Connection tokens kept per message.
const maxLegConn = 16

// bytes is what the message adds to legTxBytes, with nNames field-name
// hashes. It charges the capacities the lists had when the records built
// each one from nothing, one append at a time (before issue 15), so that
// the store's byte bound, and what it drops, stay as they were.
func (b *legMsgBuild) bytes(nNames int) int {
	n := len(b.via) + 4*namesCaps[nNames] + 32*hopCap(len(b.hop)) + 16*connCaps[len(b.conn)]
	for _, f := range b.hop {
		n += len(f.name) + len(f.value)
	}
	for _, c := range b.conn {
		n += len(c)
	}
	return n
}

// The capacities of a []uint32, []legField and []string built from nil by
// n appends of one element, for n up to maxLegNames (more hop-by-hop
// fields than that is a message no real client sends: hopCap then builds
// such a list).
var (
	namesCaps = appendCapTable[uint32](maxLegNames)
	hopCaps   = appendCapTable[legField](maxLegNames)
	connCaps  = appendCapTable[string](maxLegConn)
)

func appendCapTable[T any](max int) []int {
	t := make([]int, max+1)
	for n := range t {
		t[n] = appendCapBuilt[T](n)
	}
	return t
}

func appendCapBuilt[T any](n int) int {
	var s []T
	var z T
	for range n {
		s = append(s, z)
	}
	// the records' lists escaped to the heap: this one must too, or the
	// compiler may start it in a stack buffer with another capacity
	capEscape(s)
	return cap(s)
}

// capEscape makes appendCapBuilt's list escape (a call through a function
// variable: the compiler cannot see it keeps nothing).
var capEscape = func(any) {}

func hopCap(n int) int {
	if n < len(hopCaps) {
		return hopCaps[n]
	}
	return appendCapBuilt[legField](n)
}

// compact returns the legMsg kept for b (without its names, which collect
// stores for both messages at once): its hop-by-hop facts shared when they
// are none or a lone Connection: keep-alive or close, else copied out of
// the scratch lists.
func (b *legMsgBuild) compact() legMsg {
	lm := legMsg{sig: b.sig, xff: b.xff, fwd: b.fwd, legHop: noHop}
	switch {
	case len(b.hop) == 0 && b.via == "":
	case len(b.hop) == 1 && b.via == "" && len(b.conn) == 1 && b.conn[0] == b.hop[0].value && sharedHops[b.hop[0]] != nil:
		lm.legHop = sharedHops[b.hop[0]]
	default:
		lm.legHop = &legHop{hop: slices.Clone(b.hop), conn: slices.Clone(b.conn), via: strings.Clone(b.via)}
	}
	return lm
}

// get returns the first hop-by-hop field named n.
func (m *legMsg) get(n string) (legField, bool) {
	for _, f := range m.hop {
		if strings.EqualFold(f.name, n) {
			return f, true
		}
	}
	return legField{}, false
}

// has reports whether a field named n (any name) was present.
func (m *legMsg) has(n string) bool {
	h := nameHash(n)
	for _, x := range m.names {
		if x == h {
			return true
		}
	}
	return false
}

// connHas reports whether the Connection tokens include tok.
func (m *legMsg) connHas(tok string) bool {
	for _, t := range m.conn {
		if strings.EqualFold(t, tok) {
			return true
		}
	}
	return false
}

// proxied reports whether the message says it came through a proxy.
func (m *legMsg) proxied() bool { return m.via != "" || m.xff || m.fwd }

// legTx is one transaction as the proxy rules see it, and its pairing
// state in the store. Compact (issue 15): the strings are shared with the
// connection's previous transaction when equal, or constants, and the
// flags are packed together.
type legTx struct {
	conn   *legConn
	method string
	target string
	proto  string // request's
	// authority and path: from an absolute-form target, else Host and the
	// origin-form target. authority is lower-case without a default :80.
	authority, path string
	reqBody         int64
	req             legMsg
	resp            legMsg
	status          int32
	index           int32 // 1-based
	// bytes is legTxBytes, computed once when collected
	bytes int32

	absolute     bool
	hasResp      bool
	respComplete bool
	gap          bool

	// pairing state: paired as the client leg, as the upstream leg; done:
	// left the store
	asLeg1, asLeg2, done bool

	// reqHdrEndOrd: where the request's header block ended (only its
	// ordinal is compared)
	reqHdrEndOrd       int64
	reqStart, reqEnd   legPos
	respStart, respEnd legPos
}

func (t *legTx) http10() bool { return t.proto == "HTTP/1.0" }

// legConn is one connection's leg records plus, once it ended, the facts the
// dumb-proxy rule needs about how it closed.
type legConn struct {
	txs []*legTx // at most maxLegTx, the later ones are not kept
	// tx0 is the first of txs, and txp the start of the list: kept in the
	// legConn, they make one allocation with it (issue 15)
	tx0 legTx
	txp [4]*legTx
	// the flags and the end reason together, in one word (issue 15)
	gap    bool
	tunnel bool
	hasSYN bool // the client's SYN was captured
	// oneSided: one direction has no packet at all in the capture
	// (asymmetric routing, a span port seeing one way). Pairing compares
	// requests and responses and their timing on both legs, so such a
	// connection pairs with nothing.
	oneSided bool
	end      reassembly.EndReason
	// lastTarget and lastAuthority: the strings of the last transaction
	// collected, shared by the next when equal
	lastTarget, lastAuthority string

	ref      analyze.ConnRef
	synOrd   int64     // the SYN's ordinal (only compared)
	fin, rst [2]legPos // first FIN / RST per side (flow.Dir), zero when none
	last     legPos
	rtt      time.Duration // SYN → handshake ACK, 0 when not seen
	// upstreams: connections already paired as this one's upstream leg
	// (bounded by maxLegLinks): the proxy's side of them is established, so
	// later transactions on the same two connections need no new evidence.
	upstreams []*legConn
}

// maxLegLinks bounds legConn.upstreams.
const maxLegLinks = 8

// linked reports whether up was already paired as c's upstream leg.
func (c *legConn) linked(up *legConn) bool {
	for _, u := range c.upstreams {
		if u == up {
			return true
		}
	}
	return false
}

func (c *legConn) link(up *legConn) {
	if !c.linked(up) && len(c.upstreams) < maxLegLinks {
		c.upstreams = append(c.upstreams, up)
	}
}

// closeAfter returns the first FIN or RST on the connection at or after t
// (either side), its side, and whether one was found.
func (c *legConn) closeAfter(t time.Time) (legPos, int, bool) {
	var best legPos
	side, ok := -1, false
	for d := 0; d < 2; d++ {
		for _, p := range []legPos{c.fin[d], c.rst[d]} {
			if !p.set() || p.t.Before(t) {
				continue
			}
			if !ok || p.ord < best.ord {
				best, side, ok = p, d, true
			}
		}
	}
	return best, side, ok
}

// LegsPass pairs the two legs of proxied transactions for the proxy
// rules (hop-by-hop-forwarded, dumb-proxy-keepalive) and lists the pairs in
// the summary's ProxyChains. Its result is the list of pairs and unpaired
// transactions released by the summary (or flush) at hand: legsOf.
var LegsPass = &analyze.Pass{
	Name:         "proxy-legs",
	Doc:          "transactions seen on both legs of a proxy, paired",
	NewConn:      func(*analyze.Config) analyze.Checker { return &legConn{} },
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return &legPass{p: newLegPairer(cfg)} },
}

// The pass's per-connection checker is the connection's legConn itself
// (issue 15: it was a legCollector pointing to one, two allocations): the
// engine makes a checker at its first call, and this one's first call is
// the first transaction, which the legConn was made for anyway. It reduces
// each transaction to a legTx.
var _ analyze.TransactionChecker = (*legConn)(nil)

func (c *legConn) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if c.txs == nil {
		c.txs = c.txp[:0]
		ctx.SetSummaryData(c)
	}
	c.collect(t)
}

// collect adds t to the connection's leg records.
func (c *legConn) collect(t *http1.Transaction) {
	q := t.Request
	if q == nil || q.Method == "CONNECT" || q.Target == "*" {
		return
	}
	if len(c.txs) >= maxLegTx {
		return
	}
	// the first record lives in the legConn (one allocation instead of two
	// for the common connection with one or a few transactions)
	x := &c.tx0
	if len(c.txs) > 0 {
		x = new(legTx)
	}
	*x = legTx{
		conn: c, index: int32(t.Index + 1), reqBody: q.BodyLength, gap: t.Gap || q.End != http1.EndComplete,
		reqStart: legPosOf(q.Start), reqHdrEndOrd: q.HeaderEnd.Ord, reqEnd: legPosOf(q.Last),
	}
	x.req.legHop, x.resp.legHop = noHop, noHop
	c.txs = append(c.txs, x)
	if x.gap {
		// never stored, never paired: the dumb-proxy rule looks at a gap
		// transaction only to see it is one (its index and gap flag)
		return
	}
	x.method = http1.KnownMethod(q.Method)
	if x.method == "" {
		x.method = strings.Clone(q.Method)
	}
	x.proto = intern(q.Proto)
	// a connection's transactions mostly repeat the target and Host: share
	// the previous one's copies
	host, _ := q.Get("Host")
	// hostText is the Host value the authority is taken from: a copy made
	// with the target's (one allocation for both, issue 15) when the target
	// is new, else the message's own text, copied below if kept
	hostText, owned := host, false
	if q.Target == c.lastTarget {
		x.target = c.lastTarget
	} else {
		// (a Builder, not +: a concatenation with an empty string returns
		// the other one, the message's text, uncopied)
		var sb strings.Builder
		sb.Grow(len(q.Target) + len(host))
		sb.WriteString(q.Target)
		sb.WriteString(host)
		both := sb.String()
		x.target, hostText, owned = both[:len(q.Target)], both[len(q.Target):], true
		c.lastTarget = x.target
	}
	x.authority, x.path, x.absolute = splitTarget(x.target, hostText)
	switch {
	case x.authority == c.lastAuthority:
		x.authority = c.lastAuthority
	case owned:
		// from the target, the Host copy or strings.ToLower: already a copy
		c.lastAuthority = x.authority
	default:
		x.authority = strings.Clone(x.authority) // it may be Host's text
		c.lastAuthority = x.authority
	}
	// scratch lists for both messages: the names of the request then of
	// the response in nb, kept in one allocation at the end
	var (
		nb [2 * maxLegNames]uint32
		hb [8]legField
		cb [maxLegConn]string
	)
	n := 656 + len(x.method) + len(x.target) + len(host) + len(x.authority) + len(x.path)
	req := legMsgBuild{names: nb[:0], hop: hb[:0], conn: cb[:0]}.read(q)
	nReq := len(req.names)
	n += req.bytes(nReq)
	x.req = req.compact()
	nAll := nReq
	if r := t.Response; r != nil {
		first := r
		if len(t.Interim) > 0 {
			first = t.Interim[0]
		}
		x.hasResp, x.status = true, int32(r.Status)
		x.respComplete = r.End == http1.EndComplete
		resp := legMsgBuild{names: nb[nReq:nReq], hop: hb[:0], conn: cb[:0]}.read(r)
		nAll += len(resp.names)
		n += resp.bytes(len(resp.names))
		x.resp = resp.compact()
		x.respStart, x.respEnd = legPosOf(first.Start), legPosOf(r.Last)
	}
	if nAll > 0 {
		names := slices.Clone(nb[:nAll])
		x.req.names, x.resp.names = names[:nReq:nReq], names[nReq:]
	}
	x.bytes = int32(min(n, 1<<30))
}

// splitTarget normalises a request target: absolute-form "http://h:p/x?y"
// gives ("h:p", "/x?y", true); origin-form gives (Host, target, false).
func splitTarget(target, host string) (authority, path string, absolute bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if hasPrefixASCIIFold(target, scheme) {
			rest := target[len(scheme):]
			i := strings.IndexAny(rest, "/?#")
			if i < 0 {
				return normAuthority(rest, scheme), "/", true
			}
			p := rest[i:]
			if p[0] != '/' {
				p = "/" + p
			}
			return normAuthority(rest[:i], scheme), p, true
		}
	}
	return normAuthority(host, "http://"), target, false
}

// hasPrefixASCIIFold reports whether strings.ToLower(s) starts with
// prefix, a lower-case ASCII string of letters and punctuation, without
// the copy ToLower makes of a target with capitals (issue 15): no
// non-ASCII letter lower-cases to an ASCII one but the Kelvin sign (k) and
// the dotted capital I (i), and the schemes hold neither.
func hasPrefixASCIIFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

func normAuthority(a, scheme string) string {
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		a = a[i+1:]
	}
	a = strings.ToLower(a)
	if scheme == "http://" {
		a = strings.TrimSuffix(a, ":80")
	} else {
		a = strings.TrimSuffix(a, ":443")
	}
	return a
}

// fillConn copies what the rules need from the finished connection.
func (c *legConn) fillConn(s *analyze.ConnSummary) {
	cn := s.Conn
	c.ref = analyze.ConnRef{ID: cn.ID, Client: cn.Client, Server: cn.Server}
	c.gap = len(cn.Gaps) > 0 || cn.GapsDropped > 0 || cn.MidStream || cn.RolesGuessed
	c.tunnel = cn.Tunnel
	for d := 0; d < 2; d++ {
		if p := cn.Halves[d].FIN; p != nil {
			c.fin[d] = legPosOf(*p)
		}
		if p := cn.Halves[d].RST; p != nil {
			c.rst[d] = legPosOf(*p)
		}
	}
	c.last = legPosOf(cn.Last)
	c.end = cn.End
	if cn.SYN.Frame != 0 {
		c.hasSYN, c.synOrd = true, cn.SYN.Ord
		if cn.HandshakeACK.Frame != 0 {
			c.rtt = nonNeg(cn.HandshakeACK.Time.Sub(cn.SYN.Time))
		}
	}
	c.oneSided = cn.SilentSide()
}

// legKey indexes the store.
type legKey struct {
	method, path string
	body         int64
}

// legSlot is one list of the store: the transactions of one key sent to one
// server. A proxy's upstream connection never goes to the proxy's own
// listening address, so the leg-2 candidates of a transaction are in the
// slots of its key for the other servers only: on a busy single server
// (everything to one address and port, as in a load test) there are none,
// and pairing costs O(1) per transaction instead of a scan of every
// identical request in the window.
type legSlot struct {
	key    legKey
	server netip.AddrPort
}

// legTxBytes estimates what a stored transaction holds (the legTx, its
// header facts and strings, the store's entry): the store is bounded by
// Config.CrossMaxBytes of it as well as by CrossMaxEntries transactions.
// The figure is the one measured on the records as first built (656 bytes
// and the text): the records are smaller now (issue 15), so the bound is
// conservative; it is computed once, in collect.
func legTxBytes(t *legTx) int { return int(t.bytes) }

// legPairer is the pairing machinery one proxy rule's Aggregate embeds.
type legPairer struct {
	cfg     *analyze.Config
	index   map[legSlot]*legList
	servers map[legKey]*legGroup
	queue   []*legTx // every stored transaction, in arrival order (drained by age)
	out     []*legTx // expire's scratch list
	stored  int
	bytes   int   // legTxBytes of the stored transactions
	dropped int64 // transactions that left early because the store was full
	// watermark is the newest connection end seen
	watermark time.Time
	// pair is called for each pair (a = client leg, b = upstream leg);
	// single for each stored transaction that left the store without being
	// paired either way.
	pair   func(a, b *legTx)
	single func(t *legTx)
}

func newLegPairer(cfg *analyze.Config) *legPairer {
	return &legPairer{cfg: cfg, index: map[legSlot]*legList{}, servers: map[legKey]*legGroup{}}
}

// legList is a slot's stored transactions, in arrival order. The maps hold
// pointers, so that adding to a list or trimming it is no map write (issue
// 15).
type legList struct {
	server netip.AddrPort
	txs    []*legTx
}

// legGroup is a key's slots, in the order their servers arrived.
type legGroup struct{ lists []*legList }

func keyOf(t *legTx) legKey { return legKey{t.method, t.path, t.reqBody} }

func slotOf(t *legTx) legSlot { return legSlot{keyOf(t), t.conn.ref.Server} }

// add stores a finished connection's transactions (c, collected by
// legConn.Transaction) and pairs what is due.
func (p *legPairer) add(s *analyze.ConnSummary, c *legConn) {
	if c == nil || s.Conn == nil {
		return
	}
	c.fillConn(s)
	if c.gap || c.oneSided {
		// a connection with holes: transaction order and content are
		// uncertain, so it pairs with nothing (no finding beats a false one);
		// with one direction missing, neither the responses nor the
		// proxy's timing can be compared
		return
	}
	for _, t := range c.txs {
		if t.gap {
			continue
		}
		k := slotOf(t)
		l := p.index[k]
		if l == nil {
			l = &legList{server: k.server}
			p.index[k] = l
			g := p.servers[k.key]
			if g == nil {
				g = &legGroup{}
				p.servers[k.key] = g
			}
			g.lists = append(g.lists, l)
		}
		l.txs = append(l.txs, t)
		p.queue = append(p.queue, t)
		p.stored++
		p.bytes += legTxBytes(t)
	}
	if c.last.t.After(p.watermark) {
		p.watermark = c.last.t
	}
	p.expire(false)
}

// expire pairs and removes stored transactions whose request is older than
// CrossWindow before the watermark, and the oldest while more than
// CrossMaxEntries are stored or they hold more than CrossMaxBytes (those
// are counted in dropped); all of them when all is set. The queue is in
// arrival (connection-end) order, which is nearly request order: only its
// head is examined, so a transaction that arrived late leaves a little late,
// and each add costs O(1) amortised.
func (p *legPairer) expire(all bool) {
	max := p.cfg.CrossMaxEntries
	if max <= 0 {
		max = 1
	}
	maxBytes := p.cfg.CrossMaxBytes
	due := p.watermark.Add(-p.cfg.CrossWindow)
	n, bytes := 0, p.bytes
	for n < len(p.queue) {
		old := p.queue[n].reqStart.t.Before(due)
		full := p.stored-n > max || maxBytes > 0 && bytes > maxBytes
		if !all && !old && !full {
			break
		}
		if !all && !old {
			p.dropped++
		}
		bytes -= legTxBytes(p.queue[n])
		n++
	}
	p.bytes = bytes
	if n == 0 {
		return
	}
	// out is a scratch list reused by every call (issue 15: a new one per
	// connection end was most of the pairer's allocations)
	out := append(p.out[:0], p.queue[:n]...)
	clear(p.queue[:n])
	p.queue = p.queue[n:]
	// pair in request order, so the result does not depend on arrival order
	// (legCmp is a total order: any sort gives the same list)
	slices.SortFunc(out, legCmp)
	for _, t := range out {
		if !t.asLeg1 {
			if b := p.best(t); b != nil {
				t.asLeg1, b.asLeg2 = true, true
				t.conn.link(b.conn)
				if p.pair != nil {
					p.pair(t, b)
				}
			}
		}
	}
	for _, t := range out {
		t.done = true
		p.stored--
	}
	for _, t := range out {
		// index lists are in arrival order too: done entries gather at
		// their front (best skips any others until they get there)
		k := slotOf(t)
		if l := p.index[k]; l != nil {
			for len(l.txs) > 0 && l.txs[0].done {
				l.txs[0] = nil
				l.txs = l.txs[1:]
			}
			if len(l.txs) == 0 {
				delete(p.index, k)
				g := p.servers[k.key]
				if i := slices.Index(g.lists, l); i >= 0 {
					g.lists = slices.Delete(g.lists, i, i+1)
				}
				if len(g.lists) == 0 {
					delete(p.servers, k.key)
				}
			}
		}
		if !t.asLeg1 && !t.asLeg2 && p.single != nil {
			p.single(t)
		}
	}
	clear(out)
	p.out = out[:0]
}

func (p *legPairer) flush() { p.expire(true) }

// legLess orders transactions by request start (capture order), then
// connection and index, so pairing does not depend on arrival order.
func legLess(a, b *legTx) bool { return legCmp(a, b) < 0 }

// legCmp is legLess as a three-way comparison (for slices.SortFunc).
func legCmp(a, b *legTx) int {
	if c := cmp.Compare(a.reqStart.ord, b.reqStart.ord); c != 0 {
		return c
	}
	if c := cmp.Compare(a.conn.ref.ID, b.conn.ref.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// fits checks every pairing constraint except uniqueness; sameIP says how
// the proxy address matched.
func (p *legPairer) fits(a, b *legTx) (ok, sameIP bool) {
	if a.conn == b.conn || b.asLeg2 || b.done {
		return false, false
	}
	ac, bc := a.conn.ref, b.conn.ref
	// timing, in capture order (the global packet ordinal, exact for one
	// capture point; two interfaces merged by timestamp keep it as long as
	// the proxy takes longer than the clocks disagree): the proxy routes
	// after the header block arrived, within the window; the response comes
	// back after the origin's
	if b.reqStart.ord <= a.reqHdrEndOrd || b.reqStart.t.Sub(a.reqStart.t) > p.cfg.ProxyLegWindow {
		return false, false
	}
	switch {
	case a.hasResp && !b.hasResp:
		return false, false // answered without the upstream: a cache, not this leg
	case a.hasResp && b.hasResp:
		if a.status != b.status || a.respStart.ord <= b.respStart.ord {
			return false, false
		}
	}
	// a proxy cannot be its own origin: two clients of one server (two
	// curls, a client's connection pool, a benchmark) send the same request
	// to the same endpoint, and one of them may even be answered inside the
	// other's wait; that is not a proxy forwarding it
	if ac.Server == bc.Server {
		return false, false
	}
	if ac.Server.Addr() == bc.Client.Addr() {
		return true, true // the upstream leg comes from the proxy's host
	}
	// another proxy address: only with proxy evidence and distinct hosts
	if ac.Server.Addr() == bc.Server.Addr() || ac.Client.Addr() == bc.Client.Addr() || ac.Client.Addr() == bc.Server.Addr() {
		return false, false
	}
	// the upstream connection must come from the proxy's side: opened
	// because of this request (its SYN after A's header block), already
	// paired with A's connection by an earlier transaction, or sent to the
	// very endpoint A's absolute-form target named (A asked a proxy for it)
	opened := b.conn.hasSYN && b.conn.synOrd > a.reqHdrEndOrd
	named := a.absolute && authorityIs(a.authority, bc.Server)
	if !opened && !named && !a.conn.linked(b.conn) {
		return false, false
	}
	if a.req.sig == b.req.sig {
		// byte-identical: a NAT or a mirror of the same hop, unless an
		// HTTP-aware hop chose the destination: the client named the
		// upstream server in an absolute-form target, or the upstream
		// connection was opened after the request arrived (a NAT's outer
		// connection exists before the client can send anything)
		return opened || named, false
	}
	if !a.absolute && !(b.req.proxied() && !a.req.proxied()) {
		return false, false
	}
	return true, false
}

// authorityIs reports whether authority (normalised by normAuthority: lower
// case, no default :80) names the endpoint ap literally. Host names never
// match: connlint resolves nothing.
func authorityIs(authority string, ap netip.AddrPort) bool {
	if x, err := netip.ParseAddrPort(authority); err == nil {
		return x.Addr().Unmap() == ap.Addr().Unmap() && x.Port() == ap.Port()
	}
	x, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(authority, "["), "]"))
	return err == nil && x.Unmap() == ap.Addr().Unmap() && ap.Port() == 80
}

// best returns the leg-2 partner of a, or nil.
func (p *legPairer) best(a *legTx) *legTx {
	var (
		win              *legTx
		winCost          time.Duration
		winSame, winHost bool
		othersCount      int
	)
	for b := range p.candidates(keyOf(a), a.conn.ref.Server) {
		ok, same := p.fits(a, b)
		if !ok {
			continue
		}
		if !same {
			othersCount++
		}
		host := a.authority != "" && a.authority == b.authority
		cost := legCost(a, b)
		better := win == nil
		if !better {
			switch {
			case same != winSame:
				better = same
			case host != winHost:
				better = host
			case cost != winCost:
				better = cost < winCost
			default:
				better = legLess(b, win)
			}
		}
		if better {
			win, winCost, winSame, winHost = b, cost, same, host
		}
	}
	if win == nil || winSame {
		return win
	}
	// a different proxy address: a must have exactly one candidate, and be
	// that candidate's best leg 1 by the same cost, strictly (a client that
	// gave up and retried on a new connection leaves two possible leg 1s;
	// the retry's timing fits, the abandoned request's does not)
	if othersCount != 1 {
		return nil
	}
	for a2 := range p.candidates(keyOf(win), win.conn.ref.Server) {
		if a2 == a || a2.done || a2.asLeg1 {
			continue
		}
		if ok, same := p.fits(a2, win); ok && !same && legCost(a2, win) <= winCost {
			return nil
		}
	}
	return win
}

// candidates yields the stored transactions of key k sent to another server
// than not (the other leg of a pair never shares its server: a proxy does
// not connect to its own listening address), at most maxLegScan per server.
func (p *legPairer) candidates(k legKey, not netip.AddrPort) iter.Seq[*legTx] {
	return func(yield func(*legTx) bool) {
		g := p.servers[k]
		if g == nil {
			return
		}
		for _, l := range g.lists {
			if l.server == not {
				continue
			}
			for i, e := range l.txs {
				if i == maxLegScan || !yield(e) {
					break
				}
			}
		}
	}
}

// legCost is how far apart the two legs are: request to request plus
// response to response. The right partner is the closest one.
func legCost(a, b *legTx) time.Duration {
	cost := b.reqStart.t.Sub(a.reqStart.t)
	if a.hasResp && b.hasResp {
		cost += a.respStart.t.Sub(b.respStart.t)
	}
	return cost
}

// newProxyChain describes pair (a, b).
func newProxyChain(a, b *legTx) analyze.ProxyChain {
	ch := analyze.ProxyChain{
		Client: a.conn.ref.Client, Proxy: a.conn.ref.Server, ProxyOut: b.conn.ref.Client, Origin: b.conn.ref.Server,
		ClientConn: a.conn.ref.ID, OriginConn: b.conn.ref.ID, ClientTx: int(a.index), OriginTx: int(b.index),
		Method: a.method, Target: a.target, Start: a.reqStart.t,
		ProxyInDelay: nonNeg(b.reqStart.t.Sub(a.reqStart.t)),
	}
	fs := []analyze.Frame{a.reqStart.frame, b.reqStart.frame}
	if b.hasResp {
		ch.OriginDelay = nonNeg(b.respStart.t.Sub(b.reqEnd.t))
		fs = append(fs, b.respStart.frame)
	}
	if a.hasResp {
		ch.Status, ch.Answered = int(a.status), true
		ch.Total = nonNeg(a.respEnd.t.Sub(a.reqStart.t))
		fs = append(fs, a.respStart.frame)
		if b.hasResp {
			ch.ProxyOutDelay = nonNeg(a.respStart.t.Sub(b.respStart.t))
		}
	}
	for _, f := range fs {
		if f.Frame != 0 {
			ch.Frames = append(ch.Frames, f)
		}
	}
	return ch
}

func nonNeg(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// legEvent is one result of the pass: a pair (a = client leg, b = upstream
// leg), or a transaction that left the store unpaired (b nil).
type legEvent struct{ a, b *legTx }

// legPass is the pass's aggregate. Each Conn and Flush replaces released
// with what that call paired, in pairing order: the rules' aggregates, which
// run after it, read it through legsOf.
type legPass struct {
	p        *legPairer
	rep      *analyze.Reporter
	released []legEvent
}

var _ analyze.Aggregate = (*legPass)(nil)

func (g *legPass) init(r *analyze.Reporter) {
	clear(g.released)
	g.released = g.released[:0]
	if g.rep != nil {
		return
	}
	g.rep = r
	g.p.pair = func(a, b *legTx) {
		g.rep.AddProxyChain(newProxyChain(a, b))
		g.released = append(g.released, legEvent{a, b})
	}
	g.p.single = func(t *legTx) { g.released = append(g.released, legEvent{a: t}) }
}

func (g *legPass) Conn(r *analyze.Reporter, s *analyze.ConnSummary) {
	g.init(r)
	c, _ := r.SummaryData(s).(*legConn)
	g.p.add(s, c)
}

func (g *legPass) Flush(r *analyze.Reporter) {
	g.init(r)
	g.p.flush()
	r.WindowDropped(g.p.dropped)
}

// legsOf returns what LegsPass released with the summary (or flush) at
// hand.
func legsOf(r *analyze.Reporter) []legEvent { return r.ResultOf(LegsPass).(*legPass).released }

// proxyText names the proxy of a pair: its listening address, and the
// address it used upstream when that differs.
func proxyText(a, b *legTx) string {
	s := a.conn.ref.Server.String()
	if out := b.conn.ref.Client.Addr(); out != a.conn.ref.Server.Addr() {
		s += " (upstream from " + out.String() + ")"
	}
	return s
}
