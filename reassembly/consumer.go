package reassembly

import "github.com/connlint/connlint/reassembly/flow"

// Consumer receives the two reassembled byte streams of one connection: an
// application-protocol parser (an *http1.Conversation today; a TLS or
// HTTP/2 one later). Options.Consumers makes one per connection. The
// Assembler calls it synchronously, from inside Packet, Flush or Close,
// interleaved with the Handler's events in capture order:
//
//  1. It is created right after Handler.ConnStart, once the roles are known
//     (ClientToServer carries what the client sent).
//  2. Feed and Gap are called 0 or more times per direction, the two
//     directions interleaved in the order the capture proves the bytes were
//     sent. Within a direction the calls tile the stream without overlap:
//     the first one starts at offset 0 (the first byte after the SYN, or the
//     first byte captured when the handshake was missed) and each next one
//     starts at pos.Offset = the previous one's offset + its length.
//  3. End is called exactly once per direction, after that direction's last
//     Feed or Gap: at its FIN once every byte before the FIN is in
//     (CloseFIN), at a RST from either side (CloseRST), or when the capture
//     ends or the connection is evicted (CloseCaptureEnd).
//  4. Finish is called exactly once, after both Ends. Nothing follows it.
//
// The data passed to Feed belongs to the Assembler (it points into the
// captured packet or the out-of-order buffer) and is valid only until Feed
// returns: a consumer copies what it keeps. A hole's Handler.Gap event comes
// before the Consumer's Gap for it, and a packet's Handler.Segment event
// before the deliveries that packet causes.
//
// A consumer may defer choosing the protocol until it has seen the first
// bytes of a direction (and then delegate to the parser it chose).
type Consumer interface {
	// Feed gives the next in-order bytes of direction d. pos is the packet
	// that made them deliverable (the one that carried them, or the one that
	// filled the hole before them), with Offset = the stream offset of data[0].
	Feed(d flow.Dir, data []byte, pos flow.Pos)
	// Gap says n bytes of direction d, from stream offset pos.Offset on, are
	// missing from the capture (the peer acknowledged them, or later data or
	// the FIN proves they were sent). pos is the packet after the hole, or
	// the one that proved it (an ACK beyond it, the RST that ended the stream).
	Gap(d flow.Dir, n uint64, pos flow.Pos)
	// End says direction d ended; pos is the FIN or RST packet, or the
	// connection's last packet, with Offset = the stream length.
	End(d flow.Dir, how flow.CloseKind, pos flow.Pos)
	// Finish says the connection is settled (both directions ended). pos is
	// the packet that settled it, or the connection's last packet.
	Finish(pos flow.Pos)
}

// Recognizer is implemented by a Consumer that tells what it recognised. The
// Assembler copies its answers into Conn.HTTP, Conn.NotHTTP and Conn.Tunnel
// after each packet that carried payload and when the connection is
// settled and ends; a Consumer without it leaves those fields false.
type Recognizer interface {
	IsHTTP() bool  // an HTTP/1.x request or status line was parsed
	NotHTTP() bool // the bytes are not HTTP/1.x: the consumer ignores the rest
	Tunnel() bool  // the streams switched to opaque tunnel bytes (CONNECT 2xx, 101)
}

// ConsumerFactory chooses the stream consumer of each connection, and
// helps decide who is the client when the capture missed the handshake,
// which only the application protocol can tell. Set it in Options.Consumers;
// its methods are called synchronously from the Assembler's methods.
type ConsumerFactory interface {
	// NewConsumer returns the consumer of connection c, called once per
	// connection right after Handler.ConnStart; nil means no consumer (the
	// streams are still rebuilt, for the Handler's events and counters).
	NewConsumer(c *Conn) Consumer
	// SenderDir looks at the first payload a side sent on a connection seen
	// without its handshake, and reports whether it shows that side is the
	// client (ClientToServer: a request line) or the server (ServerToClient:
	// a status line); ok is false when it cannot tell. b is the captured
	// payload of one packet (possibly a prefix of a line), valid only during
	// the call.
	SenderDir(b []byte) (d flow.Dir, ok bool)
}
