package reassembly

import (
	"github.com/connlint/connlint/reassembly/flow"
)

// An embryo is a connection that has had one packet: a client SYN without
// payload. A SYN flood or a port scan is millions of these, and a full
// connection (its streams, its consumer, the handler's per-connection
// state) costs kilobytes, so the Assembler keeps the SYN alone (~250 bytes)
// and hatches the connection only when a second packet of the tuple comes,
// or when the connection must end (eviction, idle timeout, capture end, a
// live loss). Hatching replays the SYN with its own position and the ID
// taken when it arrived, so the handler sees exactly the events it would
// have seen, ConnStart and the SYN's Segment only later.
//
// Embryos take part in MaxConns and in the idle expiry as the open
// connections do, in the same least-recently-active order: an embryo's
// activity is its SYN, and an open connection's is its last packet
// (conn.touched), both compared by capture ordinal.
//
// An embryo is what a SYN flood's memory is made of (up to MaxConns of
// them), so it keeps the SYN's header fields and not the decoded packet:
// the addresses and ports are the key's, and there is no payload.
type embryo struct {
	key        connKey
	syn        synHeader
	srcIsA     bool
	pos        flow.Pos
	id         uint64
	lostPos    *flow.Pos // a live loss marked it (Lost) at this position; marked again at hatch
	prev, next *embryo   // embryoList: newest first
}

// synHeader is what an embryo's SYN carried besides its addresses.
type synHeader struct {
	seq, ack, tsval     uint32
	window, csum, ipID  uint16
	mss                 uint16
	flags               Flags
	wscale              int8
	sackOK, sack, hasTS bool
}

// packet rebuilds the SYN as decode gave it.
func (e *embryo) packet() tcpPacket {
	src, dst := e.key.addrPort(e.srcIsA), e.key.addrPort(!e.srcIsA)
	h := &e.syn
	return tcpPacket{src: src.Addr(), dst: dst.Addr(), sport: src.Port(), dport: dst.Port(),
		seq: h.seq, ack: h.ack, flags: h.flags, window: h.window, csum: h.csum, ipID: h.ipID,
		mss: h.mss, wscale: h.wscale, sackOK: h.sackOK, sack: h.sack, hasTS: h.hasTS, tsval: h.tsval}
}

type embryoList struct{ head, tail *embryo }

func (l *embryoList) pushFront(e *embryo) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	} else {
		l.tail = e
	}
	l.head = e
}

func (l *embryoList) remove(e *embryo) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// embryonic reports whether p, the first packet of a tuple, may wait as an
// embryo: a client SYN that carries nothing.
func embryonic(p *tcpPacket) bool {
	return p.flags&(SYN|ACK|RST|FIN) == SYN && len(p.payload) == 0 && p.wireLen == 0 && !p.fragment
}

// conceive keeps p (a first SYN) as an embryo. The table bound is applied
// and the ID taken now, as for any new connection.
func (a *Assembler) conceive(k connKey, p *tcpPacket, srcIsA bool, pos flow.Pos) {
	a.makeRoom()
	a.nextSeq++
	if a.seqd != nil {
		a.seqd.IDTaken(a.nextSeq)
	}
	e := &embryo{key: k, pos: pos, srcIsA: srcIsA, id: a.nextSeq, syn: synHeader{
		seq: p.seq, ack: p.ack, tsval: p.tsval, window: p.window, csum: p.csum, ipID: p.ipID,
		mss: p.mss, flags: p.flags, wscale: p.wscale, sackOK: p.sackOK, sack: p.sack, hasTS: p.hasTS}}
	a.embryos[k] = e
	a.embryoList.pushFront(e)
}

// hatch turns an embryo into its connection, replaying the SYN.
func (a *Assembler) hatch(e *embryo) *conn {
	delete(a.embryos, e.key)
	a.embryoList.remove(e)
	p := e.packet()
	c := a.create(e.key, &p, e.srcIsA, e.pos, e.id)
	a.segment(c, c.dirOf(e.srcIsA), &p, e.pos)
	if e.lostPos != nil {
		a.markLost(c, *e.lostPos)
	}
	return c
}

// oldestEmbryo returns the least recently active live connection when it
// is an embryo, nil when it is a connection of the open list (or none).
func (a *Assembler) oldestEmbryo() *embryo {
	e := a.embryoList.tail
	if e == nil {
		return nil
	}
	if c := a.open.tail; c != nil && c.touched < e.pos.Ord {
		return nil
	}
	return e
}
