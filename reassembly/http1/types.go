package http1

import (
	"errors"
	"iter"

	"github.com/connlint/connlint/reassembly/flow"
)

// Header is one header field as sent (name case preserved).
type Header struct {
	Name  string
	Value string
}

// Framing says how a message body is delimited (RFC 9112 §6.3).
type Framing uint8

const (
	FramingNone          Framing = iota // no body by definition (GET without CL, HEAD response, 1xx/204/304)
	FramingContentLength                // Content-Length
	FramingChunked                      // Transfer-Encoding: chunked
	FramingClose                        // response read until the connection closes
	FramingTunnel                       // CONNECT 2xx or 101: bytes after the header are not HTTP
)

func (f Framing) String() string {
	return [...]string{"none", "content-length", "chunked", "close-delimited", "tunnel"}[f]
}

// End says how a message ended.
type End uint8

const (
	EndComplete   End = iota // the framing says the message is complete
	EndFIN                   // the sender's FIN arrived before the message was complete
	EndRST                   // a RST arrived before the message was complete
	EndCaptureEnd            // the capture ended (or the connection was evicted) first
	EndGap                   // a capture gap hid the rest of the message
	// EndMalformed: the parser could not follow the message's framing (bad
	// chunk size, header block over MaxHeaderBytes, request framing unknown
	// because of an invalid Transfer-Encoding or Content-Length); the direction
	// resynchronised on the next start line. Added after the original contract.
	EndMalformed
)

func (e End) String() string {
	return [...]string{"complete", "fin", "rst", "capture-end", "gap", "malformed"}[e]
}

// Anomaly is a framing or syntax irregularity recorded on a message. The
// parser records; rules in package analyze decide what is a finding.
type Anomaly uint16

const (
	AnomBareLF                Anomaly = iota + 1 // a line ended in LF without CR
	AnomObsFold                                  // a header used obs-fold continuation
	AnomCLAndTE                                  // both Content-Length and Transfer-Encoding
	AnomDuplicateCL                              // several Content-Length values that differ
	AnomRepeatedCL                               // Content-Length repeated with the same value
	AnomInvalidCL                                // Content-Length not a plain non-negative decimal (or overflows int64)
	AnomCLLeadingZeros                           // Content-Length with leading zeros
	AnomInvalidTE                                // Transfer-Encoding present but chunked is not the final coding, or unparsable
	AnomChunkExtension                           // a chunk carried an extension
	AnomBadChunkSize                             // a chunk size line could not be parsed (message then ends as EndGap-like failure)
	AnomTrailers                                 // trailer fields after the last chunk
	AnomBodyOnBodiless                           // bytes followed a bodiless response that do not start a valid next message
	AnomOverrun                                  // bytes after the body that do not start a valid message
	AnomHeaderNoColon                            // a header line without a colon
	AnomMalformedStartLine                       // request/status line that was accepted leniently
	AnomHTTP09                                   // HTTP/0.9 request (no version)
	AnomInterimResponse                          // (on a final response) one or more 1xx preceded it
	AnomWhitespaceBeforeColon                    // "Name : value"
	AnomHeaderTooLarge                           // start line + header block exceeded MaxHeaderBytes (message ends EndMalformed)
	AnomTooManyHeaders                           // more than MaxHeaders fields: the rest are counted in DroppedHeaders
	AnomChunkSizeWhitespace                      // whitespace between a chunk size and its ';' or CRLF
	AnomBadChunkFraming                          // chunk data not followed by CRLF (message ends EndMalformed)
	AnomObscuredFraming                          // Content-Length/Transfer-Encoding folded (obs-fold) or with whitespace before the colon
	// AnomChunkSizeOverflow: a well-formed chunk-size line (hex digits, then
	// the line end, whitespace or an extension) whose value does not fit 63
	// bits, e.g. 2^64 that a uint64 parser reads as 0: the chunked
	// counterpart of an overflowing Content-Length. Recorded with
	// AnomBadChunkSize (the message ends EndMalformed).
	AnomChunkSizeOverflow
	// AnomJunkRequest: bytes that start no request line, after an answered
	// bodiless request, taken as a malformed next request (no method, no
	// target, EndMalformed) because the server reads them as one and
	// typically answers 400.
	AnomJunkRequest
)

var anomalyNames = map[Anomaly]string{
	AnomBareLF: "bare-lf", AnomObsFold: "obs-fold", AnomCLAndTE: "cl-and-te",
	AnomDuplicateCL: "duplicate-cl", AnomRepeatedCL: "repeated-cl", AnomInvalidCL: "invalid-cl",
	AnomCLLeadingZeros: "cl-leading-zeros", AnomInvalidTE: "invalid-te",
	AnomChunkExtension: "chunk-extension", AnomBadChunkSize: "bad-chunk-size", AnomTrailers: "trailers",
	AnomBodyOnBodiless: "body-on-bodiless", AnomOverrun: "overrun", AnomHeaderNoColon: "header-no-colon",
	AnomMalformedStartLine: "malformed-start-line", AnomHTTP09: "http/0.9",
	AnomInterimResponse: "interim-response", AnomWhitespaceBeforeColon: "whitespace-before-colon",
	AnomHeaderTooLarge: "header-too-large", AnomTooManyHeaders: "too-many-headers",
	AnomChunkSizeWhitespace: "chunk-size-whitespace", AnomBadChunkFraming: "bad-chunk-framing",
	AnomObscuredFraming: "obscured-framing", AnomChunkSizeOverflow: "chunk-size-overflow", AnomJunkRequest: "junk-request",
}

