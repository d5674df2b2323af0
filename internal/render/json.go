package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/connlint/connlint/analyze"
)

// JSON schema version 1 (docs/json.md). Field names are part of the contract.

type JSONConnRef struct {
	ID     uint64 `json:"id"`
	Client string `json:"client"`
	Server string `json:"server"`
}

type JSONFinding struct {
	Rule        string         `json:"rule"`
	Severity    string         `json:"severity"`
	Connection  *JSONConnRef   `json:"connection,omitempty"`
	Transaction int            `json:"transaction,omitempty"`
	Time        string         `json:"time"`
	Input       string         `json:"input,omitempty"`
	Frames      []int64        `json:"frames"`
	FrameInputs []int          `json:"frame_inputs,omitempty"`
	DurationMS  *float64       `json:"duration_ms,omitempty"`
	Message     string         `json:"message"`
	Hint        string         `json:"hint"`
	Related     []JSONConnRef  `json:"related,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

type JSONGap struct {
	Direction  string `json:"direction"`
	Offset     uint64 `json:"offset"`
	Bytes      uint64 `json:"bytes"`
	FrameAfter int64  `json:"frame_after"`
	AfterInput *int   `json:"frame_after_input,omitempty"`
}

type JSONTiming struct {
	ConnectMS    float64            `json:"connect_ms"`
	SendMS       float64            `json:"send_ms"`
	WaitMS       float64            `json:"wait_ms"`
	ReceiveMS    float64            `json:"receive_ms"`
	AttributedMS map[string]float64 `json:"attributed_ms,omitempty"`
}

type JSONTx struct {
	Index         int        `json:"index"`
	Method        string     `json:"method,omitempty"`
	Target        string     `json:"target,omitempty"`
	Host          string     `json:"host,omitempty"`
	Proto         string     `json:"proto,omitempty"`
	Status        int        `json:"status,omitempty"`
	RequestBytes  int64      `json:"request_body_bytes"`
	ResponseBytes int64      `json:"response_body_bytes"`
	RequestFrame  int64      `json:"request_frame,omitempty"`
	ResponseFrame int64      `json:"response_frame,omitempty"`
	RequestInput  *int       `json:"request_frame_input,omitempty"`
	ResponseInput *int       `json:"response_frame_input,omitempty"`
	Start         string     `json:"start,omitempty"`
	TTFBMS        *float64   `json:"ttfb_ms,omitempty"`
	TotalMS       *float64   `json:"total_ms,omitempty"`
	Timing        JSONTiming `json:"timing"`
	NoResponse    bool       `json:"no_response,omitempty"`
	Unsolicited   bool       `json:"unsolicited,omitempty"`
	Gap           bool       `json:"gap,omitempty"`
}

// JSONTLS is a TLS connection's summary (docs/json.md). It never carries
// key material.
type JSONTLS struct {
	Version   string `json:"version"`
	SNI       string `json:"sni"`
	ALPN      string `json:"alpn"`
	Cipher    string `json:"cipher"`
	Resumed   bool   `json:"resumed"`
	Decrypted bool   `json:"decrypted"`
	HTTP2     bool   `json:"http2,omitempty"`
	Note      string `json:"note,omitempty"`
}

type JSONConn struct {
	ID            uint64    `json:"id"`
	Input         string    `json:"input,omitempty"`
	Client        string    `json:"client"`
	Server        string    `json:"server"`
	Start         string    `json:"start"`
	End           string    `json:"end"`
	DurationMS    float64   `json:"duration_ms"`
	EndedBy       string    `json:"ended_by"`
	FirstFrame    int64     `json:"first_frame"`
	LastFrame     int64     `json:"last_frame"`
	FirstInput    *int      `json:"first_frame_input,omitempty"`
	LastInput     *int      `json:"last_frame_input,omitempty"`
	MidStream     bool      `json:"mid_stream"`
	RolesGuessed  bool      `json:"roles_guessed"`
	Missing       string    `json:"missing_direction,omitempty"`
	HTTP          bool      `json:"http"`
	Tunnel        bool      `json:"tunnel,omitempty"`
	TLS           *JSONTLS  `json:"tls,omitempty"`
	HandshakeMS   *float64  `json:"handshake_ms,omitempty"`
	BytesC2S      uint64    `json:"bytes_client_to_server"`
	BytesS2C      uint64    `json:"bytes_server_to_client"`
	Segments      int       `json:"segments"`
	Retransmits   int       `json:"retransmissions"`
	Gaps          []JSONGap `json:"gaps"`
	GapsDropped   int       `json:"gaps_not_listed,omitempty"`
	Transactions  []JSONTx  `json:"transactions"`
	TxCount       int       `json:"transaction_count"`
	TxNotListed   int       `json:"transactions_not_listed,omitempty"`
	FindingsCount int       `json:"findings"`
}

// msf converts a duration to milliseconds for JSON, rounded to 0.1 µs.
func msf(d time.Duration) float64 {
	return float64(d.Round(100*time.Nanosecond)) / float64(time.Millisecond)
}

// newLineEncoder encodes one value per line without HTML escaping.
func newLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// marshal encodes like the NDJSON encoder: no HTML escaping of <, >, &.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func toJSONFinding(f *analyze.Finding, inputs []string) JSONFinding {
	j := JSONFinding{
		Rule: f.Rule, Severity: f.Severity.String(), Transaction: f.Transaction,
		Time: ts(f.Time), Message: f.Message, Hint: f.Hint, Details: f.Attrs, Frames: []int64{},
	}
	if f.Conn.ID != 0 {
		j.Connection = &JSONConnRef{ID: f.Conn.ID, Client: addrString(f.Conn.Client), Server: addrString(f.Conn.Server)}
	}
	for _, r := range f.Related {
		j.Related = append(j.Related, JSONConnRef{ID: r.ID, Client: addrString(r.Client), Server: addrString(r.Server)})
	}
	for _, fr := range f.Frames {
		j.Frames = append(j.Frames, fr.Frame)
		if len(inputs) > 1 {
			j.FrameInputs = append(j.FrameInputs, fr.Input)
		}
	}
	if len(f.Frames) > 0 && len(inputs) > 1 && f.Frames[0].Input < len(inputs) {
		j.Input = inputs[f.Frames[0].Input]
	}
	if f.Duration > 0 {
		d := msf(f.Duration)
		j.DurationMS = &d
	}
	return j
}

type JSONSummary struct {
	Start              string              `json:"start,omitempty"`
	End                string              `json:"end,omitempty"`
	Packets            int64               `json:"packets"`
	NonTCP             int64               `json:"non_tcp_packets"`
	Undecodable        int64               `json:"undecodable_packets"`
	Filtered           int64               `json:"filtered_packets,omitempty"`
	Connections        int64               `json:"connections"`
	HTTPConnections    int64               `json:"http_connections"`
	NonHTTP            int64               `json:"non_http_connections"`
	MidStream          int64               `json:"mid_stream_connections"`
	Refused            int64               `json:"refused_connections"`
	Reset              int64               `json:"reset_connections"`
	Reused             int64               `json:"reused_connections"`
	OpenAtEnd          int64               `json:"open_at_end"`
	Transactions       int64               `json:"transactions"`
	TxPerConn          map[string]int      `json:"transactions_per_connection"`
	Gaps               int64               `json:"gaps"`
	GapBytes           uint64              `json:"gap_bytes"`
	Inconsistencies    int64               `json:"inconsistent_overlaps"`
	EvictedFull        int64               `json:"evicted_connections_table_full"`
	EvictedIdle        int64               `json:"evicted_connections_idle"`
	OutOfOrderDropped  int64               `json:"out_of_order_bytes_dropped"`
	KernelReceived     int64               `json:"kernel_received,omitempty"`
	KernelDropped      int64               `json:"kernel_dropped,omitempty"`
	IfaceDropped       int64               `json:"interface_dropped,omitempty"`
	Captured           *int64              `json:"captured,omitempty"`
	QueueDropped       *int64              `json:"queue_dropped,omitempty"`
	Withheld           *int64              `json:"findings_withheld_loss,omitempty"`
	FindingsBySeverity map[string]int      `json:"findings_by_severity"`
	FindingsByRule     map[string]int      `json:"findings_by_rule"`
	Suppressed         int64               `json:"findings_suppressed,omitempty"`
	Pairs              []analyze.PairCount `json:"client_server_pairs"`
	ProxyChains        []JSONProxyChain    `json:"proxy_chains,omitempty"`
	ProxyChainsDropped int                 `json:"proxy_chains_not_listed,omitempty"`
	WindowDropped      int64               `json:"window_entries_dropped,omitempty"`
	CompareLimited     int64               `json:"compare_windows_limited,omitempty"`
	Error              string              `json:"error,omitempty"`
}

func toJSONSummary(res *Result, inputs []string) JSONSummary {
	s, readErr := res.Summary, res.ReadErr
	j := JSONSummary{
		Start: ts(s.Start), End: ts(s.End), Packets: s.Packets, NonTCP: s.NonTCP, Undecodable: s.Undecodable, Filtered: s.Filtered,
		Connections: s.Connections, HTTPConnections: s.HTTPConnections, NonHTTP: s.NonHTTP, MidStream: s.MidStream,
		Refused: s.Refused, Reset: s.Reset, Reused: s.Reused, OpenAtEnd: s.OpenAtEnd, Transactions: s.Transactions,
		TxPerConn: map[string]int{"min": s.TxPerConnMin, "median": s.TxPerConnMedian, "max": s.TxPerConnMax},
		Gaps:      s.Gaps, GapBytes: s.GapBytes, Inconsistencies: s.Inconsistencies,
		EvictedFull: s.EvictedFull, EvictedIdle: s.EvictedIdle, OutOfOrderDropped: s.OutOfOrderDropped,
		KernelReceived: s.KernelReceived, KernelDropped: s.KernelDropped, IfaceDropped: s.IfaceDropped,
		FindingsBySeverity: s.FindingsBySeverity, FindingsByRule: s.FindingsByRule, Suppressed: s.Suppressed, Pairs: s.Pairs,
	}
	if j.Pairs == nil {
		j.Pairs = []analyze.PairCount{}
	}
	j.ProxyChains, j.ProxyChainsDropped = toJSONChains(s, inputs), s.ProxyChainsDropped
	j.WindowDropped, j.CompareLimited = s.WindowDropped, s.CompareLimited
	if l := res.Live; l != nil {
		j.Captured, j.QueueDropped, j.Withheld = &l.Captured, &l.QueueDropped, &l.Withheld
	}
	if readErr != nil {
		j.Error = readErr.Error()
	}
	return j
}

// jsonRenderer writes one document. Connections are streamed as they end
// (so memory does not grow with the number of connections); findings are
// kept and written, sorted, at the end.
type jsonRenderer struct {
	w        *Writer
	o        Options
	inputs   []string
	n        int
	findings []*analyze.Finding
	started  bool
	inBatch  bool // a lint file's document: the wrapper carries version and run info
	// buf collects the document's head and connection records, reused, and
	// goes to w once it holds jsonFlushAt bytes (and at Finish): one write
	// per ~64 KiB instead of two per connection (issue 15).
	buf []byte
}

// jsonFlushAt is the size at which buf is written out.
const jsonFlushAt = 64 << 10

func newJSONFormat(w io.Writer, o Options) Renderer { return newJSON(w, o, o.Inputs) }

func newJSON(w io.Writer, o Options, inputs []string) *jsonRenderer {
	return &jsonRenderer{w: NewWriter(w), o: o, inputs: inputs}
}

// versionField is the document's "connlint" member: the program's version,
// so a stored report says what produced it.
func versionField(o Options) string {
	return `"connlint":` + string(marshal(version(o))) + ","
}

// version is o.Version, "dev" for a build that was not given one.
func version(o Options) string {
	if o.Version == "" {
		return "dev"
	}
	return o.Version
}

func (r *jsonRenderer) start() {
	if r.started {
		return
	}
	r.started = true
	r.buf = append(r.buf, `{"version":1,`...)
	if !r.inBatch {
		r.buf = append(r.buf, versionField(r.o)...)
	}
	r.buf = append(r.buf, `"inputs":`...)
	r.buf = append(r.buf, marshal(r.inputs)...)
	r.buf = append(r.buf, `,"connections":[`...)
}

// flush writes buf out and empties it.
func (r *jsonRenderer) flush() {
	if len(r.buf) > 0 {
		r.w.Write(r.buf)
		r.buf = r.buf[:0]
	}
}

func (r *jsonRenderer) Finding(f *analyze.Finding) { r.findings = append(r.findings, f) }

func (r *jsonRenderer) Connection(c *analyze.ConnReport) {
	if r.w.Err() != nil {
		return // the output is lost already; do not spend time encoding
	}
	r.start()
	if r.n > 0 {
		r.buf = append(r.buf, ',')
	}
	r.n++
	r.buf = appendConn(r.buf, c, r.inputs)
	// A live capture's document grows as connections end: write each one
	// at once, as before, rather than when 64 KiB have gathered.
	if len(r.buf) >= jsonFlushAt || r.o.Live {
		r.flush()
	}
}

func (r *jsonRenderer) Finish(res *Result) error {
	r.start()
	r.flush()
	analyze.SortFindings(r.findings)
	fs := make([]JSONFinding, 0, len(r.findings))
	for _, f := range r.findings {
		fs = append(fs, toJSONFinding(f, r.inputs))
	}
	b := marshal(fs)
	s := marshal(toJSONSummary(res, r.inputs))
	tail := ""
	if r.o.Info != nil && !r.inBatch {
		tail = `,"run":` + string(marshal(toJSONInfo(r.o.Info)))
	}
	io.WriteString(r.w, `],"findings":`+string(b)+`,"summary":`+string(s)+tail+"}\n")
	return r.w.Err()
}

// jsonBatch wraps lint's per-file documents as {"version":1,"files":[...]}.
type jsonBatch struct {
	w    *Writer
	o    Options
	docs [][]byte
}

func newJSONBatch(w io.Writer, o Options) Batch { return &jsonBatch{w: NewWriter(w), o: o} }

func (b *jsonBatch) File(_ string, inputs []string) Renderer {
	doc := &bytes.Buffer{}
	r := newJSON(doc, b.o, inputs)
	r.inBatch = true
	return &jsonBatchFile{jsonRenderer: r, doc: doc, batch: b}
}

// JSONUnreadable is a lint input that could not be opened: it keeps its
// place in "files" with the reason instead of vanishing.
type JSONUnreadable struct {
	Inputs []string `json:"inputs"`
	Error  string   `json:"error"`
}

// Unreadable records an input that could not be opened at all.
func (b *jsonBatch) Unreadable(path string, err error) {
	b.docs = append(b.docs, marshal(JSONUnreadable{Inputs: []string{path}, Error: err.Error()}))
}

func (b *jsonBatch) Close() error {
	tail := ""
	if b.o.Info != nil {
		tail = `,"run":` + string(marshal(toJSONInfo(b.o.Info)))
	}
	fmt.Fprintf(b.w, "{\"version\":1,%s\"files\":[%s]%s}\n", versionField(b.o), bytes.Join(b.docs, []byte(",")), tail)
	return b.w.Err()
}

// jsonBatchFile is one file's document, kept until the batch is closed.
type jsonBatchFile struct {
	*jsonRenderer
	doc   *bytes.Buffer
	batch *jsonBatch
}

func (f *jsonBatchFile) Finish(res *Result) error {
	if err := f.jsonRenderer.Finish(res); err != nil {
		return err
	}
	f.batch.docs = append(f.batch.docs, bytes.TrimSpace(f.doc.Bytes()))
	return nil
}

// JSONProxyChain is one transaction seen on both legs of a proxy
// (analyze.ProxyChain): client → proxy → origin and the time each hop added.
type JSONProxyChain struct {
	ClientConn  uint64  `json:"client_conn"`
	ClientTx    int     `json:"client_transaction"`
	OriginConn  uint64  `json:"origin_conn"`
	OriginTx    int     `json:"origin_transaction"`
	Client      string  `json:"client"`
	Proxy       string  `json:"proxy"`
	ProxyOut    string  `json:"proxy_out"`
	Origin      string  `json:"origin"`
	Method      string  `json:"method"`
	Target      string  `json:"target"`
	Status      int     `json:"status,omitempty"`
	Answered    bool    `json:"answered"`
	Start       string  `json:"start"`
	Frames      []int64 `json:"frames"`
	FrameInputs []int   `json:"frame_inputs,omitempty"`
	ProxyInMS   float64 `json:"proxy_in_ms"`
	OriginMS    float64 `json:"origin_ms"`
	ProxyOutMS  float64 `json:"proxy_out_ms"`
	TotalMS     float64 `json:"total_ms"`
}

func toJSONChains(s *analyze.Summary, inputs []string) []JSONProxyChain {
	var out []JSONProxyChain
	for _, c := range s.ProxyChains {
		j := JSONProxyChain{
			ClientConn: c.ClientConn, ClientTx: c.ClientTx, OriginConn: c.OriginConn, OriginTx: c.OriginTx,
			Client: addrString(c.Client), Proxy: addrString(c.Proxy), ProxyOut: addrString(c.ProxyOut), Origin: addrString(c.Origin),
			Method: c.Method, Target: c.Target, Status: c.Status, Answered: c.Answered, Start: ts(c.Start), Frames: []int64{},
			ProxyInMS: msf(c.ProxyInDelay), OriginMS: msf(c.OriginDelay), ProxyOutMS: msf(c.ProxyOutDelay), TotalMS: msf(c.Total),
		}
		for _, f := range c.Frames {
			j.Frames = append(j.Frames, f.Frame)
			if len(inputs) > 1 {
				j.FrameInputs = append(j.FrameInputs, f.Input)
			}
		}
		out = append(out, j)
	}
	return out
}
