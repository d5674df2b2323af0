// Package evidence collects the TCP segments a finding's ladder diagram
// draws, by reading the capture files a second time after the analysis.
//
// The analysis keeps no packets (it streams with bounded memory), so the
// segments around a finding are gone when the finding is reported. Collect
// replays the same files through a reassembly.Assembler whose Handler only
// looks at the connections of the requested findings, and keeps, per finding
// and connection, a few segments around each evidence frame:
//
//   - a ring of the last Context segments before an evidence frame (the
//     older ones are counted as elided, not kept);
//   - the evidence frame itself, always;
//   - the next Context segments after it;
//   - at most MaxSegments per diagram in all (evidence frames beyond it are
//     still kept; other segments are then only counted).
//
// So memory is O(requests × (Context + MaxSegments)) besides the Assembler's
// own bounded tables, whatever the size of the capture. The pass stops
// reading as soon as every request is complete.
//
// Connection IDs are assigned by the Assembler in capture order, so a second
// pass with the same options gives the same IDs; Collect still checks the
// 4-tuple of each ID it matches (and the first frame when the caller knows
// it), and falls back to the 4-tuple + first frame when an ID does not
// match (Stats.Mismatched counts those).
package evidence

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"time"

	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Defaults for Limits' zero values.
const (
	// DefaultContext segments either side of an evidence frame: enough to
	// show the exchange that led to a stall and what followed it.
	DefaultContext = 6
	// DefaultMaxSegments per diagram: about what fits on one screen at a
	// readable row height.
	DefaultMaxSegments = 60
	// DefaultMaxRequests bounds how many diagrams one pass collects.
	DefaultMaxRequests = 500
)

// Limits bound what Collect keeps.
type Limits struct {
	Context     int // segments kept before and after each evidence frame (default DefaultContext)
	MaxSegments int // segments per request (default DefaultMaxSegments); evidence frames are always kept
	MaxRequests int // requests served (default DefaultMaxRequests); the rest get no Evidence
}

func (l Limits) withDefaults() Limits {
	if l.Context <= 0 {
		l.Context = DefaultContext
	}
	if l.MaxSegments <= 0 {
		l.MaxSegments = DefaultMaxSegments
	}
	if l.MaxRequests <= 0 {
		l.MaxRequests = DefaultMaxRequests
	}
	return l
}

// Frame names one packet: its input and its 1-based frame number there.
type Frame struct {
	Input int
	Frame int64
}

// ConnKey identifies a connection of the first pass.
type ConnKey struct {
	ID     uint64
	Client netip.AddrPort
	Server netip.AddrPort
	// First is the connection's first packet when known (zero Frame when
	// not); it disambiguates a reused 4-tuple in the fallback match.
	First Frame
}

// Request asks for the segments of one diagram: those of Conns around the
// evidence Frames.
type Request struct {
	Conns  []ConnKey
	Frames []Frame
}

// Segment is one TCP segment as a diagram draws it.
type Segment struct {
	Conn     int // index into Request.Conns
	Time     time.Time
	Input    int
	Frame    int64
	Ord      int64 // global packet ordinal of the second pass (capture order)
	Dir      flow.Dir
	Seq, Ack uint32
	Len      int
	Flags    reassembly.Flags
	Kind     reassembly.SegKind
	Evidence bool // one of the request's evidence frames
	// Messages names the HTTP messages whose start line begins in this
	// segment: "POST /upload", "HTTP/1.1 200 OK" (at most maxLabels, then "+N more").
	Messages []string
	// ElidedBefore counts segments of this connection between the previous
	// kept one (or the connection's start) and this one that are not kept.
	ElidedBefore int
}

// ConnInfo is what the second pass saw of a requested connection.
type ConnInfo struct {
	Key   ConnKey
	Found bool
	// Handshake times (zero when not seen): the diagram estimates the
	// one-way delay from them.
	SYN, SYNACK, HandshakeACK time.Time
	// ElidedAfter counts this connection's segments after the last kept one.
	ElidedAfter int
}

// Evidence is the collected diagram input of one Request.
type Evidence struct {
	Conns    []ConnInfo
	Segments []Segment // in capture order
	// Missing lists evidence frames that were not found among the
	// connections' segments.
	Missing []Frame
}

// Stats describe a pass.
type Stats struct {
	Packets      int64
	Mismatched   int // requested IDs whose 4-tuple differed: matched by 4-tuple + first frame instead
	NotFound     int // requested connections the pass did not find
	StoppedEarly bool
}

// ErrStdin is returned when an input is "-": standard input cannot be read twice.
var ErrStdin = errors.New("evidence: standard input cannot be read a second time")

