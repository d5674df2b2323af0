// Package http1 is an incremental HTTP/1.x parser over the two byte streams
// of one TCP connection. It knows nothing about packets: the caller feeds it
// in-order stream bytes tagged with the position (flow.Pos: frame, time,
// stream offset) they came from, tells it about holes (gaps) and ends (FIN,
// RST, capture end), and receives complete messages and request/response
// transactions. It imports the standard library and package flow only.
//
// A Conversation is one connection's parser; *Conversation is a
// reassembly.Consumer (and a reassembly.Recognizer), so the Assembler can
// drive it directly. SenderDir is the matching role sniffer for captures
// that missed the handshake. Package analyze wires the two into the
// Assembler and attaches the connection to the Handler callbacks.
//
// Call order per Conversation:
//
//  1. NewConversation.
//  2. Feed and Gap 0 or more times per direction, the directions in any
//     interleaving, each direction's calls in stream order.
//  3. End once per direction (later calls for it do nothing).
//  4. Finish once: it ends what is still open and settles every
//     transaction; later calls of any method do nothing.
//
// Handler callbacks happen synchronously inside those calls:
// Handler.Message once per message, when its anomalies are final;
// Handler.Transaction once per transaction, in Index order, after the
// messages it refers to were delivered (see Conversation). The *Message and
// *Transaction passed are not reused by the parser: the handler may keep
// them (analyze's rules do). The bytes passed to Feed belong to the caller
// and are not retained after Feed returns: what the parser keeps (an
// unfinished header block) is copied.
//
// Cost. Because the handler may keep what it is given, nothing is
// recycled; each message is two allocations of its own: the Message, made
// together with what it always needs (a request's transaction, and the room
// for its header fields when its head arrives whole in one Feed, the common
// case), and one string holding its start line and header block (every
// string field is a substring of it). A head cut across Feeds gets its
// []Header apart. The two directions' parsers are one allocation, made with
// the first transaction queues. The parser's state is reused
// between messages: a message head that arrives whole in one Feed is
// parsed from the caller's bytes, one that is cut is gathered in a buffer
// the direction keeps, and a connection that never carries data costs the
// Conversation alone (issue 15).
package http1
