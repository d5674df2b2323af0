package render

import (
	"math"
	"net/netip"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/connlint/connlint/analyze"
)

// The connection records are most of a JSON report (60 MB for 40 000
// connections on the issue 15 bench capture), and encoding them through
// the JSONConn structs and encoding/json's reflection cost an eighth of the
// run's CPU and 100 MB of garbage (issue 15). appendConn writes the same
// bytes by hand into a reused buffer: no reflection, no allocation per
// connection. The JSONConn, JSONTx, JSONGap, JSONTLS and JSONTiming types
// stay the schema of record (docs/json.md, readers decode into them); the
// tests encode the same records through them with encoding/json and demand
// identical bytes, and check that every field they declare is written, in
// their order. Findings and the summary, written once per run, still go
// through encoding/json.

// appendConn appends c as toJSONConn + encoding/json (no HTML escaping)
// would: fields in JSONConn's order, omitempty fields left out when empty,
// gaps and transactions as [] when there are none.
func appendConn(b []byte, c *analyze.ConnReport, inputs []string) []byte {
	multi := len(inputs) > 1
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, c.ID, 10)
	if multi && c.First.Input < len(inputs) && inputs[c.First.Input] != "" {
		b = append(b, `,"input":`...)
		b = appendString(b, inputs[c.First.Input])
	}
	b = append(b, `,"client":`...)
	b = appendAddr(b, c.Client)
	b = append(b, `,"server":`...)
	b = appendAddr(b, c.Server)
	b = append(b, `,"start":`...)
	b = appendTime(b, c.First.Time)
	b = append(b, `,"end":`...)
	b = appendTime(b, c.Last.Time)
	b = append(b, `,"duration_ms":`...)
	b = appendMS(b, c.Duration())
	b = append(b, `,"ended_by":`...)
	b = appendString(b, c.EndedBy)
	b = append(b, `,"first_frame":`...)
	b = strconv.AppendInt(b, c.First.Frame, 10)
	b = append(b, `,"last_frame":`...)
	b = strconv.AppendInt(b, c.Last.Frame, 10)
	if multi {
		b = append(b, `,"first_frame_input":`...)
		b = strconv.AppendInt(b, int64(c.First.Input), 10)
		b = append(b, `,"last_frame_input":`...)
		b = strconv.AppendInt(b, int64(c.Last.Input), 10)
	}
	b = append(b, `,"mid_stream":`...)
	b = strconv.AppendBool(b, c.MidStream)
	b = append(b, `,"roles_guessed":`...)
	b = strconv.AppendBool(b, c.RolesGuessed)
	if c.Missing != "" {
		b = append(b, `,"missing_direction":`...)
		b = appendString(b, c.Missing)
	}
	b = append(b, `,"http":`...)
	b = strconv.AppendBool(b, c.HTTP)
	if c.Tunnel {
		b = append(b, `,"tunnel":true`...)
	}
	if t := c.TLS; t != nil {
		b = append(b, `,"tls":{"version":`...)
		b = appendString(b, t.Version)
		b = append(b, `,"sni":`...)
		b = appendString(b, t.SNI)
		b = append(b, `,"alpn":`...)
		b = appendString(b, t.ALPN)
		b = append(b, `,"cipher":`...)
		b = appendString(b, t.Cipher)
		b = append(b, `,"resumed":`...)
		b = strconv.AppendBool(b, t.Resumed)
		b = append(b, `,"decrypted":`...)
		b = strconv.AppendBool(b, t.Decrypted)
		if t.HTTP2 {
			b = append(b, `,"http2":true`...)
		}
		if t.Note != "" {
			b = append(b, `,"note":`...)
			b = appendString(b, t.Note)
		}
		b = append(b, '}')
	}
	if c.HandshakeSeen {
		b = append(b, `,"handshake_ms":`...)
		b = appendMS(b, c.Handshake)
	}
	b = append(b, `,"bytes_client_to_server":`...)
	b = strconv.AppendUint(b, c.BytesC2S, 10)
	b = append(b, `,"bytes_server_to_client":`...)
	b = strconv.AppendUint(b, c.BytesS2C, 10)
	b = append(b, `,"segments":`...)
	b = strconv.AppendInt(b, int64(c.Segments), 10)
	b = append(b, `,"retransmissions":`...)
	b = strconv.AppendInt(b, int64(c.Retransmits), 10)
	b = append(b, `,"gaps":[`...)
	for i := range c.Gaps {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendGap(b, &c.Gaps[i], multi)
	}
	b = append(b, ']')
	if c.GapsDropped != 0 {
		b = append(b, `,"gaps_not_listed":`...)
		b = strconv.AppendInt(b, int64(c.GapsDropped), 10)
	}
	b = append(b, `,"transactions":[`...)
	for i, t := range c.Transactions {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendTx(b, t, multi)
	}
	b = append(b, `],"transaction_count":`...)
	b = strconv.AppendInt(b, int64(c.TransactionCount), 10)
	if c.TransactionsDropped != 0 {
		b = append(b, `,"transactions_not_listed":`...)
		b = strconv.AppendInt(b, int64(c.TransactionsDropped), 10)
	}
	b = append(b, `,"findings":`...)
	b = strconv.AppendInt(b, int64(len(c.Findings)), 10)
	return append(b, '}')
}

