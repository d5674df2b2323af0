package http1

import "github.com/connlint/connlint/reassembly/flow"

// Conversation parses both directions of one connection and pairs requests
// with responses. Create one per TCP connection with NewConversation; it is
// not safe for concurrent use.
//
// Delivery order. A message is handed to Handler.Message once its anomalies
// are final: a complete message is held until the next bytes of its own
// direction show whether they start a valid message (an overrun is then
// recorded on it first), or until that direction has a gap or ends, or
// Finish. A request never waits for its response. A transaction is handed to
// Handler.Transaction once it is settled and its request and final response
// (if any) have both been delivered; Index is assigned at that moment, so
// transactions arrive in Index order.
type Conversation struct {
	h    Handler
	opts Options
	// half is made with the first bytes (or gap) of either direction: a
	// connection that never carries data (a SYN flood, a port scan) costs
	// the Conversation alone, and Finish lets it go (issue 15).
	half  *[2]halfParser
	ended [2]bool // End was called (or replayed) for the direction

	midStream bool
	isHTTP    bool
	notHTTP   bool
	tunnel    bool
	finished  bool

	slots   []*txSlot  // transactions not yet delivered, in creation order
	pending []*txSlot  // requests waiting for a final response, oldest first
	interim []*Message // 1xx responses waiting for the final response
	nextTx  int
	dirty   bool // a slot may have become ready

	pairedAny    bool  // a response has been paired with a request
	clientGap    bool  // a client gap since the last pairing: a request may be lost
	serverGap    bool  // a server gap since the last pairing: responses may be lost
	serverGapOrd int64 // Ord of the server packet after the latest gap
	serverEnded  bool
	replay       bool // the client half must replay what it logged while waiting
	// lastFields is, per direction, the number of header fields of the last
	// complete header block: the room a message whose block is cut across
	// Feeds is made with (startMessage).
	lastFields [2]uint8
}

type txSlot struct {
	tx      Transaction
	settled bool // the final response (or its absence) is decided
	reqOK   bool // the request message was delivered
	respOK  bool // the response message was delivered
}

func (s *txSlot) ready() bool {
	return s.settled && (s.tx.Request == nil || s.reqOK) && (s.tx.Response == nil || s.respOK)
}

// Defaults for Options fields left zero.
const (
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxHeaders     = 200
	DefaultMaxPending     = 1024
	// maxHeaderBytesCap bounds MaxHeaderBytes, so that offsets inside a
	// start line fit the int32 of lineSpans; no header block comes near.
	maxHeaderBytesCap = 1 << 30
	// maxInterim bounds the 1xx responses kept for one transaction (each is
	// still delivered as a Message); a server sending more is broken anyway.
	maxInterim = 16
	// slotsInline is the capacity of the first arrays of c.slots and
	// c.pending (see halves).
	slotsInline = 4
)

