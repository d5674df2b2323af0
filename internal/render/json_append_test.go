package render

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
)

// The oracle: how connection records were written before issue 15, through
// the schema structs and encoding/json. appendConn must produce the same
// bytes for every record.

func toJSONConn(c *analyze.ConnReport, inputs []string) JSONConn {
	j := JSONConn{
		ID: c.ID, Client: addrString(c.Client), Server: addrString(c.Server),
		Start: ts(c.First.Time), End: ts(c.Last.Time), DurationMS: msf(c.Duration()),
		EndedBy: c.EndedBy, FirstFrame: c.First.Frame, LastFrame: c.Last.Frame,
		MidStream: c.MidStream, RolesGuessed: c.RolesGuessed, Missing: c.Missing, HTTP: c.HTTP, Tunnel: c.Tunnel,
		BytesC2S: c.BytesC2S, BytesS2C: c.BytesS2C, Segments: c.Segments, Retransmits: c.Retransmits,
		Gaps: []JSONGap{}, GapsDropped: c.GapsDropped, Transactions: []JSONTx{},
		TxCount: c.TransactionCount, TxNotListed: c.TransactionsDropped, FindingsCount: len(c.Findings),
	}
	if len(inputs) > 1 && c.First.Input < len(inputs) {
		j.Input = inputs[c.First.Input]
	}
	if t := c.TLS; t != nil {
		j.TLS = &JSONTLS{Version: t.Version, SNI: t.SNI, ALPN: t.ALPN, Cipher: t.Cipher,
			Resumed: t.Resumed, Decrypted: t.Decrypted, HTTP2: t.HTTP2, Note: t.Note}
	}
	j.FirstInput, j.LastInput = inputIndex(inputs, c.First.Input), inputIndex(inputs, c.Last.Input)
	if c.HandshakeSeen {
		d := msf(c.Handshake)
		j.HandshakeMS = &d
	}
	for _, g := range c.Gaps {
		j.Gaps = append(j.Gaps, JSONGap{Direction: g.Direction, Offset: g.Offset, Bytes: g.Bytes, FrameAfter: g.After.Frame,
			AfterInput: inputIndex(inputs, g.After.Input)})
	}
	for _, t := range c.Transactions {
		j.Transactions = append(j.Transactions, toJSONTx(t, inputs))
	}
	return j
}

func inputIndex(inputs []string, i int) *int {
	if len(inputs) < 2 {
		return nil
	}
	return &i
}

func toJSONTx(t *analyze.TxReport, inputs []string) JSONTx {
	j := JSONTx{
		Index: t.Index, Method: t.Method, Target: t.Target, Host: t.Host, Proto: t.Proto, Status: t.Status,
		RequestBytes: t.RequestBody, ResponseBytes: t.ResponseBody,
		RequestFrame: t.RequestStart.Frame, ResponseFrame: t.ResponseStart.Frame,
		NoResponse: t.HasRequest && !t.HasResponse, Unsolicited: t.Unsolicited, Gap: t.Gap,
	}
	if t.RequestStart.Frame != 0 {
		j.RequestInput = inputIndex(inputs, t.RequestStart.Input)
	}
	if t.ResponseStart.Frame != 0 {
		j.ResponseInput = inputIndex(inputs, t.ResponseStart.Input)
	}
	if t.HasRequest {
		j.Start = ts(t.RequestStart.Time)
	} else {
		j.Start = ts(t.ResponseStart.Time)
	}
	if t.HasRequest && t.HasResponse {
		a, b := msf(t.TTFB), msf(t.Total)
		j.TTFBMS, j.TotalMS = &a, &b
	}
	if b := t.Timing; b != nil {
		j.Timing = JSONTiming{ConnectMS: msf(b.Connect), SendMS: msf(b.Send), WaitMS: msf(b.Wait), ReceiveMS: msf(b.Receive)}
		if len(b.Attributed) > 0 {
			j.Timing.AttributedMS = map[string]float64{}
			for k, v := range b.Attributed {
				j.Timing.AttributedMS[k] = msf(v)
			}
		}
	}
	return j
}