func (a Anomaly) String() string {
	if s, ok := anomalyNames[a]; ok {
		return s
	}
	return "anomaly"
}

// Message is one HTTP request or response.
//
// The one-byte fields come first, side by side: that packs the struct into
// 504 bytes, the 512-byte size class instead of 576, and one Message is
// allocated per message (issue 15).
type Message struct {
	Dir       flow.Dir
	Framing   Framing
	End       End  // how it ended
	InHeaders bool // the message ended (not EndComplete) before its header block was complete

	Index   int // 0-based index among this direction's messages on the connection (1xx responses count)
	Method  string
	Target  string
	Status  int
	Reason  string
	Proto   string // "HTTP/1.1", "HTTP/1.0", "HTTP/0.9"
	Major   int
	Minor   int
	Headers []Header

	ContentLength int64 // declared, -1 when none or invalid
	HeaderBytes   int   // bytes of start line + header block incl. the blank line
	BodyBytes     int64 // body bytes seen on the wire (chunk framing included for chunked)
	BodyLength    int64 // decoded body length (chunk data only for chunked)
	MissingBytes  int64 // body bytes the framing expected but that never came (truncated)
	GapBytes      int64 // bytes of this message hidden by capture gaps

	Start     flow.Pos // first byte of the start line
	HeaderEnd flow.Pos // last byte of the header block
	BodyStart flow.Pos // first body byte (zero if no body)
	Last      flow.Pos // last byte seen of the message

	Anomalies []Anomaly
	// OverrunBytes counts bytes after this message's end that did not start a
	// valid message (AnomOverrun / AnomBodyOnBodiless); OverrunPos is where they began.
	OverrunBytes int64
	OverrunPos   flow.Pos
	// SkippedBytes counts bytes skipped after this message when it did not end
	// cleanly (EndMalformed, e.g. a request body of unknown length) until the
	// next start line: they belong to the broken message, they are no overrun.
	SkippedBytes int64
	// DroppedHeaders counts header fields beyond Options.MaxHeaders (not kept).
	DroppedHeaders int
}

// Has reports whether the message recorded anomaly a.
func (m *Message) Has(a Anomaly) bool {
	for _, x := range m.Anomalies {
		if x == a {
			return true
		}
	}
	return false
}

// Get returns the first value of the named header (case-insensitive) and whether it exists.
func (m *Message) Get(name string) (string, bool) {
	for _, h := range m.Headers {
		if equalFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// Values returns every value of the named header (case-insensitive), in order.
func (m *Message) Values(name string) []string {
	var vs []string
	for _, h := range m.Headers {
		if equalFold(h.Name, name) {
			vs = append(vs, h.Value)
		}
	}
	return vs
}

// HasToken reports whether a comma-separated header (Connection, Transfer-Encoding,
// ...) contains token, case-insensitively.
// It walks the headers in place: the engine asks it of every transaction,
// and Values would allocate a slice each time (issue 15).
func (m *Message) HasToken(name, token string) bool {
	for _, h := range m.Headers {
		if !equalFold(h.Name, name) {
			continue
		}
		for t := range HeaderTokens(h.Value) {
			if equalFold(t, token) {
				return true
			}
		}
	}
	return false
}

// Transaction is a request and the response(s) paired with it in FIFO order.
type Transaction struct {
	Index    int        // 0-based on the connection; shown to users 1-based
	Request  *Message   // nil for an unsolicited response (no request outstanding)
	Interim  []*Message // 1xx responses before the final one
	Response *Message   // nil when no response came
	// Unsolicited is true when Response arrived with no request outstanding
	// (and no capture gap or mid-stream start could explain the missing request).
	Unsolicited bool
	// Gap is true when a capture gap (or a mid-stream start) makes this
	// transaction's pairing uncertain: its request or response was lost in a
	// hole, or it was paired across one. Rules stay silent on such transactions.
	Gap bool
}

// Handler receives what a Conversation finds, synchronously.
type Handler interface {
	// Message is called once per message when it is complete or has ended.
	Message(m *Message)
	// Transaction is called when a transaction is settled: its final response is
	// complete, or the connection ended without one. Transactions are delivered
	// in Index order.
	Transaction(t *Transaction)
}

// Options bound the parser's memory.
type Options struct {
	MaxHeaderBytes int // start line + header block; beyond this the message is cut (default 64 KiB)
	MaxHeaders     int // header fields kept per message (default 200)
	MaxPending     int // requests waiting for a response before the oldest is settled unanswered (default 1024)
}

// ErrNotHTTP is reported by Conversation.Err when a direction's bytes do not
// look like HTTP/1.x at all; the conversation then ignores further data.
var ErrNotHTTP = errors.New("not HTTP/1.x")

// NameEqual reports whether two header field names are the same name as
// Message.Get and Values compare them: ASCII letters without case, every
// other byte as it is (unlike strings.EqualFold, no Unicode folding: the
// Kelvin sign is not a k in a field name).
func NameEqual(a, b string) bool { return equalFold(a, b) }

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// HeaderTokens returns the elements of a comma-separated header value (an
// RFC 9110 §5.6.1 list such as Connection, Transfer-Encoding or
// Keep-Alive), in order, each with its surrounding whitespace (SP, HTAB)
// trimmed; empty elements ("a, ,b") are skipped. It splits on every comma,
// quoted strings included, and does not allocate.
func HeaderTokens(v string) iter.Seq[string] {
	return func(yield func(string) bool) {
		start := 0
		for i := 0; i <= len(v); i++ {
			if i == len(v) || v[i] == ',' {
				if t := trimOWS(v[start:i]); t != "" && !yield(t) {
					return
				}
				start = i + 1
			}
		}
	}
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
