package http1

import (
	"bytes"

	"github.com/connlint/connlint/reassembly/flow"
)

// state is where a halfParser is in its direction's byte stream.
type state uint8

const (
	stLine         state = iota // at a possible message start: collecting a candidate start line
	stSkip                      // skipping the rest of a line that is no start line
	stHeaders                   // start line accepted: collecting the header block
	stBodyCL                    // Content-Length body
	stChunkSize                 // chunk-size line (where in it: cl)
	stChunkData                 // chunk data
	stChunkDataEnd              // CRLF after chunk data
	stTrailers                  // trailer section after the last chunk
	stBodyClose                 // body delimited by the connection close
	stWait                      // client: after CONNECT/Upgrade, logging bytes until the response decides
	stDead                      // tunnel, not HTTP, or ended: ignore everything
)

// chunkLine is where a halfParser is inside a chunk-size line
// (stChunkSize) or the CRLF after chunk data (stChunkDataEnd: clStart or clCR).
type chunkLine uint8

const (
	clStart    chunkLine = iota // line start: a hex digit expected (or CR/LF after chunk data)
	clDigits                    // in the hex digits
	clWS                        // whitespace after the digits
	clExt                       // in a chunk extension
	clCR                        // CR seen, LF expected
	clOverflow                  // in hex digits beyond int64: the line is invalid, its end decides how
)

// httpPrefix is what a server resynchronising looks for, even mid-line: a
// status line often follows a body that does not end in a newline.
const httpPrefix = "HTTP/1."

// halfParser is the state machine of one direction. The Conversation owns
// two of them and does the pairing.
//
// It is kept small (two and the first arrays of the Conversation's slot
// queues fit the 480-byte size class, see halves): the state of the rarer
// paths lives in halfRare, made on first use, the one-byte fields share a
// word and the start line's spans are int32 (issue 15).
type halfParser struct {
	c        *Conversation
	dir      flow.Dir
	st       state
	cl       chunkLine // position in a chunk-size line or chunk-data CRLF
	lineLast byte      // last byte of the current line
	// blank counts the bytes of one empty line (CRLF or LF) after a complete
	// held message, at rare.blankPos: RFC 9112 §2.2 asks recipients to
	// tolerate it, so it is no overrun — unless more junk follows, which
	// then counts from the empty line on.
	blank uint8
	// junkReq: held is a malformed request opened for junk bytes
	// (startJunkRequest); further junk is part of it.
	junkReq bool
	gapped  bool  // a gap happened in this direction
	hmatch  uint8 // server resync: bytes of httpPrefix matched so far (not yet counted as junk)

	buf     []byte    // candidate start line, then the header block; only while incomplete
	bufPos  flow.Pos  // position of buf[0]
	evalLen int32     // len(buf) at the last start-line evaluation (doubling keeps it linear)
	sl      lineSpans // the accepted start line (spans into buf)
	lineLen int       // header/trailer scanning: bytes of the current line so far, LF excluded

	m        *Message // message being parsed
	mSlot    *txSlot
	held     *Message // complete message whose following bytes are not judged yet
	heldSlot *txSlot

	remaining int64 // Content-Length body or current chunk: bytes left
	chunkSize int64 // the chunk size parsed so far

	nmsg int   // messages started in this direction
	junk int64 // bytes skipped before any message (mid-stream or after a gap)

	rare *halfRare
}

// halfRare is the state of a half's rarer paths: a tolerated empty line
// between messages, a server resynchronising on httpPrefix, a client
// waiting for the answer to a CONNECT or Upgrade. Most connections never
// need it; a half that does keeps it.
type halfRare struct {
	blankPos flow.Pos // where the tolerated empty line (halfParser.blank) began
	hstart   flow.Pos // position of the first byte of a partial httpPrefix match
	// marks are the packets of a server's candidate start line after its
	// first (bufPos), those that hold an 'H': where an httpPrefix match
	// inside the candidate may begin (posAt).
	marks []bufMark

	waitFor *Message // client: CONNECT/Upgrade request whose response decides
	wbuf    []byte
	wev     []waitEvent
}

// bufMark says that h.buf[at:] came from the packet whose first byte (of
// those in h.buf) is at pos.
type bufMark struct {
	at  int
	pos flow.Pos
}

func (h *halfParser) more() *halfRare {
	if h.rare == nil {
		h.rare = &halfRare{}
	}
	return h.rare
}

// waitFor returns the CONNECT/Upgrade request the client half waits on.
func (h *halfParser) waitFor() *Message {
	if h.rare == nil {
		return nil
	}
	return h.rare.waitFor
}

// hstart returns where the partial httpPrefix match began.
func (h *halfParser) hstart() flow.Pos {
	if h.rare == nil {
		return flow.Pos{}
	}
	return h.rare.hstart
}

// lineSpans is what parseHeaderBlock needs of an accepted start line. The
// line is at most MaxHeaderBytes long, which NewConversation bounds to
// maxHeaderBytesCap: int32 spans hold it.
type lineSpans struct {
	methodEnd   int32 // request: method is b[:methodEnd]
	targetStart int32
	targetEnd   int32
	reasonStart int32 // response: reason is b[reasonStart:reasonEnd]
	reasonEnd   int32
	lineLen     int32 // bytes including the LF
	http09      bool
}