// appendGap appends g as a JSONGap.
func appendGap(b []byte, g *analyze.GapReport, multi bool) []byte {
	b = append(b, `{"direction":`...)
	b = appendString(b, g.Direction)
	b = append(b, `,"offset":`...)
	b = strconv.AppendUint(b, g.Offset, 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendUint(b, g.Bytes, 10)
	b = append(b, `,"frame_after":`...)
	b = strconv.AppendInt(b, g.After.Frame, 10)
	if multi {
		b = append(b, `,"frame_after_input":`...)
		b = strconv.AppendInt(b, int64(g.After.Input), 10)
	}
	return append(b, '}')
}

// appendTx appends t as a JSONTx (toJSONTx's rules: a frame's input only
// with the frame, TTFB and total only for an answered request, timing
// always, zeros when there is no breakdown).
func appendTx(b []byte, t *analyze.TxReport, multi bool) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(t.Index), 10)
	if t.Method != "" {
		b = append(b, `,"method":`...)
		b = appendString(b, t.Method)
	}
	if t.Target != "" {
		b = append(b, `,"target":`...)
		b = appendString(b, t.Target)
	}
	if t.Host != "" {
		b = append(b, `,"host":`...)
		b = appendString(b, t.Host)
	}
	if t.Proto != "" {
		b = append(b, `,"proto":`...)
		b = appendString(b, t.Proto)
	}
	if t.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(t.Status), 10)
	}
	b = append(b, `,"request_body_bytes":`...)
	b = strconv.AppendInt(b, t.RequestBody, 10)
	b = append(b, `,"response_body_bytes":`...)
	b = strconv.AppendInt(b, t.ResponseBody, 10)
	if t.RequestStart.Frame != 0 {
		b = append(b, `,"request_frame":`...)
		b = strconv.AppendInt(b, t.RequestStart.Frame, 10)
	}
	if t.ResponseStart.Frame != 0 {
		b = append(b, `,"response_frame":`...)
		b = strconv.AppendInt(b, t.ResponseStart.Frame, 10)
	}
	if multi && t.RequestStart.Frame != 0 {
		b = append(b, `,"request_frame_input":`...)
		b = strconv.AppendInt(b, int64(t.RequestStart.Input), 10)
	}
	if multi && t.ResponseStart.Frame != 0 {
		b = append(b, `,"response_frame_input":`...)
		b = strconv.AppendInt(b, int64(t.ResponseStart.Input), 10)
	}
	start := t.ResponseStart.Time
	if t.HasRequest {
		start = t.RequestStart.Time
	}
	if !start.IsZero() {
		b = append(b, `,"start":`...)
		b = appendTime(b, start)
	}
	if t.HasRequest && t.HasResponse {
		b = append(b, `,"ttfb_ms":`...)
		b = appendMS(b, t.TTFB)
		b = append(b, `,"total_ms":`...)
		b = appendMS(b, t.Total)
	}
	var bd analyze.Breakdown
	if t.Timing != nil {
		bd = *t.Timing
	}
	b = append(b, `,"timing":{"connect_ms":`...)
	b = appendMS(b, bd.Connect)
	b = append(b, `,"send_ms":`...)
	b = appendMS(b, bd.Send)
	b = append(b, `,"wait_ms":`...)
	b = appendMS(b, bd.Wait)
	b = append(b, `,"receive_ms":`...)
	b = appendMS(b, bd.Receive)
	if len(bd.Attributed) > 0 {
		b = append(b, `,"attributed_ms":`...)
		b = appendDurationMap(b, bd.Attributed)
	}
	b = append(b, '}')
	if t.HasRequest && !t.HasResponse {
		b = append(b, `,"no_response":true`...)
	}
	if t.Unsolicited {
		b = append(b, `,"unsolicited":true`...)
	}
	if t.Gap {
		b = append(b, `,"gap":true`...)
	}
	return append(b, '}')
}