// NewConversation returns a parser for one connection. midStream says the
// capture missed the connection's start, so a response may answer a request
// that was never captured (not unsolicited), and a direction may start in the
// middle of a message.
func NewConversation(h Handler, opts Options, midStream bool) *Conversation {
	if opts.MaxHeaderBytes <= 0 {
		opts.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	opts.MaxHeaderBytes = min(opts.MaxHeaderBytes, maxHeaderBytesCap)
	if opts.MaxHeaders <= 0 {
		opts.MaxHeaders = DefaultMaxHeaders
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = DefaultMaxPending
	}
	return &Conversation{h: h, opts: opts, midStream: midStream}
}

// halves returns the two direction parsers, made on first use. A direction
// that has already ended starts dead, as its parser would be after end.
//
// The first arrays of c.slots and c.pending are made with them: most
// connections never have more than slotsInline transactions outstanding,
// and the two parsers and the arrays fill the 480-byte size class, one
// allocation where there were three (issue 15). A queue that outgrows its
// array moves to one of its own (append).
func (c *Conversation) halves() *[2]halfParser {
	if c.half == nil {
		b := &struct {
			h   [2]halfParser
			txs [2 * slotsInline]*txSlot
		}{h: [2]halfParser{{c: c, dir: flow.ClientToServer}, {c: c, dir: flow.ServerToClient}}}
		c.half = &b.h
		if c.slots == nil && c.pending == nil {
			c.slots = b.txs[:0:slotsInline]
			c.pending = b.txs[slotsInline:slotsInline:len(b.txs)]
		}
		for d := range c.half {
			if c.ended[d] {
				c.half[d].st = stDead
			}
		}
	}
	return c.half
}

// Feed gives the next in-order bytes of direction d; pos is the position of
// data[0]. data is not retained.
func (c *Conversation) Feed(d flow.Dir, data []byte, pos flow.Pos) {
	if c.notHTTP || c.tunnel || c.finished || len(data) == 0 || d > flow.ServerToClient {
		return
	}
	if c.ended[d] {
		return
	}
	c.halves()[d].feed(data, pos)
	c.after()
}

// Gap says n bytes of direction d are missing from the capture, starting at
// stream offset pos.Offset; pos.Frame/Time/Ord are those of the packet after
// the hole.
func (c *Conversation) Gap(d flow.Dir, n uint64, pos flow.Pos) {
	if c.notHTTP || c.tunnel || c.finished || n == 0 || d > flow.ServerToClient {
		return
	}
	if c.ended[d] {
		return
	}
	c.halves()[d].gap(n, pos)
	c.after()
}

// End says direction d ended (FIN, RST or capture end) at pos.
func (c *Conversation) End(d flow.Dir, how flow.CloseKind, pos flow.Pos) {
	if c.finished || d > flow.ServerToClient {
		return
	}
	if c.ended[d] {
		return
	}
	if c.notHTTP || c.tunnel || c.half == nil {
		// (no parser yet: no byte or gap came, there is nothing to end)
		c.ended[d] = true
	} else {
		c.half[d].end(how, pos)
	}
	if d == flow.ServerToClient {
		c.serverEnded = true
		c.settleAll()
	}
	c.after()
}

// Finish settles everything still open. Call it once, after both Ends or at
// eviction; later calls do nothing.
func (c *Conversation) Finish(pos flow.Pos) {
	if c.finished {
		return
	}
	for d := flow.ClientToServer; d <= flow.ServerToClient; d++ {
		if !c.ended[d] {
			c.End(d, flow.CloseCaptureEnd, pos)
		}
	}
	c.settleAll()
	c.after()
	// Every message has been delivered by the Ends above; deliver whatever
	// is left in order, ready or not, so nothing is lost.
	for _, s := range c.slots {
		s.tx.Index = c.nextTx
		c.nextTx++
		c.h.Transaction(&s.tx)
	}
	c.slots = nil
	c.finished = true
	// Every entry point returns early from now on: let the parser state go
	// (the connection may linger for its last ACKs with thousands of others).
	c.pending, c.interim = nil, nil
	c.half = nil
}

// IsHTTP reports whether a request line or status line was parsed.
func (c *Conversation) IsHTTP() bool { return c.isHTTP }

// NotHTTP reports whether the conversation gave up: a direction's first bytes
// could not start an HTTP/1.x message.
func (c *Conversation) NotHTTP() bool { return c.notHTTP }

// Tunnel reports whether the conversation switched to tunnel mode (CONNECT
// 2xx, 101): nothing after that is parsed.
func (c *Conversation) Tunnel() bool { return c.tunnel }

// Err returns ErrNotHTTP when the conversation is not HTTP/1.x, else nil.
func (c *Conversation) Err() error {
	if c.notHTTP {
		return ErrNotHTTP
	}
	return nil
}

func (c *Conversation) after() {
	for c.replay && !c.tunnel && !c.notHTTP && c.half != nil {
		c.replay = false
		c.half[flow.ClientToServer].replayWait()
	}
	c.flush()
}

func (c *Conversation) setNotHTTP() {
	c.notHTTP = true
	if c.half == nil {
		return
	}
	for d := range c.half {
		h := &c.half[d]
		h.st = stDead
		h.buf = nil
		if h.rare != nil {
			h.rare.wbuf, h.rare.wev = nil, nil
		}
	}
}

// registerRequest queues a request as soon as its start line is accepted, so
// a response that arrives while the request is still being sent (an early
// error) can be paired with it. s is the request's slot, made with it
// (newRequest).
func (c *Conversation) registerRequest(s *txSlot) {
	c.slots = append(c.slots, s)
	if c.serverEnded {
		c.settle(s) // no response can come any more
		return
	}
	if len(c.pending) >= c.opts.MaxPending {
		old := c.pending[0]
		c.pending = popPending(c.pending, 1)
		c.settle(old)
	}
	c.pending = append(c.pending, s)
}

// pairResponse pairs a response whose start line (and header block, unless it
// ended early) is known. It returns the transaction slot, nil for a 1xx.
//
// Pairing is FIFO over requests that started before the response in capture
// order (Pos.Ord). After a server gap, responses may have been lost in the
// hole: the response answers the newest request that started before it
// (sequential keep-alive) and the older ones are settled as lost.
func (c *Conversation) pairResponse(r *Message) *txSlot {
	if r.Status >= 100 && r.Status < 200 && r.Status != 101 {
		if len(c.interim) < maxInterim {
			c.interim = append(c.interim, r)
		}
		return nil
	}
	k := 0
	for k < len(c.pending) && c.pending[k].tx.Request.Start.Ord <= r.Start.Ord {
		k++
	}
	var s *txSlot
	if k == 0 {
		s = &txSlot{}
		c.slots = append(c.slots, s)
		if c.clientGap || c.serverGap || c.midStream && !c.pairedAny {
			s.tx.Gap = true
		} else {
			s.tx.Unsolicited = true
		}
	} else {
		pick := 0
		if c.serverGap {
			pick = k - 1
			for _, lost := range c.pending[:pick] {
				lost.tx.Gap = true
				c.settle(lost)
			}
		}
		s = c.pending[pick]
		c.pending = popPending(c.pending, pick+1)
		// Paired across a hole: sure only if the request was sent after the
		// hole had passed (sequential keep-alive), and never after a client
		// gap (the real request may be the one that was lost).
		if c.clientGap || c.serverGap && s.tx.Request.Start.Ord < c.serverGapOrd {
			s.tx.Gap = true
		}
		c.pairedAny = true
	}
	c.clientGap, c.serverGap = false, false
	s.tx.Response = r
	if len(c.interim) > 0 {
		s.tx.Interim = c.interim
		c.interim = nil
		r.addAnomaly(AnomInterimResponse)
	}
	c.settle(s)
	return s
}

// popPending drops the first n requests of p. When none is left the
// slice restarts at the front of its array: re-slicing from the front alone
// would use up its capacity and reallocate it every few transactions of a
// keep-alive connection (issue 15).
func popPending(p []*txSlot, n int) []*txSlot {
	clear(p[:n]) // the array does not pin settled slots
	if n < len(p) {
		return p[n:]
	}
	return p[:0]
}

func (c *Conversation) settle(s *txSlot) {
	s.settled = true
	c.dirty = true
	if c.half == nil {
		return
	}
	if w := c.half[flow.ClientToServer].waitFor(); w != nil && s.tx.Request == w {
		// The client half held back what followed a CONNECT/Upgrade request;
		// unless the response opened a tunnel, parse it now.
		c.replay = true
	}
}

// settleAll settles every pending request unanswered (the server is gone).
func (c *Conversation) settleAll() {
	if len(c.pending) > 0 && len(c.interim) > 0 {
		c.pending[0].tx.Interim = c.interim
	}
	c.interim = nil
	for _, s := range c.pending {
		// A server gap since the last pairing may hold this request's
		// response (miss_end_data.pcap: the whole response is in the hole
		// before the server's FIN): unanswered is not certain.
		if c.serverGap && s.tx.Request.Start.Ord < c.serverGapOrd {
			s.tx.Gap = true
		}
		c.settle(s)
	}
	c.pending = nil
}

func (c *Conversation) noteGap(d flow.Dir, pos flow.Pos) {
	if d == flow.ClientToServer {
		c.clientGap = true
	} else {
		c.serverGap = true
		c.serverGapOrd = pos.Ord
	}
}

// deliver hands a final message to the handler and marks its transaction.
func (c *Conversation) deliver(m *Message, s *txSlot) {
	c.h.Message(m)
	if s != nil {
		if m.Dir == flow.ClientToServer {
			s.reqOK = true
		} else {
			s.respOK = true
		}
		c.dirty = true
	}
}

// flush delivers the ready transactions at the head of the queue. Slots are
// created in request order (an unsolicited response's when it is paired),
// so a transaction never overtakes an older one.
func (c *Conversation) flush() {
	if !c.dirty {
		return
	}
	c.dirty = false
	k := 0
	for k < len(c.slots) && c.slots[k].ready() {
		s := c.slots[k]
		s.tx.Index = c.nextTx
		c.nextTx++
		c.h.Transaction(&s.tx)
		k++
	}
	if k > 0 {
		n := copy(c.slots, c.slots[k:])
		clear(c.slots[n:])
		c.slots = c.slots[:n]
	}
}

// startTunnel switches the conversation to tunnel mode after response m
// (CONNECT 2xx or 101): nothing more is parsed in either direction.
func (c *Conversation) startTunnel(h *halfParser) {
	c.tunnel = true
	m, s := h.m, h.mSlot
	h.m, h.mSlot = nil, nil
	h.st = stDead
	c.deliver(m, s)
	cl := &c.half[flow.ClientToServer]
	cl.releaseHeld()
	if cl.m != nil {
		// A request still in progress when the tunnel opened: its framing
		// can no longer be followed.
		cm := cl.m
		cm.End = EndMalformed
		if cl.st == stHeaders {
			cm.InHeaders = true
			cm.Headers = nil // (its block was not parsed: no room taken)
		}
		cl.m = nil
		c.deliver(cm, cl.mSlot)
		cl.mSlot = nil
	}
	cl.st = stDead
	cl.buf = nil
	if cl.rare != nil {
		cl.rare.wbuf, cl.rare.wev, cl.rare.waitFor = nil, nil, nil
	}
	c.replay = false
}

// decideFraming applies RFC 9112 §6.3 to a message whose header block is
// complete; req is the paired request for a response (nil if none). It
// returns false for a request whose framing cannot be known.
func decideFraming(m, req *Message) bool {
	te, chunked := transferEncoding(m.Headers)
	cl := contentLength(m.Headers)
	if te && cl.present {
		m.addAnomaly(AnomCLAndTE)
	}
	if te && !chunked {
		m.addAnomaly(AnomInvalidTE)
	}
	switch {
	case cl.invalid:
		m.addAnomaly(AnomInvalidCL)
	case cl.present:
		m.ContentLength = cl.first
		if cl.differ {
			m.addAnomaly(AnomDuplicateCL)
		}
		if cl.repeated {
			m.addAnomaly(AnomRepeatedCL)
		}
	}
	if cl.leadingZeros {
		m.addAnomaly(AnomCLLeadingZeros)
	}
	if m.Dir == flow.ClientToServer {
		switch {
		case te && chunked:
			m.Framing = FramingChunked
		case te, cl.invalid:
			m.Framing = FramingNone
			return false
		case cl.present:
			// Several different values: a server that accepts it takes one;
			// keep the first and the anomaly.
			m.Framing = FramingContentLength
		default:
			m.Framing = FramingNone
		}
		return true
	}
	method := ""
	if req != nil {
		method = req.Method
	}
	switch {
	case m.Status == 101:
		m.Framing = FramingTunnel
	case m.Status >= 100 && m.Status < 200:
		m.Framing = FramingNone
	case method == "HEAD":
		m.Framing = FramingNone
	case method == "CONNECT" && m.Status >= 200 && m.Status < 300:
		m.Framing = FramingTunnel
	case m.Status == 204 || m.Status == 304:
		m.Framing = FramingNone
	case te && chunked:
		m.Framing = FramingChunked
	case te, cl.invalid, cl.differ:
		m.Framing = FramingClose
	case cl.present:
		m.Framing = FramingContentLength
	default:
		m.Framing = FramingClose
	}
	return true
}