func (sl *startLine) spans() lineSpans {
	return lineSpans{methodEnd: int32(sl.methodEnd), targetStart: int32(sl.targetStart), targetEnd: int32(sl.targetEnd),
		reasonStart: int32(sl.reasonStart), reasonEnd: int32(sl.reasonEnd), lineLen: int32(sl.lineLen), http09: sl.http09}
}

type waitEvent struct {
	kind uint8 // evData, evGap or evEnd
	off  int
	n    uint64
	how  flow.CloseKind
	pos  flow.Pos
}

const (
	evData uint8 = iota
	evGap
	evEnd
)

// maxWaitEvents bounds the log kept while a client waits for the answer to a
// CONNECT; beyond it (or beyond MaxHeaderBytes of data) bytes are logged as
// a gap, which the replay treats like a capture gap.
const maxWaitEvents = 4096

func at(p flow.Pos, i int) flow.Pos {
	p.Offset += uint64(i)
	return p
}

func endOf(how flow.CloseKind) End {
	switch how {
	case flow.CloseFIN:
		return EndFIN
	case flow.CloseRST:
		return EndRST
	}
	return EndCaptureEnd
}

func (h *halfParser) feed(data []byte, pos flow.Pos) {
	for len(data) > 0 {
		var n int
		switch h.st {
		case stDead:
			return
		case stWait:
			h.logData(data, pos)
			return
		case stLine:
			n = h.feedLine(data, pos)
		case stSkip:
			n = h.feedSkip(data, pos)
		case stHeaders:
			n = h.feedHeaders(data, pos)
		case stBodyCL:
			n = len(data)
			if int64(n) > h.remaining {
				n = int(h.remaining)
			}
			h.body(n, pos)
			h.m.BodyLength += int64(n)
			h.remaining -= int64(n)
			if h.remaining == 0 {
				h.complete()
			}
		case stBodyClose:
			n = len(data)
			h.body(n, pos)
			h.m.BodyLength += int64(n)
		default:
			n = h.feedChunked(data, pos)
		}
		data = data[n:]
		pos.Offset += uint64(n)
	}
}

// body counts n body bytes starting at pos.
func (h *halfParser) body(n int, pos flow.Pos) {
	if n <= 0 {
		return
	}
	m := h.m
	if m.BodyBytes == 0 {
		m.BodyStart = pos
	}
	m.BodyBytes += int64(n)
	m.Last = at(pos, n-1)
}

func (h *halfParser) resetBuf() {
	// A buffer grown by one huge header block is not kept for the life of
	// the connection.
	if cap(h.buf) > 16<<10 {
		h.buf = nil
	} else {
		h.buf = h.buf[:0]
	}
	h.evalLen = 0
}

// feedLine collects a candidate start line up to its LF and judges it.
func (h *halfParser) feedLine(data []byte, pos flow.Pos) int {
	if len(h.buf) == 0 {
		if n := h.fastMessage(data, pos); n > 0 {
			return n
		}
		h.bufPos = pos
		h.evalLen = 0
		h.clearMarks()
	}
	take, complete := len(data), false
	if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
		take, complete = nl+1, true
	}
	if len(h.buf)+take > h.c.opts.MaxHeaderBytes {
		// No start line is this long: junk. stSkip handles the rest of it.
		h.rejectAll(len(h.buf))
		h.st = stSkip
		return 0
	}
	if h.dir == flow.ServerToClient && len(h.buf) > 0 && bytes.IndexByte(data[:take], 'H') >= 0 {
		r := h.more()
		r.marks = append(r.marks, bufMark{at: len(h.buf), pos: pos})
	}
	h.buf = append(h.buf, data[:take]...)
	if complete && (len(h.buf) == 1 || len(h.buf) == 2 && h.buf[0] == '\r') {
		if h.nmsg == 0 && h.junk == 0 {
			// RFC 9112 §2.2: empty lines before the first message are ignored.
			h.buf = h.buf[:0]
			return take
		}
		if m := h.held; m != nil && m.End == EndComplete && m.OverrunBytes == 0 && h.blank == 0 {
			// One empty line between messages (some servers and clients
			// end a body with an extra CRLF) is tolerated, RFC 9112 §2.2.
			h.blank = uint8(len(h.buf))
			h.more().blankPos = h.bufPos
			h.buf = h.buf[:0]
			return take
		}
	}
	if !complete && (len(h.buf) == 1 && h.buf[0] == '\r' ||
		len(h.buf) > 128 && len(h.buf) < 2*int(h.evalLen)) {
		// A lone CR may be the start of an empty line; a long line is
		// judged again only when it has doubled (linear in its length).
		return take
	}
	h.evalCandidate(complete)
	return take
}

