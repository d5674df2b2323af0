package http1

import "github.com/connlint/connlint/reassembly/flow"

// Start-line recognition. The same scanner answers three questions: is this
// candidate line (possibly still incomplete) a request/status line, what are
// its parts, and — for sniffing — does a prefix look like one. It is strict
// where strictness keeps other protocols out (TLS, SSH, SMTP, binary: the
// method is letters, '-' and '_' only and an "HTTP/1." version is required,
// except for the HTTP/0.9 form "GET /path") and lenient where real servers
// are (several spaces, bare LF, trailing spaces), recording the leniency.

type verdict uint8

const (
	needMore verdict = iota // the prefix is consistent with a start line; read more
	isStart                 // a complete, valid start line
	notStart                // cannot be a start line
)

// maxMethodLen bounds the method token: the longest registered methods
// (UPDATEREDIRECTREF, BASELINE-CONTROL) are 17 letters.
const maxMethodLen = 24

// startLine describes a scanned start line as spans into the candidate bytes.
type startLine struct {
	methodEnd        int // request: method is b[:methodEnd]
	targetStart      int
	targetEnd        int
	major, minor     int
	status           int
	reasonStart      int // response: reason is b[reasonStart:reasonEnd]
	reasonEnd        int
	lineLen          int // bytes including the LF
	http09           bool
	bareLF           bool
	lenient          bool // several spaces, trailing spaces: accepted but malformed
	versionComplete  bool // request prefix reached "HTTP/"
	methodComplete   bool // request prefix reached the space after the method
	statusLinePrefix bool // response prefix matched at least "HTTP/"
}

func isMethodChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_'
}

// isTargetChar accepts the visible bytes a server tolerates in a request
// target, including obs-text (UTF-8 paths are common in the wild).
func isTargetChar(c byte) bool { return c > ' ' && c != 0x7f }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// lineEnd checks b[i:] for the end of a start line: optional trailing spaces,
// then CRLF or LF. It returns the verdict and the line length.
func lineEnd(b []byte, i int, sl *startLine) verdict {
	j := i
	for j < len(b) && b[j] == ' ' {
		j++
	}
	if j > i {
		sl.lenient = true
	}
	if j == len(b) {
		return needMore
	}
	switch b[j] {
	case '\n':
		sl.bareLF = true
		sl.lineLen = j + 1
		return isStart
	case '\r':
		if j+1 == len(b) {
			return needMore
		}
		if b[j+1] != '\n' {
			return notStart
		}
		sl.lineLen = j + 2
		return isStart
	}
	return notStart
}

// version scans "HTTP/1.d" at b[i:]; it returns the verdict (isStart meaning
// "version complete"), and the index after it.
func version(b []byte, i int, sl *startLine) (verdict, int) {
	const v = "HTTP/1."
	for k := 0; k < len(v); k++ {
		if i+k == len(b) {
			return needMore, 0
		}
		if b[i+k] != v[k] {
			return notStart, 0
		}
	}
	i += len(v)
	if i == len(b) {
		return needMore, 0
	}
	if !isDigit(b[i]) {
		return notStart, 0
	}
	sl.major, sl.minor = 1, int(b[i]-'0')
	return isStart, i + 1
}

// scanRequestLine scans b, the bytes of a candidate line from its first byte
// up to and including its LF if it has arrived.
func scanRequestLine(b []byte) (verdict, startLine) {
	var sl startLine
	i := 0
	for i < len(b) && isMethodChar(b[i]) {
		i++
	}
	if i > maxMethodLen {
		return notStart, sl
	}
	if i == len(b) {
		return needMore, sl
	}
	if i == 0 || b[i] != ' ' {
		return notStart, sl
	}
	sl.methodEnd = i
	sl.methodComplete = true
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i-sl.methodEnd > 1 {
		sl.lenient = true
	}
	if i == len(b) {
		return needMore, sl
	}
	sl.targetStart = i
	for i < len(b) && isTargetChar(b[i]) {
		i++
	}
	sl.targetEnd = i
	if i == len(b) {
		return needMore, sl
	}
	if i == sl.targetStart {
		return notStart, sl
	}
	if b[i] == '\r' || b[i] == '\n' {
		// HTTP/0.9: "GET /path" and nothing else.
		if sl.methodEnd != 3 || string(b[:3]) != "GET" || b[sl.targetStart] != '/' {
			return notStart, sl
		}
		sl.http09 = true
		return lineEnd(b, i, &sl), sl
	}
	if b[i] != ' ' {
		return notStart, sl
	}
	s := i
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i-s > 1 {
		sl.lenient = true
	}
	if i == len(b) {
		return needMore, sl
	}
	if b[i] == '\r' || b[i] == '\n' {
		// "GET /path " — 0.9 with a trailing space.
		if sl.methodEnd != 3 || string(b[:3]) != "GET" || b[sl.targetStart] != '/' {
			return notStart, sl
		}
		sl.http09 = true
		return lineEnd(b, i, &sl), sl
	}
	v, j := version(b, i, &sl)
	if v != isStart {
		if v == needMore {
			sl.versionComplete = len(b)-i >= 5
		}
		return v, sl
	}
	sl.versionComplete = true
	return lineEnd(b, j, &sl), sl
}

