package reassembly

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/connlint/connlint/reassembly/flow"
)

// Defaults for Options' zero values, and fixed bounds.
const (
	DefaultMaxConns           = 100_000
	DefaultMaxOutOfOrderBytes = 1 << 20
	// DefaultMaxOutOfOrderTotal is the out-of-order budget all connections
	// share: without it, MaxConns connections could each hold
	// MaxOutOfOrderBytes per direction (200 GiB with the defaults).
	DefaultMaxOutOfOrderTotal = 128 << 20
	DefaultIdleTimeout        = 5 * time.Minute
	// DefaultCompareBytes keeps the last 64 KiB delivered per direction to
	// compare retransmissions with: enough for a typical flight of data.
	DefaultCompareBytes = 64 << 10
	// DefaultCompareTotal bounds the compare rings of all connections
	// together: a busy capture has thousands of connections open or
	// lingering after their close, each up to 2 × CompareBytes.
	DefaultCompareTotal = 16 << 20
	// DefaultCloseLinger keeps a closed connection (FIN both ways, or RST)
	// this long in capture time so that the last ACK and retransmitted FINs
	// or RSTs still belong to it instead of starting a mid-stream connection.
	DefaultCloseLinger = 2 * time.Second

	// maxGaps caps Conn.Gaps; GapsDropped counts the rest.
	maxGaps = 64
	// A connection seen without its handshake is held until payload shows
	// who the client is, but never more than this many packets or bytes.
	maxHeldPackets = 16
	maxHeldBytes   = 16 << 10
	// maxHeldReorder: a held packet this far (or farther) below its
	// direction's first data segment is not taken as the stream's start.
	maxHeldReorder = 1 << 20
	// flushEvery: Packet runs Flush after this many packets (or when capture
	// time moved on by more than flushInterval), so idle connections go away
	// without the caller having to call Flush.
	flushEvery    = 1 << 14
	flushInterval = time.Second
	// dupWindow: a byte-identical copy of the connection's previous packet
	// this close in time is a capture duplicate (the same frame recorded
	// twice), not a retransmission, which would come an RTO or RTT later.
	dupWindow = 5 * time.Millisecond
	// reuseIdle: a SYN with a new ISN on a tuple whose connection has been
	// quiet this long starts a new connection even without a FIN/RST seen.
	reuseIdle = time.Second
	// maxGhosts bounds the ended connections remembered to recognise
	// replayed copies of their packets (ghost).
	maxGhosts = 1 << 14
)

// ghost is what is kept of an ended connection that began with a captured
// handshake: enough to recognise byte-identical copies of its packets that
// a capture holds again after it ended (a replay: same ISNs, timestamps
// no later than the original's end). Such copies are duplicates, not port
// reuse: they make no new connection and no phantom transactions.
type ghost struct {
	aIsClient bool
	isn       [2]uint32 // by Dir
	base      [2]uint32 // seq of stream offset 0, by Dir
	end       [2]uint64 // stream length (FIN counted), by Dir
	last      time.Time // the connection's last packet
}

// replays reports whether p (from endpoint a when srcIsA) at pos is a copy
// of one of the ghost's packets: no later than its end, a SYN or SYN-ACK
// with its ISN, or a segment inside its sequence space.
func (g *ghost) replays(p *tcpPacket, srcIsA bool, pos flow.Pos) bool {
	if pos.Time.After(g.last) {
		return false
	}
	d := flow.ServerToClient
	if srcIsA == g.aIsClient {
		d = flow.ClientToServer
	}
	if p.flags.Has(SYN) {
		return p.seq == g.isn[d]
	}
	off := int64(int32(p.seq - g.base[d]))
	return off >= -1 && off <= int64(g.end[d])+1
}

// connKey is a normalised 4-tuple: endpoint a sorts before endpoint b. The
// layout has no padding, so the map hashes it as plain memory.
type connKey struct {
	a, b   [16]byte
	pa, pb uint16
	v4     uint32 // IPv4 and IPv4-mapped IPv6 must not collide
}

// makeKey returns the key and whether the packet's source is endpoint a.
func makeKey(p *tcpPacket) (connKey, bool) {
	s, d := p.src.As16(), p.dst.As16()
	var k connKey
	if p.src.Is4() {
		k.v4 = 1
	}
	c := bytes.Compare(s[:], d[:])
	if c < 0 || c == 0 && p.sport <= p.dport {
		k.a, k.b, k.pa, k.pb = s, d, p.sport, p.dport
		return k, true
	}
	k.a, k.b, k.pa, k.pb = d, s, p.dport, p.sport
	return k, false
}

func (k *connKey) addrPort(a bool) netip.AddrPort {
	ip, port := k.b, k.pb
	if a {
		ip, port = k.a, k.pa
	}
	addr := netip.AddrFrom16(ip)
	if k.v4 != 0 {
		addr = addr.Unmap()
	}
	return netip.AddrPortFrom(addr, port)
}