// fastMessage takes a message head (start line and header block) that lies
// whole in data, the common case, straight from data: no copy into h.buf,
// no buffer to grow, one scan of the start line (issue 15). It does what
// feedLine, evalCandidate and feedHeaders do for such a head, in the same
// order, and returns the bytes taken; 0 leaves everything to them (a line
// that is empty, incomplete or no valid start line, HTTP/0.9, a head cut by
// the end of data or over MaxHeaderBytes).
func (h *halfParser) fastMessage(data []byte, pos flow.Pos) int {
	nl := bytes.IndexByte(data, '\n')
	if nl < 1 || nl == 1 && data[0] == '\r' {
		return 0
	}
	max := h.c.opts.MaxHeaderBytes
	take := nl + 1
	if take > max {
		return 0
	}
	v, sl := scanStart(h.dir, data[:take])
	if v != isStart || sl.http09 {
		return 0
	}
	// Find the empty line that ends the block, judging each line as
	// feedHeaders does (lineLast is left as it would leave it).
	last := h.lineLast
	end, fields := 0, 0 // fields: lines before the empty one, each at most one field
	for i := take; end == 0; {
		j := bytes.IndexByte(data[i:], '\n')
		if j < 0 || i+j+1 > max {
			return 0
		}
		if j > 0 {
			last = data[i+j-1]
		}
		if j == 0 || j == 1 && data[i] == '\r' {
			end = i + j + 1
		} else {
			fields++
		}
		i += j + 1
	}
	h.bufPos, h.evalLen = pos, int32(take)
	h.startMessage(sl, data[:take], false, fields)
	h.lineLen, h.lineLast = 0, last
	h.m.Last = at(pos, end-1)
	h.headersDone(data[:end], fields)
	return end
}

// evalCandidate judges h.buf, a candidate start line (complete: it ends in
// LF). On rejection a server looks for httpPrefix inside the rejected bytes.
func (h *halfParser) evalCandidate(complete bool) {
	for {
		h.evalLen = int32(len(h.buf))
		v, sl := scanStart(h.dir, h.buf)
		if v == needMore && !complete {
			return
		}
		if v == isStart {
			h.startMessage(sl, h.buf, false, -1)
			return
		}
		// Rejected.
		if h.dir == flow.ServerToClient && h.c.pending09(h.bufPos) && !h.heldClaimsOverrun() {
			h.start09()
			return
		}
		if h.dir == flow.ServerToClient && len(h.buf) > 1 {
			if j := bytes.Index(h.buf[1:], []byte(httpPrefix)); j >= 0 {
				h.junkBytes(1+j, h.bufPos)
				if h.st == stDead {
					return
				}
				h.trimBuf(1 + j)
				continue
			}
			if !complete {
				// Keep a trailing partial match for the next feed.
				k := partialSuffix(h.buf[1:])
				h.junkBytes(len(h.buf)-k, h.bufPos)
				h.hmatch = uint8(k)
				if k > 0 {
					// (hstart is read only while a match is partial)
					h.more().hstart = h.posAt(len(h.buf) - k)
				}
				h.resetBuf()
				if h.st != stDead {
					h.st = stSkip
				}
				return
			}
		}
		h.rejectAll(len(h.buf))
		if !complete && h.st != stDead {
			h.st = stSkip
		}
		return
	}
}

// heldClaimsOverrun reports whether bytes that follow the held message and
// start no message are its overrun even though an HTTP/0.9 request is
// pending: the held message is a complete framed response (Content-Length,
// chunked, or bodiless) that answered no request seen (unsolicited, or
// paired across a gap). Such a server spoke HTTP/1.x framing before it read
// the 0.9 request, and what follows the end it declared is a length error
// of that response (zeek http-09-content-length-confusion.pcap: "this is
// too much.\r\n" after Content-Length: 4, issue 12 item 14). After a
// response that did answer a request, the next bytes start the next
// response (RFC 9112 §6.3, §9.3): a pending 0.9 request's raw answer.
//
// The test is on the messages alone, never on where packets are cut: the
// same bytes give the same answer in one segment or byte by byte. (It once
// compared the Ord of the held message's last byte with the candidate's,
// which made the same stream an overrun or a 0.9 response by segmentation.)
func (h *halfParser) heldClaimsOverrun() bool {
	m := h.held
	return m != nil && m.End == EndComplete && m.Framing != FramingClose &&
		h.heldSlot != nil && h.heldSlot.tx.Request == nil
}

// posAt returns the position of h.buf[i], a server's candidate start line:
// the bytes of one candidate may come from several packets, and a message
// found inside it (httpPrefix) starts in the packet that holds its first
// byte, whatever packet the candidate began in. Pairing compares that
// packet's Ord with the requests'.
func (h *halfParser) posAt(i int) flow.Pos {
	p, from := h.bufPos, 0
	if h.rare != nil {
		for _, mk := range h.rare.marks {
			if mk.at > i {
				break
			}
			p, from = mk.pos, mk.at
		}
	}
	return at(p, i-from)
}

// trimBuf drops the first n bytes of the candidate start line.
func (h *halfParser) trimBuf(n int) {
	h.bufPos = h.posAt(n)
	k := copy(h.buf, h.buf[n:])
	h.buf = h.buf[:k]
	if h.rare == nil {
		return
	}
	marks := h.rare.marks[:0]
	for _, mk := range h.rare.marks {
		if mk.at > n {
			marks = append(marks, bufMark{at: mk.at - n, pos: mk.pos})
		}
	}
	h.rare.marks = marks
}

// clearMarks forgets the packets of the previous candidate. A long list (a
// candidate cut in many packets) is not kept for the life of the connection.
func (h *halfParser) clearMarks() {
	if h.rare == nil {
		return
	}
	if cap(h.rare.marks) > 64 {
		h.rare.marks = nil
	} else {
		h.rare.marks = h.rare.marks[:0]
	}
}