// Collect reads the files again (with the same filter and reassembly
// options as the analysis, so that frame numbers and connection IDs agree)
// and returns one Evidence per Request, nil for requests beyond
// Limits.MaxRequests.
func Collect(paths []string, fopts capture.FileOptions, aopts reassembly.Options, reqs []Request, lim Limits) ([]*Evidence, Stats, error) {
	for _, p := range paths {
		if p == "-" {
			return nil, Stats{}, ErrStdin
		}
	}
	src, err := capture.OpenFiles(paths, fopts)
	if err != nil {
		return nil, Stats{}, err
	}
	defer src.Close()
	return CollectFrom(src, aopts, reqs, lim)
}

// CollectFrom is Collect over an open source (read to its end or until
// every request is complete).
func CollectFrom(src capture.Source, aopts reassembly.Options, reqs []Request, lim Limits) ([]*Evidence, Stats, error) {
	lim = lim.withDefaults()
	c := newCollector(reqs, lim)
	// Roles of connections without a handshake are guessed from the payload
	// by the consumer factory; the same guess as the first pass keeps
	// Client/Server the same. No consumer is made: no HTTP parsing here.
	aopts.Consumers = c
	asm := reassembly.NewAssembler(c, aopts)
	var ord int64
	var readErr error
	for c.pending > 0 {
		p, err := src.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		ord++
		asm.Packet(p.LinkType, p.Data, flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: ord})
	}
	c.stats.StoppedEarly = c.pending == 0
	asm.Close()
	c.stats.Packets = ord
	if readErr == nil {
		readErr = src.Err()
	}
	return c.finish(), c.stats, readErr
}

// NewConsumer parses HTTP only on the requested connections, to name the
// messages on their arrows.
func (c *collector) NewConsumer(conn *reassembly.Conn) reassembly.Consumer {
	if len(c.live[conn]) == 0 {
		return nil
	}
	return http1.NewConversation(messageNamer{c, conn}, http1.Options{}, conn.MidStream)
}

// SenderDir guesses roles without a handshake the way the first pass does,
// so Client and Server come out the same.
func (c *collector) SenderDir(b []byte) (flow.Dir, bool) { return http1.SenderDir(b) }

// maxLabels bounds the message names on one arrow (a pipelined burst).
const maxLabels = 3

type messageNamer struct {
	c    *collector
	conn *reassembly.Conn
}

func (m messageNamer) Transaction(*http1.Transaction) {}

// Message labels the segment that carried the message's first byte, if it
// is kept or still in the ring; otherwise the name is dropped with it.
func (m messageNamer) Message(msg *http1.Message) {
	name := MessageName(msg)
	for _, t := range m.c.live[m.conn] {
		if seg := t.find(msg.Start.Input, msg.Start.Frame); seg != nil {
			switch {
			case len(seg.Messages) < maxLabels:
				seg.Messages = append(seg.Messages, name)
			case len(seg.Messages) == maxLabels:
				seg.Messages = append(seg.Messages, "more")
			}
		}
	}
}

// find returns the kept or pending segment of this track with that frame.
func (t *track) find(input int, frame int64) *Segment {
	segs := t.req.ev.Segments
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].Conn == t.conn && segs[i].Input == input && segs[i].Frame == frame {
			return &segs[i]
		}
	}
	for i := 0; i < t.ringLen; i++ {
		s := &t.ring[(t.ringStart+i)%len(t.ring)]
		if s.Input == input && s.Frame == frame {
			return s
		}
	}
	return nil
}

// MessageName is how a diagram names a message: "POST /upload" for a
// request, "200 OK" for a response; long targets are shortened.
func MessageName(m *http1.Message) string {
	if m.Dir == flow.ClientToServer {
		target := m.Target
		if r := []rune(target); len(r) > 48 {
			target = string(r[:47]) + "…"
		}
		return m.Method + " " + target
	}
	if m.Reason == "" {
		return fmt.Sprint(m.Status)
	}
	return fmt.Sprintf("%d %s", m.Status, m.Reason)
}

// track follows one connection of one request.
type track struct {
	req  *reqState
	conn int
	// ring holds the last segments not (yet) kept, oldest first at ringStart.
	ring      []Segment
	ringStart int
	ringLen   int
	skipped   int // segments dropped from the ring (or over the cap) since the last kept one
	after     int // segments still to keep after the last evidence frame
	ended     bool
}

type reqState struct {
	ev       *Evidence
	frames   map[Frame]bool // evidence frames not yet seen
	tracks   []*track
	kept     int
	complete bool
}

type tupleKey struct {
	a, b netip.AddrPort
}