// appendDurationMap appends m as encoding/json writes a map[string]float64
// of msf values: keys in sorted (byte) order.
func appendDurationMap(b []byte, m map[string]time.Duration) []byte {
	var arr [8]string // rules attributing time to one transaction are few
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = appendMS(b, m[k])
	}
	return append(b, '}')
}

// tsLayout is ts's format.
const tsLayout = "2006-01-02T15:04:05.000000Z"

// appendTime appends ts(t) as a JSON string: "" for the zero time. The
// formatted time never needs escaping.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	if !t.IsZero() {
		b = appendTS(b, t)
	}
	return append(b, '"')
}

// appendTS appends t.UTC().Format(tsLayout) with fixed-width digits:
// AppendFormat interprets the layout on every call, and was over a third of
// the time spent writing a record. Years that do not take four digits go
// through AppendFormat (it writes them its own way).
func appendTS(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, tsLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6) // truncated, as .000000 is
	return append(b, 'Z')
}

// appendDigits appends v (≥ 0) as exactly n decimal digits, zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "000000000"[:n]...)
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendAddr appends addrString(a) as a JSON string.
func appendAddr(b []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return append(b, `""`...)
	}
	if a.Addr().Zone() != "" {
		// A zone is free text: escape it like any other string.
		var arr [64]byte
		return appendString(b, a.AppendTo(arr[:0]))
	}
	// Digits, dots, colons and brackets need no escaping.
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

// appendMS appends msf(d) as encoding/json writes a float64.
//
// msf(d) is k/10⁴ ms for the integer k = d.Round(100ns)/100, and
// shortest-float formatting (strconv, -1 precision) cost a quarter of the
// time spent writing a record; so for |k·100| < 2⁵³ the decimal k/10⁴ is
// written from the integer. It is the same text: float64(k·100)/10⁶ is the
// float nearest k/10⁴ (both operands are exact below 2⁵³ and the division
// rounds correctly); k has at most 14 digits, and a decimal of at most 15
// significant digits survives the trip to float64 and back, so no other
// decimal of 15 digits or fewer maps to that float and k/10⁴ (trailing
// zeros dropped) is its shortest form; 'f' notation applies as
// 10⁻⁴ ≤ |msf| < 10²¹. TestAppendMS checks it against encoding/json,
// across the bound too. Longer durations (over 104 days) take the float
// path.
func appendMS(b []byte, d time.Duration) []byte {
	const limit = 1 << 53 / 100
	k := int64(d.Round(100*time.Nanosecond)) / 100
	if k <= -limit || k >= limit {
		return appendFloat(b, msf(d))
	}
	if k < 0 {
		b = append(b, '-')
		k = -k
	}
	b = strconv.AppendInt(b, k/10000, 10)
	if frac := int(k % 10000); frac != 0 {
		n := 4
		for frac%10 == 0 {
			frac /= 10
			n--
		}
		b = append(b, '.')
		b = appendDigits(b, frac, n)
	}
	return b
}

// appendFloat appends f exactly as encoding/json encodes a float64: the
// shortest representation, 'f' notation except for very small or large
// magnitudes, exponents without a leading zero. msf never yields NaN or
// ±Inf (encoding/json would fail on them; here they would print as Go
// spells them).
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString appends s quoted as encoding/json does with HTML escaping
// off (the renderers' setting, see marshal): " and \ escaped, control
// characters as \b \f \n \r \t or \u00XX, invalid UTF-8 bytes as \ufffd,
// U+2028 and U+2029 as \u2028 and \u2029; everything else, <, > and &
// included, as it is. FuzzAppendString holds it to encoding/json.
func appendString[S []byte | string](b []byte, s S) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		// Convert at most one rune's bytes: a short conversion does not
		// allocate for a []byte s.
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