// partialSuffix returns the length of the longest suffix of b that is a
// proper prefix of httpPrefix.
func partialSuffix(b []byte) int {
	for k := len(httpPrefix) - 1; k > 0; k-- {
		if len(b) >= k && string(b[len(b)-k:]) == httpPrefix[:k] {
			return k
		}
	}
	return 0
}

// rejectAll counts the first n bytes of the candidate as junk and drops it.
func (h *halfParser) rejectAll(n int) {
	h.junkBytes(n, h.bufPos)
	h.resetBuf()
}

// feedSkip skips to the end of the current line (a server also stops at
// httpPrefix). The bytes are junk.
func (h *halfParser) feedSkip(data []byte, pos flow.Pos) int {
	if h.dir == flow.ClientToServer {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			h.junkBytes(len(data), pos)
			return len(data)
		}
		h.junkBytes(nl+1, pos)
		if h.st == stSkip {
			h.st = stLine
		}
		return nl + 1
	}
	counted := 0 // data[:counted] already counted as junk
	for i := 0; i < len(data); i++ {
		b := data[i]
		if b == httpPrefix[h.hmatch] {
			if h.hmatch == 0 {
				h.more().hstart = at(pos, i)
				h.junkBytes(i-counted, at(pos, counted))
				counted = i
			}
			h.hmatch++
			if int(h.hmatch) == len(httpPrefix) {
				// Found: the candidate is httpPrefix; bytes of earlier feeds
				// that matched were never counted.
				h.hmatch = 0
				if h.st == stDead {
					return len(data)
				}
				h.st = stLine
				h.resetBuf()
				h.clearMarks()
				h.buf = append(h.buf, httpPrefix...)
				h.bufPos = h.rare.hstart
				return i + 1
			}
			continue
		}
		if h.hmatch > 0 {
			// The partial match failed: its bytes (some maybe from earlier
			// feeds) are junk too.
			h.junkBytes(int(h.hmatch)-(i-counted), h.rare.hstart)
			h.hmatch = 0
			if b == httpPrefix[0] {
				i--
				continue
			}
		}
		if b == '\n' {
			h.junkBytes(i+1-counted, at(pos, counted))
			if h.st == stSkip {
				h.st = stLine
			}
			return i + 1
		}
	}
	// Bytes in a pending partial match stay uncounted.
	h.junkBytes(len(data)-counted-min(int(h.hmatch), len(data)-counted), at(pos, counted))
	return len(data)
}

// junkBytes accounts for n bytes that start no message: an overrun of the
// held message, bytes skipped after a broken one, or, before any message,
// evidence that this is not HTTP.
func (h *halfParser) junkBytes(n int, p flow.Pos) {
	if n <= 0 {
		return
	}
	if m := h.held; m != nil {
		if h.junkReq {
			// the rest of the malformed request opened below
			m.HeaderBytes += n
			m.Last = at(p, n-1)
			return
		}
		if m.End == EndComplete && m.OverrunBytes == 0 && h.nextRequestJunk(m, p) {
			h.startJunkRequest(n, p)
			return
		}
		if m.End == EndComplete {
			if m.OverrunBytes == 0 {
				m.OverrunPos = p
				if h.blank > 0 {
					// junk after the tolerated empty line: it was no
					// separator, the overrun starts with it
					m.OverrunPos, m.OverrunBytes = h.rare.blankPos, int64(h.blank)
					h.blank = 0
				}
				if m.Dir == flow.ServerToClient && m.Framing == FramingNone {
					m.addAnomaly(AnomBodyOnBodiless)
				} else {
					m.addAnomaly(AnomOverrun)
				}
			}
			m.OverrunBytes += int64(n)
		} else {
			m.SkippedBytes += int64(n)
		}
		return
	}
	if h.nmsg > 0 || h.c.isHTTP {
		return
	}
	if !h.gapped && !h.c.midStream {
		h.c.setNotHTTP()
		return
	}
	h.junk += int64(n)
	if h.junk > int64(h.c.opts.MaxHeaderBytes) {
		// Mid-stream or after a gap we look further, but not forever.
		h.c.setNotHTTP()
	}
}

// nextRequestJunk reports whether junk at p after the held client message m
// is a malformed next request rather than an overrun of m: m is a complete
// request without a body, and its response had started before p. A server
// reads such bytes as the next request (and typically answers 400), so the
// bytes are no length error of m. Before m's response, bytes after a
// bodiless request stay an overrun (an undeclared body, say).
func (h *halfParser) nextRequestJunk(m *Message, p flow.Pos) bool {
	if h.dir != flow.ClientToServer || m.Framing != FramingNone || m.Proto == "HTTP/0.9" || h.heldSlot == nil {
		return false
	}
	if r := h.heldSlot.tx.Response; r != nil {
		return r.Start.Ord <= p.Ord
	}
	// the response's header block may still be arriving: the server half's
	// message in progress answers the oldest pending request
	srv := &h.c.half[flow.ServerToClient]
	return srv.m != nil && srv.mSlot == nil && len(h.c.pending) > 0 && h.c.pending[0] == h.heldSlot &&
		srv.m.Start.Ord <= p.Ord
}