func orderedTuple(x, y netip.AddrPort) tupleKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return tupleKey{x, y}
}

type collector struct {
	lim     Limits
	reqs    []*reqState
	byID    map[uint64][]*track
	byTuple map[tupleKey][]*track // fallback
	live    map[*reassembly.Conn][]*track
	pending int // requests not complete
	stats   Stats
}

func newCollector(reqs []Request, lim Limits) *collector {
	c := &collector{lim: lim, byID: map[uint64][]*track{}, byTuple: map[tupleKey][]*track{}, live: map[*reassembly.Conn][]*track{}}
	for i, r := range reqs {
		if i >= lim.MaxRequests {
			c.reqs = append(c.reqs, nil)
			continue
		}
		rs := &reqState{ev: &Evidence{}, frames: map[Frame]bool{}}
		for _, f := range r.Frames {
			rs.frames[f] = true
		}
		for j, k := range r.Conns {
			rs.ev.Conns = append(rs.ev.Conns, ConnInfo{Key: k})
			t := &track{req: rs, conn: j, ring: make([]Segment, lim.Context)}
			rs.tracks = append(rs.tracks, t)
			c.byID[k.ID] = append(c.byID[k.ID], t)
			c.byTuple[orderedTuple(k.Client, k.Server)] = append(c.byTuple[orderedTuple(k.Client, k.Server)], t)
		}
		if len(rs.tracks) == 0 {
			rs.complete = true
		} else {
			c.pending++
		}
		c.reqs = append(c.reqs, rs)
	}
	return c
}

func sameTuple(k ConnKey, conn *reassembly.Conn) bool {
	return orderedTuple(k.Client, k.Server) == orderedTuple(conn.Client, conn.Server)
}

func (c *collector) ConnStart(conn *reassembly.Conn) {
	var ts []*track
	for _, t := range c.byID[conn.ID] {
		k := t.req.ev.Conns[t.conn].Key
		if sameTuple(k, conn) && (k.First.Frame == 0 || k.First == (Frame{conn.First.Input, conn.First.Frame})) {
			ts = append(ts, t)
		}
	}
	// Fallback: an ID that did not match its 4-tuple (or first frame) here.
	for _, t := range c.byTuple[orderedTuple(conn.Client, conn.Server)] {
		info := &t.req.ev.Conns[t.conn]
		if info.Found || info.Key.ID == conn.ID || info.Key.First.Frame == 0 {
			continue
		}
		if info.Key.First == (Frame{conn.First.Input, conn.First.Frame}) {
			ts = append(ts, t)
			c.stats.Mismatched++
		}
	}
	for _, t := range ts {
		info := &t.req.ev.Conns[t.conn]
		if info.Found {
			continue
		}
		info.Found = true
		c.live[conn] = append(c.live[conn], t)
	}
}

func (c *collector) Segment(conn *reassembly.Conn, s *reassembly.Segment) {
	ts := c.live[conn]
	if len(ts) == 0 {
		return
	}
	for _, t := range ts {
		if t.ended || t.req.complete {
			continue
		}
		info := &t.req.ev.Conns[t.conn]
		info.SYN, info.SYNACK, info.HandshakeACK = conn.SYN.Time, conn.SYNACK.Time, conn.HandshakeACK.Time
		seg := Segment{Conn: t.conn, Time: s.Time, Input: s.Input, Frame: s.Frame, Ord: s.Ord, Dir: s.Dir,
			Seq: s.Seq, Ack: s.Ack, Len: s.Len, Flags: s.Flags, Kind: s.Kind}
		c.add(t, seg)
	}
}

// add applies the keep policy of the package comment to one segment.
func (c *collector) add(t *track, seg Segment) {
	rs := t.req
	f := Frame{seg.Input, seg.Frame}
	if rs.frames[f] {
		delete(rs.frames, f)
		seg.Evidence = true
		// The context before it: the ring, oldest first, as far as the cap allows.
		n := t.ringLen
		room := c.lim.MaxSegments - rs.kept - 1
		if n > room {
			n = max(room, 0)
		}
		t.skipped += t.ringLen - n
		for i := t.ringLen - n; i < t.ringLen; i++ {
			c.keep(t, t.ring[(t.ringStart+i)%len(t.ring)])
		}
		t.ringStart, t.ringLen = 0, 0
		c.keep(t, seg)
		t.after = c.lim.Context
		return
	}
	if rs.complete {
		t.skipped++
		return
	}
	if t.after > 0 && rs.kept < c.lim.MaxSegments {
		t.after--
		c.keep(t, seg)
		c.checkComplete(rs)
		return
	}
	if len(t.ring) == 0 {
		t.skipped++
		return
	}
	if t.ringLen == len(t.ring) {
		t.ringStart = (t.ringStart + 1) % len(t.ring)
		t.ringLen--
		t.skipped++
	}
	t.ring[(t.ringStart+t.ringLen)%len(t.ring)] = seg
	t.ringLen++
}