// fingerprint identifies a packet closely enough to recognise a capture
// duplicate: IP ID, TCP checksum and timestamp differ on a real retransmission.
type fingerprint struct {
	seq, ack, tsval uint32
	wire            int32 // an IP datagram's payload fits
	win, csum, ipID uint16
	flags           Flags
	srcIsA          bool
}

// heldPacket is a packet of a connection whose roles are not known yet.
type heldPacket struct {
	p      tcpPacket // payload points into heldPackets.buf
	pos    flow.Pos
	srcIsA bool
}

// conn is a connection in the table. Thousands are open or lingering
// after their close at once on a busy link (issue 15), so the state only
// some need is behind pointers (held packets of a connection without
// roles yet, a FIN's or RST's position) and the small fields share words.
type conn struct {
	Conn
	key      connKey
	seq      uint64 // creation order, for deterministic Close
	dirs     [2]dirStream
	consumer Consumer // nil when Options.Consumers gave none (or once it is done)

	held *heldPackets // packets held while pending; nil otherwise

	fp     fingerprint
	fpTime time.Time

	list       *connList
	prev, next *conn
	touched    int64 // Ord of the packet that last moved it to the front of its list

	aIsClient bool // endpoint a of key is the client
	pending   bool // roles not decided yet: packets are held
	finished  bool // the conversation was settled (FIN both ways or RST)
	refused   bool
	wsOK      bool // both SYNs carried the window-scale option
	fpValid   bool
}

// heldPackets are the packets of a connection whose roles are not known yet.
type heldPackets struct {
	pkts  []heldPacket
	buf   []byte // the held payloads
	sides uint8  // bit per side (1 = a, 2 = b) that sent payload while held
}

func (c *conn) dirOf(srcIsA bool) flow.Dir {
	if srcIsA == c.aIsClient {
		return flow.ClientToServer
	}
	return flow.ServerToClient
}

// connList is an intrusive doubly linked list, most recently active first:
// touching a connection and finding the least recently active are O(1).
type connList struct {
	head, tail *conn
}

func (l *connList) pushFront(c *conn) {
	c.list, c.prev, c.next = l, nil, l.head
	if l.head != nil {
		l.head.prev = c
	} else {
		l.tail = c
	}
	l.head = c
}

func (l *connList) remove(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.tail = c.prev
	}
	c.list, c.prev, c.next = nil, nil, nil
}

// Assembler owns the connection table. It is not safe for concurrent use;
// shard packets by a symmetric flow hash to run several.
//
// What happens at each bound:
//   - MaxConns: a new connection first ends a settled (closed, lingering)
//     one, else the least recently active one (EndEvicted, Stats.EvictedFull).
//   - IdleTimeout: Flush (run by Packet about once per second of capture
//     time, or by the caller for live captures) ends connections idle that
//     long (EndIdle, Stats.EvictedIdle); the parser sees a capture end.
//   - MaxOutOfOrderBytes: the holes before the buffered data are declared
//     gaps and the data delivered (Conn.OutOfOrderDropped counts the hole bytes).
//   - CompareBytes: retransmissions older than that are not compared.
//
// Heuristics and limitations:
//   - Roles: a SYN's sender is the client; a SYN-ACK's sender the server.
//     Without either, packets are held (at most 16 packets / 16 KiB) until
//     payload decides (Options.Consumers' SenderDir: for HTTP/1, a request
//     line makes its sender the client, a status line the server); else the
//     lower (well-known) port is the server. Conn.RolesGuessed is then set.
//   - Gaps are declared only when the capture proves bytes were sent: the
//     peer acknowledged them and later data (or the FIN) is here, or at the
//     end (RST, capture end, eviction) up to what was acknowledged. An ACK
//     one byte past the data with no FIN captured is taken as the ACK of a
//     missed FIN, not as a lost byte.
//   - A capture duplicate is a copy of the connection's previous packet with
//     the same IP ID, checksum and TCP timestamp within 5 ms.
//   - Only the outermost IP header's TCP is used; first IP fragments give
//     what they carry (the rest of the segment becomes a gap), later ones
//     are skipped and counted.
type Assembler struct {
	h     Handler
	opts  Options
	conns map[connKey]*conn
	open  connList // live connections (and pending ones)
	// closed holds settled connections lingering for their last packets.
	closed connList

	nextSeq   uint64 // connections created so far: the next Conn.ID
	stats     Stats
	oooTotal  int // out-of-order bytes buffered over all connections
	ringTotal int // compare-ring bytes over all connections (Options.CompareTotal)
	rings     ringPool
	clock     flushClock // when Packet runs Flush (not with Options.FlushByCaller)

	pkt tcpPacket // decode scratch
	seg Segment   // event scratch: handlers must not keep the pointer

	closeLinger time.Duration

	// seqd is the Handler as a Sequenced one (shard.go), or nil.
	seqd Sequenced
	// flushOrd is the ordinal of the packet the running Flush precedes.
	flushOrd int64

	// embryos are first SYNs waiting for a second packet (embryo.go).
	embryos    map[connKey]*embryo
	embryoList embryoList

	ghosts   map[connKey]*ghost
	ghostKey []connKey // ring of the keys in ghosts, oldest at ghostAt
	ghostAt  int
}