// startJunkRequest opens a transaction for n junk bytes at p that follow an
// answered bodiless request: a malformed request (no method, its first line
// nor target), ended EndMalformed, so that the server's answer (a 400)
// pairs with it instead of being unsolicited. Junk until the next start line
// is its own. Method and Target stay empty: how much of the line is judged at
// once depends on the packet boundaries, the message must not.
func (h *halfParser) startJunkRequest(n int, p flow.Pos) {
	h.releaseHeld()
	m, s := newRequest(0)
	*m = Message{Dir: h.dir, Index: h.nmsg, Start: p, Last: at(p, n-1), ContentLength: -1,
		End: EndMalformed, InHeaders: true, HeaderBytes: n}
	h.nmsg++
	m.addAnomaly(AnomJunkRequest)
	h.c.registerRequest(s)
	h.held, h.heldSlot = m, s
	h.junkReq = true
}

// startMessage begins a message from the accepted start line in line, at
// h.bufPos: h.buf, or the caller's data on the fast path (fastMessage).
// partial: the line is incomplete (the direction ended inside it). fields
// is how many header fields the block may hold when it is known whole
// (fastMessage), -1 when the block is still to come, 0 when none will: the
// message is allocated with room for them.
func (h *halfParser) startMessage(sl startLine, line []byte, partial bool, fields int) {
	c := h.c
	h.releaseHeld()
	if fields < 0 && !sl.http09 {
		// The block is still to come: guess it holds as many fields as
		// the direction's last one (keep-alive messages look alike).
		fields = int(c.lastFields[h.dir])
	}
	m, s := newMessage(h.dir, min(fields, c.opts.MaxHeaders))
	m.Dir, m.Index, m.Start, m.ContentLength = h.dir, h.nmsg, h.bufPos, -1
	h.nmsg++
	c.isHTTP = true
	m.Last = at(h.bufPos, len(line)-1)
	if h.dir == flow.ClientToServer {
		m.Method = knownMethod(line[:sl.methodEnd])
		if sl.http09 {
			m.Proto, m.Major, m.Minor = "HTTP/0.9", 0, 9
			m.addAnomaly(AnomHTTP09)
		} else if sl.versionComplete && sl.major == 1 {
			m.Proto, m.Major, m.Minor = protoName(sl.minor), 1, sl.minor
		}
	} else {
		m.Status = sl.status
		m.Proto, m.Major, m.Minor = protoName(sl.minor), 1, sl.minor
	}
	if sl.lenient {
		m.addAnomaly(AnomMalformedStartLine)
	}
	if sl.bareLF {
		m.addAnomaly(AnomBareLF)
	}
	h.m, h.sl = m, sl.spans()
	if h.dir == flow.ClientToServer {
		c.registerRequest(s)
		h.mSlot = s
	}
	if partial {
		return
	}
	if sl.http09 {
		// No header block, no body.
		m.HeaderBytes = len(line)
		m.HeaderEnd = m.Last
		c.parseHeaderBlock(m, line, sl.spans(), -1)
		h.resetBuf()
		h.complete()
		return
	}
	h.st = stHeaders
	h.lineLen = 0
}

var protoNames = [10]string{"HTTP/1.0", "HTTP/1.1", "HTTP/1.2", "HTTP/1.3", "HTTP/1.4",
	"HTTP/1.5", "HTTP/1.6", "HTTP/1.7", "HTTP/1.8", "HTTP/1.9"}

func protoName(minor int) string { return protoNames[minor%10] }

// pending09 reports whether the oldest pending request is HTTP/0.9 and
// started before p: the server bytes at p are its raw response.
func (c *Conversation) pending09(p flow.Pos) bool {
	return len(c.pending) > 0 && c.pending[0].tx.Request.Proto == "HTTP/0.9" &&
		c.pending[0].tx.Request.Start.Ord <= p.Ord
}

// start09 turns the candidate bytes into the start of an HTTP/0.9 response:
// no status line, no headers, a body until the connection closes.
func (h *halfParser) start09() {
	h.releaseHeld()
	m := &Message{Dir: flow.ServerToClient, Index: h.nmsg, Start: h.bufPos, ContentLength: -1,
		Proto: "HTTP/0.9", Minor: 9, Framing: FramingClose}
	h.nmsg++
	m.addAnomaly(AnomHTTP09)
	h.m = m
	h.mSlot = h.c.pairResponse(m)
	h.st = stBodyClose
	h.body(len(h.buf), h.bufPos)
	m.BodyLength = int64(len(h.buf))
	h.resetBuf()
}