func (c *collector) keep(t *track, seg Segment) {
	seg.ElidedBefore = t.skipped
	t.skipped = 0
	t.req.ev.Segments = append(t.req.ev.Segments, seg)
	t.req.kept++
}

func (c *collector) completeReq(rs *reqState) {
	if rs.complete {
		return
	}
	rs.complete = true
	c.pending--
}

func (c *collector) Gap(*reassembly.Conn, reassembly.Gap)                     {}
func (c *collector) Inconsistency(*reassembly.Conn, reassembly.Inconsistency) {}

func (c *collector) ConnEnd(conn *reassembly.Conn) {
	ts := c.live[conn]
	delete(c.live, conn)
	for _, t := range ts {
		t.ended, t.after = true, 0
		c.settle(t)
		c.checkComplete(t.req)
	}
}

// checkComplete marks a request complete once nothing more will be kept for
// it: every evidence frame is in and its context after it, or every
// connection has ended.
func (c *collector) checkComplete(rs *reqState) {
	all, ended := true, true
	for _, t := range rs.tracks {
		if t.after > 0 && !t.ended {
			all = false
		}
		if !t.ended {
			ended = false
		}
	}
	if ended || all && len(rs.frames) == 0 {
		c.completeReq(rs)
	}
}

// settle ends a track: a connection without any evidence frame (the other
// leg of a proxy, say) keeps its last Context segments so the diagram shows
// something of it; otherwise what is left in the ring is elided.
func (c *collector) settle(t *track) {
	info := &t.req.ev.Conns[t.conn]
	hasKept := false
	for _, s := range t.req.ev.Segments {
		if s.Conn == t.conn {
			hasKept = true
			break
		}
	}
	if !hasKept {
		n := min(t.ringLen, max(c.lim.MaxSegments-t.req.kept, 0))
		t.skipped += t.ringLen - n
		for i := t.ringLen - n; i < t.ringLen; i++ {
			c.keep(t, t.ring[(t.ringStart+i)%len(t.ring)])
		}
		t.ringLen = 0
		return
	}
	info.ElidedAfter = t.skipped + t.ringLen
	t.ringLen, t.skipped = 0, 0
}

func (c *collector) finish() []*Evidence {
	out := make([]*Evidence, len(c.reqs))
	for i, rs := range c.reqs {
		if rs == nil {
			continue
		}
		for _, t := range rs.tracks {
			if !t.ended {
				t.ended = true
				c.settle(t)
			}
		}
		for f := range rs.frames {
			rs.ev.Missing = append(rs.ev.Missing, f)
		}
		sort.Slice(rs.ev.Missing, func(a, b int) bool {
			x, y := rs.ev.Missing[a], rs.ev.Missing[b]
			if x.Input != y.Input {
				return x.Input < y.Input
			}
			return x.Frame < y.Frame
		})
		// Segments of several connections were appended track by track around
		// each evidence frame: put them back in capture order.
		sort.SliceStable(rs.ev.Segments, func(a, b int) bool { return rs.ev.Segments[a].Ord < rs.ev.Segments[b].Ord })
		for _, ci := range rs.ev.Conns {
			if !ci.Found {
				c.stats.NotFound++
			}
		}
		out[i] = rs.ev
	}
	return out
}

// String describes a segment the way the diagram labels it: "#41 PSH,ACK 212 B".
func (s Segment) String() string {
	l := fmt.Sprintf("#%d %s", s.Frame, FlagString(s.Flags))
	if s.Len > 0 {
		l += fmt.Sprintf(" %d B", s.Len)
	}
	return l
}

// FlagString names TCP flags in Wireshark's order: "SYN,ACK", "PSH,ACK", "FIN,ACK".
func FlagString(f reassembly.Flags) string {
	names := []struct {
		f reassembly.Flags
		n string
	}{{reassembly.FIN, "FIN"}, {reassembly.SYN, "SYN"}, {reassembly.RST, "RST"}, {reassembly.PSH, "PSH"}, {reassembly.ACK, "ACK"}, {reassembly.URG, "URG"}, {reassembly.ECE, "ECE"}, {reassembly.CWR, "CWR"}}
	out := ""
	for _, x := range names {
		if f.Has(x.f) {
			if out != "" {
				out += ","
			}
			out += x.n
		}
	}
	if out == "" {
		return "none"
	}
	return out
}
