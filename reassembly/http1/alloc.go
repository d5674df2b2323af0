package http1

import "github.com/connlint/connlint/reassembly/flow"

// Allocation of messages (issue 15). The handler may keep every *Message
// and *Transaction it is given, so nothing is recycled; instead what a
// message always needs is allocated with it, in one object: a request with
// its transaction slot, and, when the header block lies whole in one Feed
// (fastMessage counted its lines), room for its header fields. The room
// comes in a few sizes picked so that message and fields fill a size class
// (Message is 504 bytes, a txSlot 64, a Header 32): one object instead of
// three for a request, two for a response, for about the same bytes.

// newMessage returns a message of direction d with room for n header
// fields in m.Headers (len 0; nil when none was made with it: n is 0 or
// large), and for a request its transaction slot (nil for a response).
// parseHeaderBlock takes the room it is given, or makes its own.
func newMessage(d flow.Dir, n int) (*Message, *txSlot) {
	if d == flow.ClientToServer {
		return newRequest(n)
	}
	return newResponse(n), nil
}

// newRequest returns a request message, its slot (tx.Request set) and
// room for n fields when n is small.
func newRequest(n int) (*Message, *txSlot) {
	var (
		m  *Message
		s  *txSlot
		hs []Header
	)
	switch {
	case n <= 0 || n > 14:
		b := &struct {
			s txSlot
			m Message
		}{} // 568 bytes, the 576 class
		m, s = &b.m, &b.s
	case n <= 2:
		b := &struct {
			s txSlot
			m Message
			h [2]Header
		}{} // 632: 640
		m, s, hs = &b.m, &b.s, b.h[:0]
	case n <= 4:
		b := &struct {
			s txSlot
			m Message
			h [4]Header
		}{} // 696: 704
		m, s, hs = &b.m, &b.s, b.h[:0]
	case n <= 6:
		b := &struct {
			s txSlot
			m Message
			h [6]Header
		}{} // 760: 768
		m, s, hs = &b.m, &b.s, b.h[:0]
	case n <= 10:
		b := &struct {
			s txSlot
			m Message
			h [10]Header
		}{} // 888: 896
		m, s, hs = &b.m, &b.s, b.h[:0]
	default:
		b := &struct {
			s txSlot
			m Message
			h [14]Header
		}{} // 1016: 1024
		m, s, hs = &b.m, &b.s, b.h[:0]
	}
	m.Headers = hs
	s.tx.Request = m
	return m, s
}

// newResponse returns a response message with room for n fields when n is
// small.
func newResponse(n int) *Message {
	switch {
	case n <= 0 || n > 16:
		return &Message{}
	case n <= 2:
		b := &struct {
			m Message
			h [2]Header
		}{} // 568: 576
		b.m.Headers = b.h[:0]
		return &b.m
	case n <= 4:
		b := &struct {
			m Message
			h [4]Header
		}{} // 632: 640
		b.m.Headers = b.h[:0]
		return &b.m
	case n <= 6:
		b := &struct {
			m Message
			h [6]Header
		}{} // 696: 704
		b.m.Headers = b.h[:0]
		return &b.m
	case n <= 8:
		b := &struct {
			m Message
			h [8]Header
		}{} // 760: 768
		b.m.Headers = b.h[:0]
		return &b.m
	case n <= 12:
		b := &struct {
			m Message
			h [12]Header
		}{} // 888: 896
		b.m.Headers = b.h[:0]
		return &b.m
	default:
		b := &struct {
			m Message
			h [16]Header
		}{} // 1016: 1024
		b.m.Headers = b.h[:0]
		return &b.m
	}
}