// feedHeaders collects the header block up to its blank line, within
// MaxHeaderBytes.
func (h *halfParser) feedHeaders(data []byte, pos flow.Pos) int {
	max := h.c.opts.MaxHeaderBytes
	i := 0
	for i < len(data) {
		if len(h.buf)+i > max {
			break
		}
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			h.lineLen += len(data) - i
			h.lineLast = data[len(data)-1]
			i = len(data)
			break
		}
		j := i + nl
		if nl > 0 {
			h.lineLast = data[j-1]
		}
		h.lineLen += nl
		empty := h.lineLen == 0 || h.lineLen == 1 && h.lineLast == '\r'
		h.lineLen = 0
		i = j + 1
		if empty && len(h.buf)+i <= max {
			h.buf = append(h.buf, data[:i]...)
			h.m.Last = at(pos, j)
			h.headersDone(h.buf, -1)
			return i
		}
	}
	if len(h.buf)+i <= max {
		h.buf = append(h.buf, data[:i]...)
		h.m.Last = at(pos, i-1)
		return i
	}
	// Over the limit: keep what fits (for the fields that did arrive), end
	// the message and resynchronise; the rest of the line is skipped.
	n := max - len(h.buf)
	h.buf = append(h.buf, data[:n]...)
	if n > 0 {
		h.m.Last = at(pos, n-1)
	}
	h.m.addAnomaly(AnomHeaderTooLarge)
	h.endInHeaders(EndMalformed)
	h.finishBroken()
	h.st = stSkip
	return n
}

// headersDone parses the complete header block (h.buf, or the caller's data
// on the fast path) and decides the framing. fields is the count of lines
// between the start line and the empty one when the fast path knows it,
// else -1.
func (h *halfParser) headersDone(block []byte, fields int) {
	c, m := h.c, h.m
	m.HeaderBytes = len(block)
	m.HeaderEnd = m.Last
	c.parseHeaderBlock(m, block, h.sl, fields)
	c.lastFields[h.dir] = uint8(min(len(m.Headers), 255))
	h.resetBuf()
	var req *Message
	if h.dir == flow.ServerToClient {
		h.mSlot = c.pairResponse(m)
		if h.mSlot != nil {
			req = h.mSlot.tx.Request
		}
	}
	if !decideFraming(m, req) {
		// A request whose body length cannot be known: what follows is
		// skipped until the next request line.
		m.End = EndMalformed
		h.complete()
		return
	}
	switch m.Framing {
	case FramingNone:
		h.complete()
	case FramingContentLength:
		if m.ContentLength == 0 {
			h.complete()
			return
		}
		h.remaining = m.ContentLength
		h.st = stBodyCL
	case FramingChunked:
		h.st, h.cl, h.chunkSize = stChunkSize, clStart, 0
	case FramingClose:
		h.st = stBodyClose
	case FramingTunnel:
		c.startTunnel(h)
		return
	}
	if c.replay {
		// The answer to a CONNECT/Upgrade that opened no tunnel: parse the
		// client bytes held back now, before later responses need them.
		c.after()
	}
}

// complete ends the current message per its framing and holds it until the
// next bytes are judged. After a CONNECT or Upgrade request the client's
// bytes are logged until the response says whether a tunnel opened.
func (h *halfParser) complete() {
	m, s := h.m, h.mSlot
	h.m, h.mSlot = nil, nil
	h.st = stLine
	if h.dir == flow.ClientToServer && m.End == EndComplete && s != nil && !s.settled &&
		(m.Method == "CONNECT" || hasHeader(m.Headers, "Upgrade")) {
		h.c.deliver(m, s)
		h.more().waitFor = m
		h.st = stWait
		return
	}
	h.held, h.heldSlot = m, s
}

// finishBroken ends the current message, not cleanly: it is held so that the
// bytes skipped until the next start line are counted on it.
func (h *halfParser) finishBroken() {
	h.held, h.heldSlot = h.m, h.mSlot
	h.m, h.mSlot = nil, nil
	h.st = stLine
}

func (h *halfParser) releaseHeld() {
	h.blank, h.junkReq = 0, false
	if h.held != nil {
		m, s := h.held, h.heldSlot
		h.held, h.heldSlot = nil, nil
		h.c.deliver(m, s)
	}
}

// endInHeaders ends the current message inside its header block: the fields
// that arrived are parsed, and a response is paired all the same.
func (h *halfParser) endInHeaders(e End) {
	m := h.m
	m.End = e
	m.InHeaders = true
	m.HeaderBytes = len(h.buf)
	h.c.parseHeaderBlock(m, h.buf, h.sl, -1)
	h.resetBuf()
	if h.dir == flow.ServerToClient {
		h.mSlot = h.c.pairResponse(m)
	}
}

func unhex(c byte) int64 {
	switch {
	case '0' <= c && c <= '9':
		return int64(c - '0')
	case 'a' <= c && c <= 'f':
		return int64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int64(c-'A') + 10
	}
	return -1
}

// chunkStep is what a chunked-body framing state did with one byte.
type chunkStep uint8

const (
	chunkNext chunkStep = iota // consumed; go on with the next byte
	chunkDone                  // consumed; it completed the message (the empty line after the trailers)
	chunkBad                   // not consumed (it may begin the next message): the framing is broken
)

// feedChunked runs the chunked-body states, one small function per state as
// net/http/internal/chunked.go has them: chunk data is counted in bulk, the
// framing byte by byte. Every byte consumed counts as body (BodyBytes
// includes the chunk framing).
func (h *halfParser) feedChunked(data []byte, pos flow.Pos) int {
	i := 0
	for i < len(data) {
		if h.st == stChunkData {
			i += h.chunkData(len(data) - i)
			continue
		}
		var step chunkStep
		switch h.st {
		case stChunkSize:
			step = h.chunkSizeByte(data[i])
		case stChunkDataEnd:
			step = h.chunkDataEndByte(data[i])
		case stTrailers:
			step = h.trailerByte(data[i])
		}
		switch step {
		case chunkBad:
			h.body(i, pos)
			h.m.End = EndMalformed
			h.finishBroken()
			return i
		case chunkDone:
			i++
			h.body(i, pos)
			h.complete()
			return i
		}
		i++
	}
	h.body(i, pos)
	return i
}

