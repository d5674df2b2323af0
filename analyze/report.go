package analyze

import (
	"net/netip"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// TxReport is one transaction as the report shows it.
type TxReport struct {
	Index        int // 1-based
	Method       string
	Target       string
	Host         string
	Proto        string
	Status       int
	Reason       string
	RequestBody  int64 // decoded body bytes
	ResponseBody int64
	HasRequest   bool
	HasResponse  bool
	// ResponseComplete: the final response ended as its framing says (not cut
	// by FIN, RST, a gap or the end of the capture).
	ResponseComplete bool
	Unsolicited      bool
	Gap              bool
	// Positions: request first/last byte, response first/last byte.
	RequestStart, RequestEnd, ResponseStart, ResponseEnd flow.Pos
	// TTFB is request start → first response byte; Total is request start → last response byte.
	TTFB, Total time.Duration
	// Timing is where the time went (filled by the timing breakdown).
	Timing *Breakdown
}

// Breakdown splits a transaction's time into phases, and names the part
// of it that timing findings attribute to a cause.
type Breakdown struct {
	Connect    time.Duration // SYN → handshake ACK, if this transaction opened the connection
	Send       time.Duration // first → last request byte
	Wait       time.Duration // last request byte → first response byte (server think time + path)
	Receive    time.Duration // first → last response byte
	Attributed map[string]time.Duration
}

// ConnReport is everything the renderers show about one connection. Its
// fields are plain values copied at connection end, so renderers read only
// analyze's output model and never reassembly's types (DESIGN: data flows
// one way, renderers see analyze's output).
type ConnReport struct {
	ID             uint64
	Client, Server netip.AddrPort
	// First and Last are the connection's first and last packet.
	First, Last Point
	// EndedBy is how it ended: "open", "fin", "rst", "idle", "evicted" or
	// "refused" (reassembly.EndReason's names, part of the JSON schema).
	EndedBy      string
	MidStream    bool // the capture started after the handshake
	RolesGuessed bool // client and server were inferred, not seen in a SYN
	// OneSided: the capture holds no packet at all from one side (asymmetric
	// routing, a span port seeing one way); Missing names the absent
	// direction ("client_to_server" or "server_to_client"), "" otherwise.
	// Rules that need the missing side say nothing about the connection.
	OneSided bool
	Missing  string
	HTTP     bool
	NotHTTP  bool // bytes were seen and they were not HTTP/1.x
	Tunnel   bool // CONNECT or 101: the rest is not HTTP/1.x
	// TLS summarises a connection that started with a TLS ClientHello (nil
	// for any other); its application data is what HTTP was parsed from.
	TLS *TLSReport
	// Handshake is SYN → handshake ACK when HandshakeSeen (both captured).
	Handshake     time.Duration
	HandshakeSeen bool
	// BytesC2S and BytesS2C count stream bytes per direction; Segments and
	// Retransmits count both directions.
	BytesC2S, BytesS2C    uint64
	Segments, Retransmits int
	// Gaps lists the holes in the capture (bounded; GapsDropped counts the rest).
	Gaps        []GapReport
	GapsDropped int

	Transactions []*TxReport
	// TransactionsDropped counts transactions beyond MaxTransactionsPerConn.
	TransactionsDropped int
	TransactionCount    int
	Findings            []*Finding

	// Conn is the engine's copy of the connection taken at its end, for the
	// cross-connection rules (ConnSummary.Conn points here). Renderers do
	// not read it.
	Conn reassembly.Conn
}

// Point is a place in the capture: a frame of one input and its time.
type Point struct {
	Time  time.Time
	Input int // index into the run's inputs
	Frame int64
}

// GapReport is one hole in a connection's capture.
type GapReport struct {
	Direction string // "client_to_server" or "server_to_client"
	Offset    uint64 // stream offset of the first missing byte
	Bytes     uint64
	After     Point // the first frame after the hole
}

// Duration is first → last packet; never negative (in a damaged file the
// last packet can carry an earlier time than the first).
func (r *ConnReport) Duration() time.Duration { return max(0, r.Last.Time.Sub(r.First.Time)) }

// describe copies connection c, at its end, into the report.
func (r *ConnReport) describe(c *reassembly.Conn) {
	r.Conn = *c
	r.Conn.Gaps = append([]reassembly.Gap(nil), c.Gaps...)
	point := func(p flow.Pos) Point { return Point{Time: p.Time, Input: p.Input, Frame: p.Frame} }
	r.ID, r.Client, r.Server = c.ID, c.Client, c.Server
	r.First, r.Last = point(c.First), point(c.Last)
	r.EndedBy = c.End.String()
	r.MidStream, r.RolesGuessed, r.HTTP, r.NotHTTP, r.Tunnel = c.MidStream, c.RolesGuessed, c.HTTP, c.NotHTTP, c.Tunnel
	if c.OneSided {
		r.OneSided, r.Missing = true, "server_to_client"
		if c.Missing == flow.ClientToServer {
			r.Missing = "client_to_server"
		}
	}
	if c.SYN.Frame != 0 && c.HandshakeACK.Frame != 0 {
		r.Handshake, r.HandshakeSeen = c.HandshakeACK.Time.Sub(c.SYN.Time), true
	}
	r.BytesC2S, r.BytesS2C = c.Halves[0].Bytes, c.Halves[1].Bytes
	r.Segments = c.Halves[0].Segments + c.Halves[1].Segments
	r.Retransmits = c.Halves[0].Retransmits + c.Halves[1].Retransmits
	r.Gaps = make([]GapReport, 0, len(c.Gaps))
	for _, g := range c.Gaps {
		dir := "server_to_client"
		if g.Dir == flow.ClientToServer {
			dir = "client_to_server"
		}
		r.Gaps = append(r.Gaps, GapReport{Direction: dir, Offset: g.Offset, Bytes: g.Bytes, After: point(g.After)})
	}
	r.GapsDropped = c.GapsDropped
}

// ConnSummary is the compact per-connection record the cross-connection
// aggregator receives: no packets, a bounded list of transactions.
type ConnSummary struct {
	Conn         *reassembly.Conn
	Transactions []*TxReport // the same (bounded) list as the report's
	// RequestedClose / ServerClosed: Connection: close sent by client / by server.
	ClientAskedClose bool
	ServerAskedClose bool
	// Persistent is true when the server offered persistence (HTTP/1.1 without
	// close, or HTTP/1.0 with keep-alive) on its last response.
	ServerOfferedPersistence bool
	// FirstCloser says which side closed first (who holds TIME_WAIT): -1 none.
	FirstCloser int
	// Close is how the connection closed (first FIN/RST per side).
	Close CloseFacts
	// TransactionCount counts every transaction (Transactions is bounded).
	TransactionCount int
	// KeepAliveTimeout is the timeout= of the server's last Keep-Alive
	// header, 0 when none was announced.
	KeepAliveTimeout time.Duration
	// TLS is the connection's TLS record flow, nil unless it is TLS. The
	// cross-connection rules judge a TLS connection that was not decrypted
	// from it (TLSFlow.RecordsJudged) in place of its transactions.
	TLS *TLSFlow
	// Data holds compact per-connection facts checkers stored for their own
	// aggregates with Ctx.SetSummaryData, by rule ID or pass name (nil when
	// none); Reporter.SummaryData reads them.
	Data map[string]any
}

// Summary is the per-run tally.
type Summary struct {
	Start, End time.Time

	Packets     int64
	NonTCP      int64
	Undecodable int64

	Connections     int64
	HTTPConnections int64
	NonHTTP         int64
	MidStream       int64
	Refused         int64
	Reset           int64
	OpenAtEnd       int64
	Reused          int64 // connections that carried more than one transaction
	Transactions    int64
	Gaps            int64
	GapBytes        uint64
	Inconsistencies int64

	EvictedFull       int64
	EvictedIdle       int64
	OutOfOrderDropped int64
	// CompareLimited counts stream directions whose retransmission-compare
	// window stopped growing at the Assembler's total (reassembly
	// Options.CompareTotal): retransmissions older than it held were not
	// compared for inconsistent overlaps.
	CompareLimited int64

	// TransactionsPerConn: over HTTP connections.
	TxPerConnMin, TxPerConnMedian, TxPerConnMax int

	// Capture statistics (live).
	KernelReceived, KernelDropped, IfaceDropped int64
	Filtered                                    int64

	FindingsBySeverity map[string]int
	FindingsByRule     map[string]int
	// Suppressed counts findings dropped beyond the per-rule, per-connection cap.
	Suppressed int64
	// Pairs counts connections per client IP → server ip:port (bounded).
	Pairs []PairCount
	// ProxyChains lists transactions seen on both legs of a proxy (bounded,
	// filled by proxy.LegsPass, analyze/rules/proxy/legs.go);
	// ProxyChainsDropped counts those not listed.
	ProxyChains        []ProxyChain
	ProxyChainsDropped int
	// WindowDropped counts what the cross-connection windows (the lifecycle
	// rules' per-pair tables, the proxy-leg store) let go early because
	// they were full (Config.CrossMaxEntries, Config.CrossMaxBytes): keys
	// or transactions that were judged on what had been seen so far.
	WindowDropped int64
}

// PairCount is a client→server pair and how many connections it opened.
type PairCount struct {
	Client      string `json:"client"`
	Server      string `json:"server"`
	Connections int    `json:"connections"`
}

// ProxyChain is one transaction seen on both legs of a proxy, with the time
// each hop added (as seen where the capture was taken).
type ProxyChain struct {
	Client, Proxy          netip.AddrPort // leg 1: client → proxy (Proxy is its server address)
	ProxyOut, Origin       netip.AddrPort // leg 2: proxy → origin (ProxyOut is its client address)
	ClientConn, OriginConn uint64
	ClientTx, OriginTx     int    // 1-based
	Method, Target         string // as the client sent it
	Status                 int    // 0 when no response reached the client
	Start                  time.Time
	Frames                 []Frame // client request, proxy request, origin response, client response
	// ProxyIn: the client's request arrived → the proxy's request left.
	// Origin: the proxy's last request byte → the origin's first response byte.
	// ProxyOut: the origin's first response byte → the proxy's first response
	// byte to the client. Total: the client's request → last response byte.
	ProxyInDelay, OriginDelay, ProxyOutDelay, Total time.Duration
	// Answered is false when the client never got the response.
	Answered bool
}
