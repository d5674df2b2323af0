// Package reassembly decodes captured packets (link layer → IP → TCP), keeps
// the connection table and rebuilds each direction's byte stream:
// retransmissions, overlaps, out-of-order segments and capture gaps. It
// knows TCP only; what the streams carry is parsed by a Consumer the caller
// chooses per connection (an HTTP/1 parser, package http1, today).
//
// Data flow, all synchronous, in capture order:
//
//	capture ──Packet──▶ Assembler ──TCP events──▶ Handler (package analyze's Engine)
//	                        │
//	                        └──in-order bytes, gaps, ends──▶ Consumer (one per connection,
//	                                                         from Options.Consumers)
//
// Per connection the Handler sees ConnStart once; then one Segment per
// packet, and Gap and Inconsistency any number of times; then ConnEnd once.
// The Consumer is created right after ConnStart and sees Feed and Gap per
// direction, End once per direction and Finish once, all before ConnEnd
// (see Consumer for the exact contract). A packet's Segment event comes
// before the deliveries it causes, and a hole's Gap event before the
// Consumer's Gap for it.
//
// Ownership: the *Conn passed to the Handler (and to
// ConsumerFactory.NewConsumer) belongs to the Assembler and is valid until
// ConnEnd returns; the *Segment is reused for the next packet; bytes passed
// to Consumer.Feed are valid only during the call. Copy what you keep.
//
// Positions (flow.Pos), directions (flow.Dir) and close kinds
// (flow.CloseKind) live in package flow, which both this package and the
// consumers import, so that neither imports the other.
//
// The Assembler's memory is bounded (Options); what happens at each bound,
// and the heuristics it uses, are listed on Assembler.
package reassembly