// chunkData takes up to n bytes of the current chunk's data.
func (h *halfParser) chunkData(n int) int {
	k := min(int64(n), h.remaining)
	h.m.BodyLength += k
	h.remaining -= k
	if h.remaining == 0 {
		h.st, h.cl = stChunkDataEnd, clStart
	}
	return int(k)
}

// chunkDataEndByte expects the CRLF (or a bare LF) after a chunk's data.
func (h *halfParser) chunkDataEndByte(c byte) chunkStep {
	switch {
	case c == '\r' && h.cl == clStart:
		h.cl = clCR
	case c == '\n':
		if h.cl != clCR {
			h.m.addAnomaly(AnomBareLF)
		}
		h.st, h.cl, h.chunkSize = stChunkSize, clStart, 0
	default:
		h.m.addAnomaly(AnomBadChunkFraming)
		return chunkBad
	}
	return chunkNext
}

// chunkSizeByte runs the chunk-size line: hex digits, optional whitespace,
// an optional extension, then CRLF (RFC 9112 §7.1).
func (h *halfParser) chunkSizeByte(c byte) chunkStep {
	var step chunkStep
	switch h.cl {
	case clStart, clDigits:
		step = h.chunkSizeDigit(c)
	case clOverflow:
		step = h.chunkSizeOverflow(c)
	case clWS:
		step = h.chunkSizeAfterDigits(c, true)
	case clExt:
		step = h.chunkSizeExtension(c)
	case clCR:
		step = chunkBad
		if c == '\n' {
			step = h.chunkSizeLineDone()
		}
	}
	if step == chunkBad {
		h.m.addAnomaly(AnomBadChunkSize)
	}
	return step
}

// chunkSizeDigit takes a hex digit of the chunk size, or the first byte
// after the digits.
func (h *halfParser) chunkSizeDigit(c byte) chunkStep {
	if v := unhex(c); v >= 0 {
		if h.chunkSize > (1<<63-1-v)/16 {
			// Would overflow int64 (e.g. 2^64): read the rest of the
			// digits to tell a well-formed oversize line from garbage.
			h.cl = clOverflow
			return chunkNext
		}
		h.chunkSize = h.chunkSize*16 + v
		h.cl = clDigits
		return chunkNext
	}
	if h.cl == clStart {
		return chunkBad // no digit at all
	}
	return h.chunkSizeAfterDigits(c, false)
}

// chunkSizeOverflow takes a byte after a chunk size's digits overflowed:
// more digits, or the first byte after them. A size line that ends like a
// valid one (line end, whitespace, extension) declared a size too large to
// frame anything (AnomChunkSizeOverflow); anything else is a garbage line,
// e.g. body bytes read as a size after the parser lost the framing.
func (h *halfParser) chunkSizeOverflow(c byte) chunkStep {
	if unhex(c) >= 0 {
		return chunkNext
	}
	switch c {
	case '\r', '\n', ';', ' ', '\t':
		h.m.addAnomaly(AnomChunkSizeOverflow)
	}
	return chunkBad
}

// chunkSizeAfterDigits takes a byte after the size's digits: whitespace
// (an anomaly when it follows the digits directly; inWS: already in it),
// the start of an extension, or the line end.
func (h *halfParser) chunkSizeAfterDigits(c byte, inWS bool) chunkStep {
	switch c {
	case ' ', '\t':
		if !inWS {
			h.m.addAnomaly(AnomChunkSizeWhitespace)
			h.cl = clWS
		}
	case ';':
		h.m.addAnomaly(AnomChunkExtension)
		h.cl = clExt
	case '\r':
		h.cl = clCR
	case '\n':
		h.m.addAnomaly(AnomBareLF)
		return h.chunkSizeLineDone()
	default:
		return chunkBad
	}
	return chunkNext
}

// chunkSizeExtension skips a chunk extension up to the line end.
func (h *halfParser) chunkSizeExtension(c byte) chunkStep {
	switch c {
	case '\r':
		h.cl = clCR
	case '\n':
		h.m.addAnomaly(AnomBareLF)
		return h.chunkSizeLineDone()
	}
	return chunkNext
}

// chunkSizeLineDone ends the size line: data follows, or the trailer
// section after the last (zero-size) chunk.
func (h *halfParser) chunkSizeLineDone() chunkStep {
	if h.chunkSize == 0 {
		h.st, h.lineLen, h.lineLast = stTrailers, 0, 0
	} else {
		h.st, h.remaining = stChunkData, h.chunkSize
	}
	return chunkNext
}

// trailerByte runs the trailer section: lines up to an empty one.
func (h *halfParser) trailerByte(c byte) chunkStep {
	if c != '\n' {
		h.lineLen++
		h.lineLast = c
		return chunkNext
	}
	if h.lineLast != '\r' || h.lineLen == 0 {
		h.m.addAnomaly(AnomBareLF)
	}
	empty := h.lineLen == 0 || h.lineLen == 1 && h.lineLast == '\r'
	h.lineLen, h.lineLast = 0, 0
	if !empty {
		h.m.addAnomaly(AnomTrailers)
		return chunkNext
	}
	return chunkDone
}

