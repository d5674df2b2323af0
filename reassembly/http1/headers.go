package http1

import "strings"
import "github.com/connlint/connlint/reassembly/flow"

// parseHeaderBlock fills m from block, the start line and header lines as
// received. Only complete lines are used, so a block cut by FIN or a gap
// yields the fields that did arrive. Every string in m is a substring of one
// copy of the block: one allocation for the lot (plus obs-fold joins). The
// fields go in the room m.Headers was made with (newMessage) if it is
// enough, else in a slice of their own. fields is the number of lines
// between the start line and the empty line that ends the block when the
// caller counted them (fastMessage), else -1.
func (c *Conversation) parseHeaderBlock(m *Message, block []byte, sl lineSpans, fields int) {
	room := m.Headers
	m.Headers = nil
	s := string(block)
	if m.Dir == flow.ClientToServer {
		if m.Method == "" {
			m.Method = s[:sl.methodEnd]
		}
		m.Target = s[sl.targetStart:sl.targetEnd]
	} else {
		m.Reason = s[sl.reasonStart:sl.reasonEnd]
	}
	if sl.lineLen == 0 || int(sl.lineLen) > len(s) || sl.http09 {
		return
	}
	rest := s[sl.lineLen:]
	// At most one field per line, not counting the empty line that ends a
	// complete block: a capacity one larger would often put the slice in
	// the next size class (issue 15). A block of no fields still gets a
	// non-nil empty slice, as it always has. The fast path counted the
	// lines already (the empty line is one more).
	n, lines := fields, fields+1
	if fields < 0 {
		lines = strings.Count(rest, "\n")
		n = lines
		if endsInEmptyLine(rest) {
			n--
		}
	}
	if lines > 0 {
		if n = min(n, c.opts.MaxHeaders); room != nil && n <= cap(room) {
			m.Headers = room[:0:n]
		} else {
			m.Headers = make([]Header, 0, n)
		}
	}
	kept := -1 // index of the last kept header, the target of obs-fold
	for len(rest) > 0 {
		nl := strings.IndexByte(rest, '\n')
		if nl < 0 {
			break // incomplete last line
		}
		line := rest[:nl]
		rest = rest[nl+1:]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		} else {
			m.addAnomaly(AnomBareLF)
		}
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold (RFC 9112 §5.2): the line continues the previous value.
			m.addAnomaly(AnomObsFold)
			if kept >= 0 {
				h := &m.Headers[kept]
				if isFramingHeader(h.Name) {
					// a parser that does not unfold sees another framing
					m.addAnomaly(AnomObscuredFraming)
				}
				if v := trimOWS(line); v != "" {
					if h.Value == "" {
						h.Value = v
					} else {
						h.Value = h.Value + " " + v
					}
				}
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			m.addAnomaly(AnomHeaderNoColon)
			kept = -1
			continue
		}
		name := line[:colon]
		if tn := trimOWS(name); len(tn) != len(name) {
			m.addAnomaly(AnomWhitespaceBeforeColon)
			name = tn
			if isFramingHeader(name) {
				// "Transfer-Encoding : chunked": RFC 9112 §5.1 says reject;
				// servers that accept it disagree with those that ignore it
				m.addAnomaly(AnomObscuredFraming)
			}
			if name == "" {
				m.addAnomaly(AnomHeaderNoColon)
				kept = -1
				continue
			}
		}
		if len(m.Headers) >= c.opts.MaxHeaders {
			if m.DroppedHeaders == 0 {
				m.addAnomaly(AnomTooManyHeaders)
			}
			m.DroppedHeaders++
			kept = -1
			continue
		}
		m.Headers = append(m.Headers, Header{Name: name, Value: trimOWS(line[colon+1:])})
		kept = len(m.Headers) - 1
	}
}

// endsInEmptyLine reports whether rest, header lines after the start line,
// ends with an empty line (LF or CRLF alone on its line).
func endsInEmptyLine(rest string) bool {
	switch {
	case rest == "\n" || rest == "\r\n":
		return true
	case strings.HasSuffix(rest, "\n\n"), strings.HasSuffix(rest, "\n\r\n"):
		return true
	}
	return false
}

func (m *Message) addAnomaly(a Anomaly) {
	if !m.Has(a) {
		m.Anomalies = append(m.Anomalies, a)
	}
}

// clInfo summarises the Content-Length fields of a message.
type clInfo struct {
	present      bool
	invalid      bool // a value that is not a non-negative decimal fitting int64
	differ       bool // several values that differ
	repeated     bool // several values, all equal
	leadingZeros bool
	first        int64
}

func contentLength(hs []Header) clInfo {
	var ci clInfo
	count := 0
	for _, h := range hs {
		if !equalFold(h.Name, "Content-Length") {
			continue
		}
		ci.present = true
		v := h.Value
		for {
			elem := v
			comma := strings.IndexByte(v, ',')
			if comma >= 0 {
				elem, v = v[:comma], v[comma+1:]
			}
			n, ok, lz := parseDecimal(trimOWS(elem))
			switch {
			case !ok:
				ci.invalid = true
			case count == 0:
				ci.first = n
			case n != ci.first:
				ci.differ = true
			}
			if lz {
				ci.leadingZeros = true
			}
			count++
			if comma < 0 {
				break
			}
		}
	}
	ci.repeated = count > 1 && !ci.differ && !ci.invalid
	return ci
}

// parseDecimal parses a Content-Length value: digits only, at most int64.
// Leading zeros are allowed (and reported) however many there are.
func parseDecimal(s string) (n int64, ok, leadingZeros bool) {
	if s == "" {
		return 0, false, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false, false
		}
	}
	if len(s) > 1 && s[0] == '0' {
		leadingZeros = true
		for len(s) > 1 && s[0] == '0' {
			s = s[1:]
		}
	}
	if len(s) > 19 {
		return 0, false, leadingZeros
	}
	var u uint64
	for i := 0; i < len(s); i++ {
		u = u*10 + uint64(s[i]-'0')
	}
	if u > 1<<63-1 {
		return 0, false, leadingZeros
	}
	return int64(u), true, leadingZeros
}

// transferEncoding reports whether a Transfer-Encoding field is present and
// whether chunked is its final coding (RFC 9112 §6.1). Empty list elements
// are skipped as the list syntax allows; anything else in last place
// (including ".chunked") means the body is not chunked.
func transferEncoding(hs []Header) (present, chunked bool) {
	last := ""
	for _, h := range hs {
		if !equalFold(h.Name, "Transfer-Encoding") {
			continue
		}
		present = true
		v := h.Value
		for v != "" {
			elem := v
			comma := strings.IndexByte(v, ',')
			if comma >= 0 {
				elem, v = v[:comma], v[comma+1:]
			} else {
				v = ""
			}
			if semi := strings.IndexByte(elem, ';'); semi >= 0 {
				elem = elem[:semi]
			}
			if elem = trimOWS(elem); elem != "" {
				last = elem
			}
		}
	}
	return present, present && equalFold(last, "chunked")
}

// hasHeader reports whether the named header is present (no allocation).
func hasHeader(hs []Header, name string) bool {
	for _, h := range hs {
		if equalFold(h.Name, name) {
			return true
		}
	}
	return false
}

// isFramingHeader: the headers that decide where a message ends.
func isFramingHeader(name string) bool {
	return equalFold(name, "Transfer-Encoding") || equalFold(name, "Content-Length")
}