// scanStatusLine scans a candidate status line: HTTP/1.d SP 3DIGIT [SP reason].
func scanStatusLine(b []byte) (verdict, startLine) {
	var sl startLine
	v, i := version(b, 0, &sl)
	if v != isStart {
		sl.statusLinePrefix = v == needMore && len(b) >= 5
		return v, sl
	}
	sl.statusLinePrefix = true
	s := i
	for i < len(b) && b[i] == ' ' {
		i++
	}
	if i == len(b) {
		return needMore, sl
	}
	if i == s {
		return notStart, sl
	}
	if i-s > 1 {
		sl.lenient = true
	}
	for k := 0; k < 3; k++ {
		if i+k == len(b) {
			return needMore, sl
		}
		if !isDigit(b[i+k]) {
			return notStart, sl
		}
		sl.status = sl.status*10 + int(b[i+k]-'0')
	}
	i += 3
	if i == len(b) {
		return needMore, sl
	}
	switch b[i] {
	case '\r', '\n':
		sl.reasonStart, sl.reasonEnd = i, i
		return lineEnd(b, i, &sl), sl
	case ' ':
	default:
		return notStart, sl
	}
	i++
	sl.reasonStart = i
	for ; i < len(b) && b[i] != '\n'; i++ {
		c := b[i]
		if c == '\r' && (i+1 == len(b) || b[i+1] == '\n') {
			continue
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return notStart, sl
		}
	}
	if i == len(b) {
		return needMore, sl
	}
	sl.lineLen = i + 1
	sl.reasonEnd = i
	if i > sl.reasonStart && b[i-1] == '\r' {
		sl.reasonEnd = i - 1
	} else {
		sl.bareLF = true
	}
	return isStart, sl
}

func scanStart(d flow.Dir, b []byte) (verdict, startLine) {
	if d == flow.ClientToServer {
		return scanRequestLine(b)
	}
	return scanStatusLine(b)
}

// KnownMethod returns the shared constant for a registered method name, ""
// for any other: what the parser already put in Message.Method for those,
// so a caller that keeps a method past its message need only copy the rest.
func KnownMethod(m string) string { return knownMethod([]byte(m)) }

// knownMethod maps a method token to a constant string (no allocation for the
// common ones) or returns "" if it is not a registered method.
func knownMethod(b []byte) string {
	switch string(b) {
	case "GET":
		return "GET"
	case "HEAD":
		return "HEAD"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	case "OPTIONS":
		return "OPTIONS"
	case "TRACE":
		return "TRACE"
	case "CONNECT":
		return "CONNECT"
	case "PATCH":
		return "PATCH"
	case "PROPFIND":
		return "PROPFIND"
	case "PROPPATCH":
		return "PROPPATCH"
	case "MKCOL":
		return "MKCOL"
	case "COPY":
		return "COPY"
	case "MOVE":
		return "MOVE"
	case "LOCK":
		return "LOCK"
	case "UNLOCK":
		return "UNLOCK"
	case "REPORT":
		return "REPORT"
	case "SEARCH":
		return "SEARCH"
	case "PURGE":
		return "PURGE"
	}
	return ""
}

func firstLine(b []byte) []byte {
	for i, c := range b {
		if c == '\n' {
			return b[:i+1]
		}
	}
	return b
}

// SenderDir reports which side of a connection sent b, the first payload
// seen from it: ClientToServer when b starts like a request line,
// ServerToClient when it starts like a status line, ok false when it is
// neither. It is the role sniffer a reassembly.ConsumerFactory offers for
// captures that missed the handshake.
func SenderDir(b []byte) (d flow.Dir, ok bool) {
	switch {
	case LooksLikeRequest(b):
		return flow.ClientToServer, true
	case LooksLikeResponse(b):
		return flow.ServerToClient, true
	}
	return 0, false
}

// LooksLikeRequest reports whether b starts like an HTTP/1.x request line.
// b may be a prefix of a line: a complete line must be a valid request line;
// an incomplete one must at least have a registered method and a space.
func LooksLikeRequest(b []byte) bool {
	v, sl := scanRequestLine(firstLine(b))
	switch v {
	case isStart:
		return true
	case needMore:
		return sl.methodComplete && (sl.versionComplete || knownMethod(b[:sl.methodEnd]) != "")
	}
	return false
}

// LooksLikeResponse reports whether b starts like an HTTP/1.x status line
// (at least "HTTP/" when b is a prefix).
func LooksLikeResponse(b []byte) bool {
	v, sl := scanStatusLine(firstLine(b))
	return v == isStart || v == needMore && sl.statusLinePrefix
}