// gap handles n missing bytes at pos.
func (h *halfParser) gap(n uint64, pos flow.Pos) {
	switch h.st {
	case stDead:
		return
	case stWait:
		h.logGap(n, pos)
		return
	}
	h.gapped = true
	switch h.st {
	case stBodyCL:
		m := h.m
		if n <= uint64(h.remaining) {
			// A hole inside a body of known length: keep counting.
			m.GapBytes += int64(n)
			h.remaining -= int64(n)
			if h.remaining == 0 {
				h.complete()
			}
			return
		}
		m.GapBytes += h.remaining
		h.remaining = 0
		h.complete()
	case stBodyClose:
		// The body runs to the close whatever the hole hid; resynchronising
		// inside it could only find false messages.
		h.m.GapBytes += int64(min(n, 1<<62))
		return
	case stHeaders:
		h.endInHeaders(EndGap)
		h.finishBroken()
	case stChunkSize, stChunkData, stChunkDataEnd, stTrailers:
		h.m.End = EndGap
		h.m.GapBytes += int64(min(n, 1<<62))
		h.finishBroken()
	case stLine:
		h.endCandidate(EndGap)
	}
	// Whatever follows the hole cannot be blamed on the message before it.
	h.releaseHeld()
	h.resetBuf()
	h.hmatch = 0
	h.st = stLine
	h.c.noteGap(h.dir, pos)
}

// endCandidate ends a candidate start line cut by a gap or the end of the
// direction: a plausible partial request line becomes a message (InHeaders),
// anything else is dropped.
func (h *halfParser) endCandidate(e End) {
	if len(h.buf) == 0 {
		return
	}
	v, sl := scanStart(h.dir, h.buf)
	if v == needMore && h.dir == flow.ClientToServer && sl.methodComplete &&
		(sl.versionComplete || knownMethod(h.buf[:sl.methodEnd]) != "") {
		h.startMessage(sl, h.buf, true, 0)
		h.endInHeaders(e)
		h.finishBroken()
		return
	}
	if e != EndGap {
		h.rejectAll(len(h.buf))
	}
	h.resetBuf()
}

// end handles the end of the direction.
func (h *halfParser) end(how flow.CloseKind, pos flow.Pos) {
	h.c.ended[h.dir] = true
	if h.st == stWait {
		h.rare.wev = append(h.rare.wev, waitEvent{kind: evEnd, how: how, pos: pos})
		return
	}
	e := endOf(how)
	switch h.st {
	case stLine:
		h.endCandidate(e)
	case stSkip:
		h.junkBytes(int(h.hmatch), h.hstart())
		h.hmatch = 0
	case stHeaders:
		h.endInHeaders(e)
		h.finishBroken()
	case stBodyCL:
		h.m.End = e
		h.m.MissingBytes = h.remaining
		h.finishBroken()
	case stChunkData:
		h.m.End = e
		h.m.MissingBytes = h.remaining
		h.finishBroken()
	case stChunkSize, stChunkDataEnd, stTrailers:
		h.m.End = e
		h.finishBroken()
	case stBodyClose:
		if how != flow.CloseFIN {
			h.m.End = e
		}
		h.complete()
	}
	h.releaseHeld()
	h.st = stDead
	h.buf = nil
}

// logData and logGap run in stWait only, after complete set rare.waitFor.
func (h *halfParser) logData(data []byte, pos flow.Pos) {
	r := h.rare
	if len(r.wbuf)+len(data) > h.c.opts.MaxHeaderBytes || len(r.wev) >= maxWaitEvents {
		h.logGap(uint64(len(data)), pos)
		return
	}
	r.wev = append(r.wev, waitEvent{kind: evData, off: len(r.wbuf), n: uint64(len(data)), pos: pos})
	r.wbuf = append(r.wbuf, data...)
}

func (h *halfParser) logGap(n uint64, pos flow.Pos) {
	r := h.rare
	if k := len(r.wev); k > 0 && r.wev[k-1].kind == evGap {
		r.wev[k-1].n += n
		return
	}
	r.wev = append(r.wev, waitEvent{kind: evGap, n: n, pos: pos})
}

// replayWait parses what was logged after a CONNECT/Upgrade request whose
// response did not open a tunnel.
func (h *halfParser) replayWait() {
	if h.st != stWait {
		return
	}
	r := h.rare
	wbuf, wev := r.wbuf, r.wev
	r.wbuf, r.wev, r.waitFor = nil, nil, nil
	h.c.ended[h.dir] = false
	h.st = stLine
	for _, e := range wev {
		if h.c.tunnel || h.c.notHTTP {
			return
		}
		switch e.kind {
		case evData:
			if h.st == stWait {
				h.logData(wbuf[e.off:e.off+int(e.n)], e.pos)
			} else {
				h.feed(wbuf[e.off:e.off+int(e.n)], e.pos)
			}
		case evGap:
			h.gap(e.n, e.pos)
		case evEnd:
			h.end(e.how, e.pos)
		}
	}
}