// NewAssembler returns an Assembler reporting to h.
func NewAssembler(h Handler, opts Options) *Assembler {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxOutOfOrderBytes <= 0 {
		opts.MaxOutOfOrderBytes = DefaultMaxOutOfOrderBytes
	}
	if opts.CompareTotal <= 0 {
		opts.CompareTotal = DefaultCompareTotal
	}
	if opts.MaxOutOfOrderTotal <= 0 {
		opts.MaxOutOfOrderTotal = DefaultMaxOutOfOrderTotal
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	switch {
	case opts.CompareBytes == 0:
		opts.CompareBytes = DefaultCompareBytes
	case opts.CompareBytes > 0:
		opts.CompareBytes = nextPow2(opts.CompareBytes) // ring indexing masks
	}
	if opts.CloseLinger <= 0 {
		opts.CloseLinger = DefaultCloseLinger
	}
	a := &Assembler{
		h:           h,
		opts:        opts,
		conns:       make(map[connKey]*conn),
		embryos:     make(map[connKey]*embryo),
		closeLinger: opts.CloseLinger,
	}
	a.seqd, _ = h.(Sequenced)
	return a
}

// Stats returns the counters so far.
func (a *Assembler) Stats() Stats { return a.stats }

// Packet decodes one captured packet and processes it. linkType is the pcap
// LINKTYPE_ number of the packet's interface. data is not retained.
func (a *Assembler) Packet(linkType int, data []byte, pos flow.Pos) {
	p := &a.pkt
	res := decode(linkType, data, p)
	var k connKey
	var srcIsA bool
	if res == decodedTCP {
		k, srcIsA = makeKey(p)
	}
	a.packet(p, res, k, srcIsA, pos)
}

// PacketDecoded processes a packet a Router decoded (RouteDecoded) for
// this Assembler's shard, as Packet would the packet's bytes.
func (a *Assembler) PacketDecoded(d *Decoded, pos flow.Pos) {
	a.packet(&d.p, d.res, d.k, d.srcIsA, pos)
}

// packet processes a decoded packet: res is what decode found, and for a
// TCP packet k and srcIsA are its makeKey.
func (a *Assembler) packet(p *tcpPacket, res decodeResult, k connKey, srcIsA bool, pos flow.Pos) {
	a.stats.Packets++
	switch res {
	case decodedBad:
		a.stats.Undecodable++
		return
	case decodedOther:
		a.stats.NonTCP++
		return
	case decodedFrag:
		a.stats.Fragments++
		return
	}
	if p.fragment {
		a.stats.Fragments++
	}
	if !a.opts.FlushByCaller && a.clock.due(pos.Time) {
		a.FlushBefore(pos)
	}
	a.at(EventKey{Ord: pos.Ord, Phase: PhasePacket})

	c := a.conns[k]
	// A copy of an ended connection's packet, captured again, would start
	// a connection (a SYN) or land where none is open: only then is the
	// ghost table worth a lookup (not for every packet of a live one).
	if c == nil || p.flags.Has(SYN) {
		if g := a.ghosts[k]; g != nil && g.replays(p, srcIsA, pos) {
			a.stats.Duplicates++
			return
		}
	}
	if c == nil {
		if e := a.embryos[k]; e != nil {
			c = a.hatch(e)
		}
	}
	if c != nil && p.flags.Has(SYN) && a.startsNew(c, p, srcIsA, pos) {
		a.endConn(c, EndOpen)
		c = nil
	}
	if c == nil {
		if p.flags&(SYN|RST) == RST {
			// A lone RST for an unknown tuple (a straggler after the
			// connection ended, or a reply to a scan) carries nothing to analyse.
			a.stats.Stray++
			return
		}
		if a.opts.LazySYN && embryonic(p) {
			a.conceive(k, p, srcIsA, pos)
			return
		}
		c = a.newConn(k, p, srcIsA, pos)
	} else if l := c.list; l.head != c {
		l.remove(c)
		l.pushFront(c)
	}
	c.touched = pos.Ord
	if c.pending {
		a.hold(c, p, srcIsA, pos)
		return
	}
	a.segment(c, c.dirOf(srcIsA), p, pos)
}

// startsNew reports whether a SYN on an existing tuple begins a new
// connection (port reuse) rather than belonging to the existing one.
func (a *Assembler) startsNew(c *conn, p *tcpPacket, srcIsA bool, pos flow.Pos) bool {
	if c.pending {
		return true // stragglers of an earlier connection; the SYN starts afresh
	}
	d := c.dirOf(srcIsA)
	h := &c.dirs[d]
	if h.pub.ISNKnown && h.pub.ISN == p.seq {
		return false // a retransmitted SYN or SYN-ACK
	}
	if p.flags.Has(ACK) && d == flow.ServerToClient &&
		c.dirs[flow.ClientToServer].pub.ISNKnown && p.ack == c.dirs[flow.ClientToServer].pub.ISN+1 {
		// The answer to this connection's SYN, even a late one with another
		// ISN (to a retransmitted SYN) however long after: a new connection
		// on the tuple starts with the client's SYN, not a SYN-ACK.
		return false
	}
	if c.finished || c.dirs[0].finSeen || c.dirs[1].finSeen || c.dirs[0].pub.RST != nil || c.dirs[1].pub.RST != nil {
		return true
	}
	if pos.Time.Sub(c.Last.Time) > reuseIdle {
		return true
	}
	// An attempt that never got an answer nor carried data: a new ISN is a new attempt.
	return c.SYNACK.Frame == 0 && c.Halves[0].Bytes == 0 && c.Halves[1].Bytes == 0
}

func (a *Assembler) newConn(k connKey, p *tcpPacket, srcIsA bool, pos flow.Pos) *conn {
	a.makeRoom()
	a.nextSeq++
	if a.seqd != nil {
		a.seqd.IDTaken(a.nextSeq)
	}
	return a.create(k, p, srcIsA, pos, a.nextSeq)
}

// makeRoom ends connections while the table is full: a settled one first,
// else the least recently active (an embryo or an open connection).
func (a *Assembler) makeRoom() {
	for len(a.conns)+len(a.embryos) >= a.opts.MaxConns {
		if v := a.closed.tail; v != nil {
			a.endConn(v, EndOpen) // already settled: ending it early loses nothing
			continue
		}
		if e := a.oldestEmbryo(); e != nil {
			a.endConn(a.hatch(e), EndEvicted)
			continue
		}
		a.endConn(a.open.tail, EndEvicted)
	}
}

// create makes connection id (taken by the caller) from its first packet.
func (a *Assembler) create(k connKey, p *tcpPacket, srcIsA bool, pos flow.Pos, id uint64) *conn {
	// The ID is taken at the first packet, so IDs follow first-packet order
	// even when a mid-stream connection is published a few packets later.
	// Stray packets that never become a connection leave a number unused.
	c := &conn{key: k, seq: id, touched: pos.Ord}
	c.ID = id
	c.First, c.Last = pos, pos
	for d := range c.dirs {
		h := &c.dirs[d]
		h.dir, h.pub, h.synWS = flow.Dir(d), &c.Halves[d], -1
		h.pub.WScale = -1
	}
	a.conns[k] = c
	a.open.pushFront(c)
	switch {
	case p.flags&(SYN|ACK) == SYN:
		c.aIsClient = srcIsA
		a.start(c)
	case p.flags.Has(SYN | ACK):
		// A SYN-ACK before (or without) its SYN still says who the server
		// is; when the SYN shows up it joins this connection.
		c.aIsClient = !srcIsA
		a.start(c)
	default:
		c.pending = true
	}
	return c
}

// start publishes a connection whose roles are known.
func (a *Assembler) start(c *conn) {
	a.stats.Conns++
	c.Client = c.key.addrPort(c.aIsClient)
	c.Server = c.key.addrPort(!c.aIsClient)
	a.h.ConnStart(&c.Conn)
	if a.opts.Consumers != nil {
		c.consumer = a.opts.Consumers.NewConsumer(&c.Conn)
	}
}

// hold keeps a packet of a connection seen without its handshake until its
// payload (or the bounds) decide the roles.
func (a *Assembler) hold(c *conn, p *tcpPacket, srcIsA bool, pos flow.Pos) {
	if c.held == nil {
		c.held = &heldPackets{}
	}
	hd := c.held
	hp := heldPacket{p: *p, pos: pos, srcIsA: srcIsA}
	n := len(hd.buf)
	hd.buf = append(hd.buf, p.payload...)
	hp.p.payload = hd.buf[n:len(hd.buf):len(hd.buf)]
	hd.pkts = append(hd.pkts, hp)
	c.Last = pos

	client, decided := false, false // client: whether endpoint a is the client
	if len(p.payload) > 0 {
		if a.opts.Consumers != nil {
			var d flow.Dir
			if d, decided = a.opts.Consumers.SenderDir(p.payload); decided {
				client = srcIsA == (d == flow.ClientToServer)
			}
		}
		if srcIsA {
			hd.sides |= 1
		} else {
			hd.sides |= 2
		}
	}
	if !decided {
		// Both sides spoke and neither looked like HTTP, or a FIN/RST after
		// payload, or the bounds: nothing better is coming, fall back to
		// ports. (A FIN or RST without payload is more likely a straggler
		// of a connection that already ended: keep holding.)
		closing := p.flags&(FIN|RST) != 0 && len(hd.buf) > 0
		if hd.sides != 3 && !closing && len(hd.pkts) < maxHeldPackets && len(hd.buf) < maxHeldBytes {
			return
		}
		client = a.clientByPorts(c)
	}
	a.release(c, client)
}

// clientByPorts guesses: the side with the well-known (lower) port is the
// server; ephemeral ports are high. Reports whether endpoint a is the client.
func (a *Assembler) clientByPorts(c *conn) bool {
	pa, pb := c.key.pa, c.key.pb
	switch {
	case pa < 1024 && pb >= 1024:
		return false
	case pb < 1024 && pa >= 1024:
		return true
	case httpPort(pa) && !httpPort(pb):
		return false
	case httpPort(pb) && !httpPort(pa):
		return true
	}
	return pa > pb
}

func httpPort(p uint16) bool {
	switch p {
	case 80, 8000, 8008, 8080, 8081, 8088, 8888, 3128, 443, 8443:
		return true
	}
	return false
}

// release decides the roles of a pending connection and replays what was held.
func (a *Assembler) release(c *conn, aIsClient bool) {
	c.pending = false
	c.aIsClient = aIsClient
	c.RolesGuessed, c.MidStream = true, true
	var held []heldPacket
	if c.held != nil {
		held = c.held.pkts
	}
	c.held = nil
	// Each direction starts at the lowest sequence number held for it, so a
	// capture that shows the first packets slightly reordered loses nothing;
	// but only sequence numbers near the direction's first data segment
	// count: one far below it (a crafted or stale packet, an anonymiser's
	// garbage) would open a hole of megabytes before the stream.
	var ref [2]uint32
	var refRank [2]int // 0 none, 1 a packet without payload, 2 a data segment
	for i := range held {
		hp := &held[i]
		d := c.dirOf(hp.srcIsA)
		rank := 1
		if len(hp.p.payload) > 0 {
			rank = 2
		}
		if rank > refRank[d] {
			ref[d], refRank[d] = hp.p.seq, rank
		}
	}
	for i := range held {
		hp := &held[i]
		d := c.dirOf(hp.srcIsA)
		h := &c.dirs[d]
		if below := ref[d] - hp.p.seq; int32(below) > 0 && below > maxHeldReorder {
			continue
		}
		if !h.baseKnown || int32(hp.p.seq-h.base) < 0 {
			h.baseKnown, h.base = true, hp.p.seq
		}
	}
	a.start(c)
	for i := range held {
		hp := &held[i]
		a.segment(c, c.dirOf(hp.srcIsA), &hp.p, hp.pos)
		if c.list == nil {
			return // ended while replaying
		}
	}
}

// segment processes one TCP packet of a connection with known roles.
func (a *Assembler) segment(c *conn, d flow.Dir, p *tcpPacket, pos flow.Pos) {
	x := streamCtx{a, c}
	h, peer := &c.dirs[d], &c.dirs[1-d]
	c.Last = pos
	s := &a.seg
	*s = Segment{Pos: pos, Dir: d, Seq: p.seq, Ack: p.ack, Len: p.wireLen, Captured: len(p.payload),
		Flags: p.flags, Window: uint32(p.window), SACK: p.sack}

	fp := fingerprint{seq: p.seq, ack: p.ack, tsval: p.tsval, wire: int32(p.wireLen), win: p.window,
		csum: p.csum, ipID: p.ipID, flags: p.flags, srcIsA: (d == flow.ClientToServer) == c.aIsClient}
	// The fingerprint's checksum covers the payload, so no payload is kept per packet.
	if c.fpValid && fp == c.fp && absDuration(pos.Time.Sub(c.fpTime)) <= dupWindow {
		s.Kind = SegDuplicate
		c.Duplicates++
		a.stats.Duplicates++
		a.h.Segment(&c.Conn, s)
		return
	}
	c.fp, c.fpTime, c.fpValid = fp, pos.Time, true

	syn := p.flags.Has(SYN)
	synRetrans := false
	if syn {
		synRetrans = a.handshake(c, d, p, pos)
	}
	if !h.baseKnown {
		h.baseKnown, h.base = true, p.seq // mid-stream: the stream starts where we came in
	}
	seq := p.seq
	if syn {
		seq++ // the SYN occupies one sequence number; TFO data starts at offset 0
	}
	off := h.offset(seq)
	kind := h.classify(off, len(p.payload), p.wireLen, p.flags, peer.winValid && peer.win == 0)
	if synRetrans && kind == SegNew {
		kind = SegRetransmit
	}
	s.Kind = kind
	s.Offset = uint64(max(off, 0))
	if c.wsOK && !syn && h.synWS > 0 {
		s.Window <<= uint(h.synWS)
	}
	if peer.altValid && p.flags.Has(ACK) && !syn {
		switch {
		case peer.next != 0 || len(peer.ooo) != 0:
			peer.altValid = false // data already lives in the first space
		case p.ack == peer.altISN+1:
			// the client acknowledges the later SYN-ACK: its space it is
			peer.pub.ISN, peer.base, peer.altValid = peer.altISN, peer.altISN+1, false
		}
	}
	if p.flags.Has(ACK) && peer.baseKnown {
		if ao := peer.offset(p.ack); ao >= 0 {
			s.AckOffset, s.AckValid = uint64(ao), true
		}
	}
	if d == flow.ClientToServer && !syn && p.flags.Has(ACK) && c.SYNACK.Frame != 0 && c.HandshakeACK.Frame == 0 &&
		peer.pub.ISNKnown && p.ack == peer.pub.ISN+1 {
		c.HandshakeACK = pos
	}
	h.pub.Segments++
	if kind == SegRetransmit || kind == SegPartialOverlap {
		h.pub.Retransmits++
	}
	h.pub.MaxSegment = max(h.pub.MaxSegment, p.wireLen)
	a.h.Segment(&c.Conn, s)
	ackOff, ackValid := s.AckOffset, s.AckValid

	h.win, h.winValid = p.window, true
	// The ACK first: it may prove a hole in the peer's stream and release the
	// peer data held behind it. That data was sent before this packet (it is
	// acknowledged here), so the parser must see it before this packet's own
	// payload — otherwise a response would be parsed before its request.
	if ackValid && (!peer.ackValid || ackOff > peer.acked) {
		peer.ackValid, peer.acked, peer.ackPos = true, ackOff, pos
		peer.tryAckGap(x)
	}
	// A RST's payload is a diagnostic text (RFC 9293 §3.5.3), not stream data.
	if !p.flags.Has(RST) {
		h.data(x, kind, off, p.payload, pos)
	}
	if p.flags.Has(FIN) && !h.finSeen && off >= 0 {
		h.finSeen, h.finOff = true, uint64(off)+uint64(p.wireLen)
		h.pub.FIN = newPos(pos)
		h.maybeEnd(x)
		h.tryAckGap(x)
	}
	if p.flags.Has(RST) {
		a.reset(c, d, pos)
	}
	if !c.finished && c.dirs[0].ended && c.dirs[1].ended {
		a.finish(c, pos)
	}
	if len(p.payload) > 0 {
		a.updateFlags(c)
	}
	if c.finished {
		c.dirs[0].dropAcked(a)
		c.dirs[1].dropAcked(a)
	}
}

// newPos returns a copy of pos for Half.FIN and Half.RST: one small
// allocation for a connection that closes, instead of room for four
// positions in every connection.
func newPos(pos flow.Pos) *flow.Pos { return &pos }

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// handshake records a SYN or SYN-ACK and reports whether it was a retransmission.
func (a *Assembler) handshake(c *conn, d flow.Dir, p *tcpPacket, pos flow.Pos) bool {
	h := &c.dirs[d]
	isSYNACK := p.flags.Has(ACK)
	retrans := h.pub.ISNKnown && h.pub.ISN == p.seq
	hadSYNACK := c.SYNACK.Frame != 0
	switch {
	case !isSYNACK && d == flow.ClientToServer:
		retrans = retrans && c.SYN.Frame != 0
		if c.SYN.Frame == 0 {
			c.SYN = pos
		}
	case isSYNACK && d == flow.ServerToClient:
		retrans = retrans && c.SYNACK.Frame != 0
		if c.SYNACK.Frame == 0 {
			c.SYNACK = pos
		}
	}
	// A second SYN-ACK with another ISN (the server answering a
	// retransmitted SYN anew) does not move the server's stream: the
	// sequence space is the one the client acknowledges. It is kept aside
	// and taken only if the client acknowledges it before any server data
	// (segment); a client that goes on in the first one's space keeps it.
	newSYNACK := isSYNACK && d == flow.ServerToClient && hadSYNACK && h.pub.ISNKnown && h.pub.ISN != p.seq
	if newSYNACK {
		h.altISN, h.altValid = p.seq, true
	}
	// Take the ISN unless data already depends on the current base (an ISN
	// inferred from the SYN-ACK is replaced by the SYN's own, e.g. with TFO).
	if !newSYNACK && (!h.pub.ISNKnown || (!retrans && h.next == 0 && len(h.ooo) == 0 && h.pub.ISN != p.seq)) {
		h.pub.ISN, h.pub.ISNKnown = p.seq, true
		h.baseKnown, h.base = true, p.seq+1
	}
	if p.mss != 0 {
		h.pub.MSS = int(p.mss)
	}
	h.synWS = p.wscale
	if len(p.payload) > 0 && !isSYNACK {
		c.FastOpen = true
	}
	if isSYNACK {
		// The SYN-ACK acknowledges the client's ISN+1 (plus TFO data the
		// server accepted): enough to place the client's stream when the
		// SYN itself was not captured.
		ph := &c.dirs[1-d]
		if !ph.pub.ISNKnown {
			ph.pub.ISN, ph.pub.ISNKnown = p.ack-1, true
			ph.baseKnown, ph.base = true, p.ack
		}
	}
	c.wsOK = c.dirs[0].synWS >= 0 && c.dirs[1].synWS >= 0 && c.SYN.Frame != 0 && c.SYNACK.Frame != 0
	for i := range c.dirs {
		c.Halves[i].WScale = -1
		if c.wsOK {
			c.Halves[i].WScale = int(c.dirs[i].synWS)
		}
	}
	return retrans
}

// markOneSided sets Conn.OneSided/Missing from what was captured so far.
// It runs where the connection ends (RST, FIN both ways, capture end or
// eviction), before the consumer's last events, so that what it reports
// then can tell; a straggler of the missing side during the close linger
// clears it again at ConnEnd.
func markOneSided(c *conn) {
	c.OneSided, c.Missing = false, 0
	for d := flow.ClientToServer; d <= flow.ServerToClient; d++ {
		if c.Halves[d].Segments == 0 && c.Halves[1-d].Bytes > 0 {
			c.OneSided, c.Missing = true, d
		}
	}
}

// reset handles a RST from direction d: both directions end here.
func (a *Assembler) reset(c *conn, d flow.Dir, pos flow.Pos) {
	if c.dirs[d].pub.RST == nil {
		c.dirs[d].pub.RST = newPos(pos)
	}
	if d == flow.ServerToClient && c.SYN.Frame != 0 && c.SYNACK.Frame == 0 && c.Halves[0].Bytes == 0 && c.Halves[1].Bytes == 0 {
		c.refused = true
	}
	if c.finished {
		return
	}
	markOneSided(c)
	x := streamCtx{a, c}
	c.dirs[d].closeOut(x, flow.CloseRST, pos)
	c.dirs[1-d].closeOut(x, flow.CloseRST, pos)
	a.finish(c, pos)
}

// finish settles the conversation; the connection lingers in the closed list.
func (a *Assembler) finish(c *conn, pos flow.Pos) {
	if c.finished {
		return
	}
	c.finished = true
	markOneSided(c)
	if c.consumer != nil {
		c.consumer.Finish(pos)
	}
	a.updateFlags(c)
	// Both directions have ended: the consumer gets no Feed, Gap or End
	// again, so its flags are final. Dropping it here frees the parser's
	// state for the close linger (thousands of connections on a busy
	// link, issue 15) instead of at ConnEnd.
	c.consumer = nil
	if c.list == &a.open {
		a.open.remove(c)
		a.closed.pushFront(c)
	}
}

func (a *Assembler) updateFlags(c *conn) {
	// Asserted here rather than kept beside consumer: one word less per
	// connection (issue 15), for an assertion per data packet.
	if r, ok := c.consumer.(Recognizer); ok {
		c.HTTP, c.NotHTTP, c.Tunnel = r.IsHTTP(), r.NotHTTP(), r.Tunnel()
	}
}

// endConn ends a connection: why is used when neither FIN nor RST explains it.
func (a *Assembler) endConn(c *conn, why EndReason) {
	if c.pending {
		var hd heldPackets
		if c.held != nil {
			hd = *c.held
		}
		if len(hd.buf) == 0 && len(hd.pkts) < maxHeldPackets {
			// Stray ACKs/FINs with no payload: no roles, nothing to analyse.
			a.stats.Stray += int64(len(hd.pkts))
			a.drop(c)
			if a.seqd != nil {
				a.seqd.IDUnused(c.ID)
			}
			return
		}
		a.release(c, a.clientByPorts(c))
		if c.list == nil {
			return // the replay ended it
		}
	}
	// End is decided before the conversation is settled, so that handlers
	// seeing its last messages and transactions can tell an eviction from
	// a close or the capture's end: what an evicted connection's cut
	// messages lack was not lost, it was not looked at.
	switch {
	case c.refused:
		c.End = EndRefused
	case c.Halves[0].RST != nil || c.Halves[1].RST != nil:
		c.End = EndRST
	case !c.finished && (why == EndEvicted || why == EndIdle):
		c.End = why // a FIN from one side did not end it either
		// Counted here, once the connection is published (a pending one
		// with a few stray packets is dropped above, not evicted), so that
		// the Stats agree with the connections that say they were evicted.
		if why == EndEvicted {
			a.stats.EvictedFull++
		} else {
			a.stats.EvictedIdle++
		}
	case c.dirs[0].finSeen || c.dirs[1].finSeen:
		c.End = EndFIN
	default:
		c.End = why
	}
	markOneSided(c)
	if !c.finished {
		x := streamCtx{a, c}
		c.dirs[0].closeOut(x, flow.CloseCaptureEnd, c.Last)
		c.dirs[1].closeOut(x, flow.CloseCaptureEnd, c.Last)
		a.finish(c, c.Last)
	}
	a.oooTotal -= c.dirs[0].oooBytes + c.dirs[1].oooBytes
	c.dirs[0].release(a)
	c.dirs[1].release(a)
	a.updateFlags(c)
	a.drop(c)
	a.remember(c)
	a.h.ConnEnd(&c.Conn)
	c.consumer = nil
}

// remember keeps a ghost of an ended connection whose handshake was
// captured (both ISNs known), so that a later replay of its packets is
// recognised; the oldest ghost goes when maxGhosts are kept.
func (a *Assembler) remember(c *conn) {
	if c.SYN.Frame == 0 || !c.Halves[0].ISNKnown || !c.Halves[1].ISNKnown {
		return
	}
	if a.ghosts == nil {
		a.ghosts = make(map[connKey]*ghost)
	}
	g := &ghost{aIsClient: c.aIsClient, last: c.Last.Time}
	for d := range c.dirs {
		h := &c.dirs[d]
		g.isn[d], g.base[d], g.end[d] = h.pub.ISN, h.base, h.next
		if h.finSeen {
			g.end[d] = max(g.end[d], h.finOff+1)
		}
	}
	if _, ok := a.ghosts[c.key]; !ok {
		if len(a.ghostKey) < maxGhosts/max(1, a.opts.Shards) {
			a.ghostKey = append(a.ghostKey, c.key)
		} else {
			delete(a.ghosts, a.ghostKey[a.ghostAt])
			a.ghostKey[a.ghostAt] = c.key
			a.ghostAt = (a.ghostAt + 1) % len(a.ghostKey)
		}
	}
	a.ghosts[c.key] = g
}

func (a *Assembler) drop(c *conn) {
	if c.list != nil {
		c.list.remove(c)
	}
	if a.conns[c.key] == c {
		delete(a.conns, c.key)
	}
}

// Flush ends connections idle since before now (capture time): live ones
// after IdleTimeout (EndIdle), settled ones after the close linger.
func (a *Assembler) Flush(now time.Time) {
	a.clock.flushed(now)
	idle := now.Add(-a.opts.IdleTimeout)
	for {
		if e := a.oldestEmbryo(); e != nil {
			if !e.pos.Time.Before(idle) {
				break
			}
			a.at(EventKey{Ord: a.flushOrd, Phase: PhaseIdle, Sub: e.pos.Ord})
			a.endConn(a.hatch(e), EndIdle)
			continue
		}
		c := a.open.tail
		if c == nil || !c.Last.Time.Before(idle) {
			break
		}
		a.at(EventKey{Ord: a.flushOrd, Phase: PhaseIdle, Sub: c.touched})
		a.endConn(c, EndIdle)
	}
	// Each settled connection lingers for its own time (lingerOf), so the
	// whole list is looked at, least recently active first; it holds the
	// connections of about the last second or two, looked at once a second.
	for c := a.closed.tail; c != nil; {
		prev := c.prev
		if c.Last.Time.Before(now.Add(-a.lingerOf(c))) {
			a.at(EventKey{Ord: a.flushOrd, Phase: PhaseLinger, Sub: c.touched})
			a.endConn(c, EndOpen)
		}
		c = prev
	}
}

// minLinger is the shortest close linger: above the smallest retransmission
// timeout of the common stacks (Linux 200 ms, Windows 300 ms), so that a
// retransmitted FIN or RST still finds its connection.
const minLinger = 500 * time.Millisecond

// lingerOf is how long a settled connection stays for its last packets:
// the last ACK comes a round trip after the FIN, a retransmitted FIN or
// RST a retransmission timeout (a few round trips, at least ~200 ms) after
// it. With the round trip measured on the handshake, eight of them and at
// least minLinger; without one, the close linger (Options.CloseLinger),
// which also caps it. Thousands of connections close per second on a busy
// link, and a settled connection still holds its analysis state, so the
// linger is most of a capture's memory (issue 15).
func (a *Assembler) lingerOf(c *conn) time.Duration {
	if c.SYN.Frame == 0 || c.HandshakeACK.Frame == 0 {
		return a.closeLinger
	}
	rtt := c.HandshakeACK.Time.Sub(c.SYN.Time)
	if rtt <= 0 {
		return a.closeLinger
	}
	return min(a.closeLinger, max(minLinger, 8*rtt))
}

// Close ends every remaining connection (EndOpen / capture end), in the order
// they were first seen.
func (a *Assembler) Close() {
	all := make([]*conn, 0, len(a.conns))
	for _, l := range []*connList{&a.open, &a.closed} {
		for c := l.head; c != nil; c = c.next {
			all = append(all, c)
		}
	}
	slices.SortFunc(all, func(x, y *conn) int { return cmpUint(x.seq, y.seq) })
	// Embryos are hatched one at a time, each as its turn comes, so that
	// a table full of them never becomes a table full of connections.
	embryos := make([]*embryo, 0, len(a.embryos))
	for e := a.embryoList.head; e != nil; e = e.next {
		embryos = append(embryos, e)
	}
	slices.SortFunc(embryos, func(x, y *embryo) int { return cmpUint(x.id, y.id) })
	for len(all) > 0 || len(embryos) > 0 {
		if len(embryos) > 0 && (len(all) == 0 || embryos[0].id < all[0].seq) {
			a.at(closeKey(embryos[0].pos.Ord))
			a.endConn(a.hatch(embryos[0]), EndOpen)
			embryos = embryos[1:]
			continue
		}
		if c := all[0]; c.list != nil {
			a.at(closeKey(c.First.Ord))
			a.endConn(c, EndOpen)
		}
		all = all[1:]
	}
}

func cmpUint(x, y uint64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