// hostile are string pieces that need care in JSON.
var hostile = []string{
	"", "GET", "/index.html?a=1&b=<2>", `"`, `\`, `\"`, "\x00", "\x01", "\x1f", "\x7f", "\b\f\n\r\t",
	"<script>&amp;</script>", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\u2028", "\u2029",
	"é", "日本語", "\U0001F600", "\ufffd", "example.com:8080", "a\u2028b\u2029c", "%00%zz", "'", "\u00a0",
}

// randString joins a few hostile pieces, or is one of them.
func randString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(4) {
		b.WriteString(hostile[r.IntN(len(hostile))])
	}
	return b.String()
}

// randDuration spans zero, sub-microsecond, typical and huge durations,
// and negative ones (a damaged capture's clock).
func randDuration(r *rand.Rand) time.Duration {
	switch r.IntN(6) {
	case 0:
		return 0
	case 1:
		return time.Duration(r.Int64N(1000)) // below the 0.1 µs rounding
	case 2:
		return time.Duration(r.Int64N(int64(time.Second)))
	case 3:
		return time.Duration(r.Int64N(math.MaxInt64))
	case 4:
		return -time.Duration(r.Int64N(int64(time.Minute)))
	default:
		return time.Duration(r.Int64N(100)) * 100 * time.Microsecond
	}
}

var zones = []*time.Location{time.UTC, time.FixedZone("CET", 3600), time.FixedZone("odd", -5*3600-1800)}

func randTime(r *rand.Rand) time.Time {
	switch r.IntN(8) {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, 0)
	case 2:
		return time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC) // one ns after the zero time
	}
	return t0.Add(time.Duration(r.Int64N(int64(48*time.Hour)) - int64(24*time.Hour))).In(zones[r.IntN(len(zones))])
}

func randAddr(r *rand.Rand) netip.AddrPort {
	port := uint16(r.IntN(65536))
	switch r.IntN(7) {
	case 0:
		return netip.AddrPort{}
	case 1:
		return netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), port)
	case 2:
		return netip.AddrPortFrom(netip.MustParseAddr("::ffff:10.1.2.3"), port)
	case 3:
		return netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(randString(r)+"eth0"), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))}), port)
}

func randPoint(r *rand.Rand, inputs []string) analyze.Point {
	p := analyze.Point{Time: randTime(r)}
	if r.IntN(4) > 0 {
		p.Frame = r.Int64N(1 << 40)
	}
	if len(inputs) > 0 {
		p.Input = r.IntN(len(inputs))
	}
	return p
}

func randPos(r *rand.Rand, inputs []string) flow.Pos {
	p := randPoint(r, inputs)
	return flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame}
}

// randConn is a connection with every field chosen at random, strings
// hostile, optional parts present or not.
func randConn(r *rand.Rand, inputs []string) *analyze.ConnReport {
	c := &analyze.ConnReport{
		ID: r.Uint64(), Client: randAddr(r), Server: randAddr(r), First: randPoint(r, inputs), Last: randPoint(r, inputs),
		EndedBy: randString(r), MidStream: r.IntN(2) == 0, RolesGuessed: r.IntN(2) == 0, Missing: randString(r),
		HTTP: r.IntN(2) == 0, Tunnel: r.IntN(2) == 0, Handshake: randDuration(r), HandshakeSeen: r.IntN(2) == 0,
		BytesC2S: r.Uint64() >> r.IntN(64), BytesS2C: r.Uint64() >> r.IntN(64), Segments: r.IntN(1<<20) - 10,
		Retransmits: r.IntN(100), GapsDropped: r.IntN(3) - 1, TransactionCount: r.IntN(10),
		TransactionsDropped: r.IntN(3) - 1, Findings: make([]*analyze.Finding, r.IntN(3)),
	}
	if r.IntN(3) == 0 {
		c.TLS = &analyze.TLSReport{Version: randString(r), SNI: randString(r), ALPN: randString(r), Cipher: randString(r),
			Resumed: r.IntN(2) == 0, Decrypted: r.IntN(2) == 0, HTTP2: r.IntN(2) == 0, Note: randString(r)}
	}
	if r.IntN(2) == 0 {
		c.Gaps = []analyze.GapReport{} // made but empty, as describe does
	}
	for range r.IntN(4) {
		c.Gaps = append(c.Gaps, analyze.GapReport{Direction: randString(r), Offset: r.Uint64() >> r.IntN(64),
			Bytes: r.Uint64() >> r.IntN(64), After: randPoint(r, inputs)})
	}
	for i := range r.IntN(5) {
		t := &analyze.TxReport{
			Index: i + 1, Method: randString(r), Target: randString(r), Host: randString(r), Proto: randString(r),
			Status: r.IntN(700) - 100, Reason: randString(r), RequestBody: r.Int64N(1<<30) - 5, ResponseBody: r.Int64N(1 << 40),
			HasRequest: r.IntN(3) > 0, HasResponse: r.IntN(3) > 0, Unsolicited: r.IntN(4) == 0, Gap: r.IntN(4) == 0,
			RequestStart: randPos(r, inputs), ResponseStart: randPos(r, inputs), TTFB: randDuration(r), Total: randDuration(r),
		}
		if r.IntN(4) > 0 {
			t.Timing = &analyze.Breakdown{Connect: randDuration(r), Send: randDuration(r), Wait: randDuration(r), Receive: randDuration(r)}
			if r.IntN(2) == 0 {
				t.Timing.Attributed = map[string]time.Duration{}
				for range r.IntN(12) { // past appendDurationMap's stack array
					t.Timing.Attributed[randString(r)] = randDuration(r)
				}
			}
		}
		c.Transactions = append(c.Transactions, t)
	}
	return c
}

