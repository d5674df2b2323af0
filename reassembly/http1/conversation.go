package http1

// Conversation parses both directions of one connection and pairs requests
// with responses. Create one per TCP connection with NewConversation.
//
// API contract (implementation in parser.go):
//
//	// midStream: the capture missed the connection's start, so a response may
//	// answer a request that was never captured (not unsolicited).
//	func NewConversation(h Handler, opts Options, midStream bool) *Conversation
//	// Feed gives the next in-order bytes of direction d; pos is the position of data[0]
//	// (Offset increases by len(data) per call unless Gap was called).
//	func (c *Conversation) Feed(d Dir, data []byte, pos Pos)
//	// Gap says n bytes of direction d are missing from the capture, starting at
//	// stream offset pos.Offset; pos.Frame/Time are those of the packet after the hole.
//	func (c *Conversation) Gap(d Dir, n uint64, pos Pos)
//	// End says direction d ended (FIN/RST/capture end) at pos.
//	func (c *Conversation) End(d Dir, how CloseKind, pos Pos)
//	// Finish settles everything still open (called once, after both Ends or at eviction).
//	func (c *Conversation) Finish(pos Pos)
//	// IsHTTP reports whether the conversation was recognised as HTTP/1.x (a
//	// request line or status line was parsed); NotHTTP whether it gave up.
//	func (c *Conversation) IsHTTP() bool
//	func (c *Conversation) NotHTTP() bool
//	// Tunnel reports whether the conversation switched to tunnel mode (CONNECT 2xx / 101).
//	func (c *Conversation) Tunnel() bool
//	// Err returns ErrNotHTTP once NotHTTP is true (added with the implementation).
//	func (c *Conversation) Err() error
//
//	// Sniffing helpers used by reassembly to pick client and server when the
//	// capture has no SYN: does b start like a request line / status line?
//	// (b may be a prefix of a line; they answer from what is there.)
//	func LooksLikeRequest(b []byte) bool
//	func LooksLikeResponse(b []byte) bool