var inputSets = [][]string{
	nil, {"capture.pcap"}, {"a.pcap", "b.pcapng"}, {"", `dir\"x<&>.pcap`, "\xff\u2028.pcap"},
}

// TestAppendConnMatchesEncodingJSON renders thousands of random records
// both ways and demands the same bytes.
func TestAppendConnMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 1))
	conns, _, _ := model()
	var buf []byte
	for i := range 20000 {
		inputs := inputSets[i%len(inputSets)]
		c := randConn(r, inputs)
		if i < len(conns) {
			c = conns[i]
		}
		want := marshal(toJSONConn(c, inputs))
		buf = appendConn(buf[:0], c, inputs)
		if !bytes.Equal(buf, want) {
			t.Fatalf("record %d differs:\n got %s\nwant %s", i, buf, want)
		}
	}
}

// TestAppendConnWritesTheSchema: a record with every optional part present
// has every field the schema types declare, in their order, so a field
// added to JSONConn (or JSONTx, JSONGap, JSONTLS, JSONTiming) and not to
// appendConn fails here.
func TestAppendConnWritesTheSchema(t *testing.T) {
	inputs := []string{"a.pcap", "b.pcap"}
	c := &analyze.ConnReport{
		ID: 7, Client: netip.MustParseAddrPort("10.0.0.1:1"), Server: netip.MustParseAddrPort("10.0.0.2:80"),
		First: analyze.Point{Time: t0, Frame: 1, Input: 1}, Last: analyze.Point{Time: t0.Add(time.Second), Frame: 9},
		EndedBy: "fin", Missing: "server_to_client", Tunnel: true, HandshakeSeen: true, GapsDropped: 1, TransactionsDropped: 2,
		TLS:  &analyze.TLSReport{Version: "TLS 1.3", HTTP2: true, Note: "no key"},
		Gaps: []analyze.GapReport{{Direction: "client_to_server", After: analyze.Point{Frame: 3}}},
		Transactions: []*analyze.TxReport{{Index: 1, Method: "GET", Target: "/", Host: "h", Proto: "HTTP/1.1", Status: 200,
			HasRequest: true, HasResponse: true, Unsolicited: true, Gap: true,
			RequestStart: flow.Pos{Time: t0, Frame: 2}, ResponseStart: flow.Pos{Time: t0, Frame: 3},
			Timing: &analyze.Breakdown{Attributed: map[string]time.Duration{"x": 1}}}},
	}
	noResp := &analyze.TxReport{Index: 2, HasRequest: true} // no_response is the one field the first cannot carry
	b := appendConn(nil, c, inputs)
	var doc struct {
		JSONConn
		TLS          json.RawMessage   `json:"tls"`
		Gaps         []json.RawMessage `json:"gaps"`
		Transactions []json.RawMessage `json:"transactions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	checkKeys(t, "connection", b, reflect.TypeFor[JSONConn](), nil)
	checkKeys(t, "tls", doc.TLS, reflect.TypeFor[JSONTLS](), nil)
	checkKeys(t, "gap", doc.Gaps[0], reflect.TypeFor[JSONGap](), nil)
	tx := doc.Transactions[0]
	checkKeys(t, "transaction", tx, reflect.TypeFor[JSONTx](), map[string]bool{"no_response": true})
	var tm struct {
		Timing json.RawMessage `json:"timing"`
	}
	json.Unmarshal(tx, &tm)
	checkKeys(t, "timing", tm.Timing, reflect.TypeFor[JSONTiming](), nil)
	if got := appendTx(nil, noResp, false); !bytes.Contains(got, []byte(`"no_response":true`)) {
		t.Errorf("unanswered request: %s", got)
	}
}

// checkKeys compares obj's member names, in order, with typ's JSON field
// names (less the ones in skip).
func checkKeys(t *testing.T, what string, obj []byte, typ reflect.Type, skip map[string]bool) {
	t.Helper()
	var want []string
	for f := range typ.Fields() {
		if name := strings.Split(f.Tag.Get("json"), ",")[0]; name != "" && !skip[name] {
			want = append(want, name)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(obj))
	var got []string
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			continue
		}
		if s, ok := tok.(string); ok && depth == 1 {
			got = append(got, s)
			// skip the member's value
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s members\n got %v\nwant %v", what, got, want)
	}
}

// TestAppendFloat holds appendFloat to encoding/json at the edges of its
// notation switch and on msf's values.
func TestAppendFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-6, 1e-7, 9.999999e-7, -1e-7, 1e20, 1e21, -1e21, 1.5e300,
		5e-324, math.MaxFloat64, 123456789.0001, 0.0001, 1e-4, 40.2, 9223372036854.775807}
	r := rand.New(rand.NewPCG(1, 15))
	for range 10000 {
		vals = append(vals, msf(randDuration(r)), math.Float64frombits(r.Uint64()))
	}
	for _, v := range vals {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		want, _ := json.Marshal(v)
		if got := appendFloat(nil, v); !bytes.Equal(got, want) {
			t.Fatalf("%v: got %s, want %s", v, got, want)
		}
	}
}

// FuzzAppendString: appendString writes what encoding/json does, with
// HTML escaping off, for any bytes, as a string or as a []byte.
func FuzzAppendString(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Add(strings.Join(hostile, ""))
	f.Fuzz(func(t *testing.T, s string) {
		want := marshal(s)
		if got := appendString([]byte("x"), s); !bytes.Equal(got[1:], want) {
			t.Fatalf("%q: got %s, want %s", s, got[1:], want)
		}
		if got := appendString(nil, []byte(s)); !bytes.Equal(got, want) {
			t.Fatalf("%q as []byte: got %s, want %s", s, got, want)
		}
	})
}

// benchConn is a connection like most of the bench capture's: three
// answered keep-alive requests.
func benchConn() *analyze.ConnReport {
	c := &analyze.ConnReport{
		ID: 12345, Client: netip.MustParseAddrPort("127.0.0.1:50832"), Server: netip.MustParseAddrPort("127.0.0.1:18080"),
		First: analyze.Point{Time: t0, Frame: 1}, Last: analyze.Point{Time: t0.Add(10139 * time.Microsecond), Frame: 29},
		EndedBy: "fin", HTTP: true, Handshake: 38 * time.Microsecond, HandshakeSeen: true,
		BytesC2S: 273, BytesS2C: 1299, Segments: 20, Gaps: []analyze.GapReport{}, TransactionCount: 3,
	}
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		c.Transactions = append(c.Transactions, &analyze.TxReport{
			Index: i + 1, Method: "GET", Target: "/s200.txt", Host: "127.0.0.1:18080", Proto: "HTTP/1.1", Status: 200,
			ResponseBody: 200, HasRequest: true, HasResponse: true, ResponseComplete: true,
			RequestStart: flow.Pos{Time: at, Frame: int64(4 + 4*i)}, ResponseStart: flow.Pos{Time: at.Add(263 * time.Microsecond), Frame: int64(6 + 4*i)},
			TTFB: 263 * time.Microsecond, Total: 263 * time.Microsecond,
			Timing: &analyze.Breakdown{Connect: 38 * time.Microsecond, Wait: 263 * time.Microsecond},
		})
	}
	return c
}

// TestAppendConnAllocs: writing a connection record into a buffer that is
// big enough allocates nothing (issue 15).
func TestAppendConnAllocs(t *testing.T) {
	c := benchConn()
	c.Transactions[0].Timing.Attributed = map[string]time.Duration{"handshake-overhead": time.Millisecond, "b": 1}
	c.TLS = &analyze.TLSReport{Version: "TLS 1.3", SNI: "example.com"}
	c.Client = netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone("eth0"), 1)
	buf := make([]byte, 0, 64<<10)
	inputs := []string{"a.pcap", "b.pcap"}
	if n := testing.AllocsPerRun(100, func() { buf = appendConn(buf[:0], c, inputs) }); n != 0 {
		t.Errorf("appendConn: %v allocations per record, want 0", n)
	}
}

// TestJSONLiveWritesEachConnection: in a live capture each record reaches
// the output when its connection ends; otherwise records gather in the
// buffer and the document is whole at Finish either way.
func TestJSONLiveWritesEachConnection(t *testing.T) {
	conns, _, res := model()
	for _, live := range []bool{false, true} {
		var out bytes.Buffer
		r := newJSON(&out, Options{Live: live}, nil)
		r.Connection(conns[0])
		if got := bytes.Contains(out.Bytes(), []byte(`"id":1`)); got != live {
			t.Errorf("live %v: record written at once: %v", live, got)
		}
		r.Connection(conns[1])
		if err := r.Finish(res); err != nil {
			t.Fatal(err)
		}
		if !json.Valid(out.Bytes()) {
			t.Errorf("live %v: not a JSON document: %s", live, out.Bytes())
		}
	}
}

func BenchmarkJSONConnection(b *testing.B) {
	c := benchConn()
	r := newJSON(io.Discard, Options{}, []string{"capture.pcap"})
	b.ReportAllocs()
	for b.Loop() {
		r.Connection(c)
	}
}

// BenchmarkJSONConnectionReflect is the old way, for comparison.
func BenchmarkJSONConnectionReflect(b *testing.B) {
	c := benchConn()
	inputs := []string{"capture.pcap"}
	b.ReportAllocs()
	for b.Loop() {
		io.Discard.Write(marshal(toJSONConn(c, inputs)))
	}
}

// TestAppendMS holds appendMS's integer path to encoding/json's encoding
// of msf, around its bound and across the range of durations.
func TestAppendMS(t *testing.T) {
	const bound = (1 << 53 / 100) * 100 * time.Nanosecond
	ds := []time.Duration{0, 1, 49, 50, 51, 99, 100, 150, -50, -51, -150, time.Millisecond, -time.Millisecond,
		263 * time.Microsecond, 10139 * time.Microsecond, 40200 * time.Microsecond, math.MaxInt64, math.MinInt64,
		math.MaxInt64 - 49, math.MinInt64 + 50, 24 * time.Hour, 365 * 24 * time.Hour}
	for d := bound - 1000; d <= bound+1000; d++ {
		ds = append(ds, d, -d)
	}
	r := rand.New(rand.NewPCG(2, 15))
	for range 200000 {
		ds = append(ds, time.Duration(r.Int64()>>r.IntN(64)), -time.Duration(r.Int64()>>r.IntN(64)), randDuration(r))
	}
	for _, d := range ds {
		want, _ := json.Marshal(msf(d))
		if got := appendMS(nil, d); !bytes.Equal(got, want) {
			t.Fatalf("%d ns: got %s, want %s", int64(d), got, want)
		}
	}
}

// TestAppendTS holds the fixed-width time writer to ts (Time.Format),
// inside and outside four-digit years.
func TestAppendTS(t *testing.T) {
	ts := []time.Time{time.Unix(0, 0), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 29, 1, 2, 3, 999, zones[2]), time.Unix(1<<40, 0), time.Unix(-1<<40, 1)}
	r := rand.New(rand.NewPCG(3, 15))
	for range 100000 {
		ts = append(ts, time.Unix(r.Int64N(1<<38)-1<<37, r.Int64N(1e9)).In(zones[r.IntN(len(zones))]), randTime(r))
	}
	for _, tm := range ts {
		want := tm.UTC().Format(tsLayout)
		if got := appendTS(nil, tm); string(got) != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
}
