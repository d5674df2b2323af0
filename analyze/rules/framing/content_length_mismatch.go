// Package framing holds the rules about HTTP/1.x message framing and
// request/response order (content-length-mismatch ... inconsistent-overlap).
package framing

import (
	"fmt"

	"github.com/connlint/connlint/analyze"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// ContentLengthMismatch: a message ended at a different length than its
// framing says — cut short by FIN/RST/capture end, or followed by bytes that
// do not start a message.
var ContentLengthMismatch = &analyze.Rule{
	ID:       "content-length-mismatch",
	Severity: analyze.Error,
	Title:    "message length differs from its framing (truncated or overrun)",
	NewConn:  func(*analyze.Config) any { return &contentLengthMismatch{} },
}

type contentLengthMismatch struct {
	// conflicts are the latest retransmissions/overlaps whose bytes differed
	// from the first copy (what inconsistent-overlap reports).
	conflicts []reassembly.Inconsistency
}

// maxConflicts bounds the overlaps remembered per connection; an overrun is
// judged soon after the packet that carried it.
const maxConflicts = 16

var (
	_ analyze.TransactionChecker   = (*contentLengthMismatch)(nil)
	_ analyze.InconsistencyChecker = (*contentLengthMismatch)(nil)
)

func (c *contentLengthMismatch) Inconsistency(ctx *analyze.Ctx, x reassembly.Inconsistency) {
	if len(c.conflicts) == maxConflicts {
		c.conflicts = append(c.conflicts[:0], c.conflicts[1:]...)
	}
	c.conflicts = append(c.conflicts, x)
}

// fromConflict reports whether m's overrun bytes came from a payload whose
// overlap conflicted: the packet that carried them is the one with
// different bytes (the QUANTUM INSERT shape: a short injected response is
// kept, the real one's tail reads as extra bytes), or they lie in the
// conflicting range. inconsistent-overlap reports that cause; an overrun
// for the same bytes would count it twice.
func (c *contentLengthMismatch) fromConflict(m *http1.Message) bool {
	p := m.OverrunPos
	for _, x := range c.conflicts {
		if x.Dir != m.Dir {
			continue
		}
		if x.Second.Ord == p.Ord || p.Offset >= x.Offset && p.Offset < x.Offset+uint64(x.Bytes) {
			return true
		}
	}
	return false
}

func (c *contentLengthMismatch) Transaction(ctx *analyze.Ctx, t *http1.Transaction) {
	if t.Gap {
		return
	}
	for _, m := range []*http1.Message{t.Request, t.Response} {
		if m == nil || m.End == http1.EndGap || m.GapBytes > 0 && !shortDespiteHoles(ctx.Conn, m) {
			continue
		}
		if peerAbsent(ctx.Conn, t, m) {
			continue
		}
		// with contradictory framing the length itself is in doubt:
		// conflicting-framing reports that, a truncation would be noise
		if f, ok := truncation(ctx.Conn, m); ok && !framingInDoubt(m) && !refusedBeforeBody(t, m) {
			f.Transaction = t.Index + 1
			ctx.Report(f)
		}
		if m.GapBytes > 0 {
			continue // what a hole held may have started the next message
		}
		if f, ok := overrun(m); ok && !c.fromConflict(m) {
			f.Transaction = t.Index + 1
			ctx.Report(f)
		}
	}
}

func truncation(c *reassembly.Conn, m *http1.Message) (analyze.Finding, bool) {
	var by string
	var endPos *flow.Pos
	h := &c.Halves[m.Dir]
	switch m.End {
	case http1.EndFIN:
		by, endPos = "FIN", h.FIN
	case http1.EndRST:
		// the RST may come from either side; the sender's own RST is the usual case
		by, endPos = "RST", h.RST
		if endPos == nil {
			endPos = c.Halves[1-m.Dir].RST
		}
	case http1.EndCaptureEnd:
		if c.End == reassembly.EndEvicted || c.End == reassembly.EndIdle {
			// connlint stopped following the connection (table full, idle):
			// the rest of the message may well have come
			return analyze.Finding{}, false
		}
		by = "the end of the capture"
	default:
		return analyze.Finding{}, false
	}
	var what string
	switch {
	case m.InHeaders:
		what = fmt.Sprintf("%s: header block cut by %s after %d bytes, before the blank line that ends it", analyze.Describe(m), by, m.HeaderBytes)
	case m.Framing == http1.FramingContentLength && m.MissingBytes > 0 && m.GapBytes > 0:
		what = fmt.Sprintf("%s truncated by %s: at least %d of %d body bytes (Content-Length) missing; %d arrived and %d more were in capture holes",
			analyze.Describe(m), by, m.MissingBytes, m.ContentLength, m.BodyLength, m.GapBytes)
	case m.Framing == http1.FramingContentLength && m.MissingBytes > 0:
		what = fmt.Sprintf("%s truncated by %s: %d of %d body bytes (Content-Length) arrived, %d missing",
			analyze.Describe(m), by, m.BodyLength, m.ContentLength, m.MissingBytes)
	case m.Framing == http1.FramingChunked:
		what = fmt.Sprintf("%s truncated by %s: chunked body ended after %d bytes without its last chunk", analyze.Describe(m), by, m.BodyLength)
	default:
		return analyze.Finding{}, false
	}
	f := analyze.Finding{
		Time:    m.Last.Time,
		Frames:  analyze.Frames(m.Start, m.Last),
		Message: what,
		Attrs:   map[string]any{"kind": "truncated", "by": m.End.String(), "missing_bytes": m.MissingBytes},
	}
	if m.GapBytes > 0 {
		f.Attrs["hole_bytes"] = m.GapBytes
	}
	if endPos != nil {
		f.Frames = append(f.Frames, analyze.FrameAt(*endPos))
		f.Time = endPos.Time
	}
	if m.End == http1.EndCaptureEnd {
		// The capture stopped (Ctrl-C, -c, a ring-file boundary), not the
		// sender: a fact about the capture, reported at info so that it
		// never fails a lint run (DESIGN "Trust"). FIN/RST stay errors.
		f.Severity = analyze.Info
		f.Hint = "the capture stopped before the message was complete; capture longer (or with a larger snaplen/buffer) to see whether the sender finished it"
	} else {
		f.Hint = "the sender closed before writing the whole message: check the length it declares against what it writes, and errors or timeouts (proxy, load balancer) that abort the write"
	}
	return f, true
}

func overrun(m *http1.Message) (analyze.Finding, bool) {
	if !m.Has(http1.AnomOverrun) || m.OverrunBytes <= 0 {
		return analyze.Finding{}, false
	}
	// an HTTP/0.9-looking request line followed by header lines is a
	// malformed request (e.g. "GET /HTTP/1.1"), not a length mismatch
	if m.Proto == "HTTP/0.9" {
		return analyze.Finding{}, false
	}
	// (A lone empty line between messages, RFC 9112 §2.2, is no overrun:
	// the parser does not count it, in either direction.)
	if m.Framing == http1.FramingNone {
		return analyze.Finding{
			Time:    m.OverrunPos.Time,
			Frames:  analyze.Frames(m.Start, m.OverrunPos),
			Message: fmt.Sprintf("%s (no body) was followed by %d bytes that do not start an HTTP message", analyze.Describe(m), m.OverrunBytes),
			Hint:    "the sender wrote bytes outside any message: a body on a message that has none, or a broken client/server; the peer will treat them as a malformed next message",
			Attrs:   map[string]any{"kind": "overrun", "extra_bytes": m.OverrunBytes},
		}, true
	}
	var framing string
	switch m.Framing {
	case http1.FramingContentLength:
		framing = fmt.Sprintf("Content-Length: %d", m.ContentLength)
	case http1.FramingChunked:
		framing = "its last chunk"
	default:
		framing = "its framing"
	}
	return analyze.Finding{
		Time:    m.OverrunPos.Time,
		Frames:  analyze.Frames(m.Start, m.OverrunPos),
		Message: fmt.Sprintf("%s overrun: %d bytes followed the end given by %s and do not start an HTTP message", analyze.Describe(m), m.OverrunBytes, framing),
		Hint:    "the sender wrote more than it declared: compute Content-Length from the bytes actually sent (after compression/encoding), or use chunked encoding",
		Attrs:   map[string]any{"kind": "overrun", "extra_bytes": m.OverrunBytes},
	}, true
}

// peerAbsent: the capture lacks the side m's judgement needs. A request cut
// short on a connection whose server side is absent may have been answered
// early (a 413 to Expect: 100-continue); a response with no request, while
// nothing from the client was captured, has a framing that depends on the
// unseen request (HEAD, CONNECT).
func peerAbsent(c *reassembly.Conn, t *http1.Transaction, m *http1.Message) bool {
	if m.Dir == flow.ClientToServer {
		return c.OneSided && c.Missing == flow.ServerToClient
	}
	return t.Request == nil && (c.OneSided && c.Missing == flow.ClientToServer || c.Halves[flow.ClientToServer].Segments == 0)
}

// shortDespiteHoles: a Content-Length body with capture holes that its
// sender's FIN or RST then cut before the declared length. The holes hid
// bytes that were sent, so they only lower the shortfall: MissingBytes
// (declared - arrived - in holes) is missing for sure. Not when the
// message ends in a hole (nothing captured after the last one: the cut
// itself may be a capture artefact), at the end of the capture, or for
// chunked bodies (a hole loses the chunk framing).
func shortDespiteHoles(c *reassembly.Conn, m *http1.Message) bool {
	if m.Framing != http1.FramingContentLength || m.InHeaders || m.MissingBytes <= 0 ||
		m.End != http1.EndFIN && m.End != http1.EndRST {
		return false
	}
	inside := false
	for _, g := range c.Gaps {
		if g.Dir != m.Dir {
			continue
		}
		if g.Offset+g.Bytes > m.Last.Offset {
			return false // a hole after the last captured byte of the message
		}
		inside = inside || g.Offset >= m.Start.Offset
	}
	// the holes must be on record (Conn.Gaps is capped: unsure otherwise)
	return inside && c.GapsDropped == 0
}

// refusedBeforeBody: m is a request that asked for 100-continue and the
// server's final (non-1xx) answer came, with no 100 Continue, before any of
// its body was sent. RFC 9110 §10.1.1 lets the client then skip the body and
// close (curl does, for a 413 to a large upload): a short body is expected.
// After a 100 Continue, or without Expect, the truncation stands.
func refusedBeforeBody(t *http1.Transaction, m *http1.Message) bool {
	r := t.Response
	if m != t.Request || r == nil || r.Status < 200 || !m.HasToken("Expect", "100-continue") {
		return false
	}
	for _, i := range t.Interim {
		if i.Status == 100 {
			return false
		}
	}
	return m.BodyBytes == 0 || r.Start.Ord < m.BodyStart.Ord
}

// framingInDoubt: the message's own headers contradict each other about its
// length, so no length is authoritative.
func framingInDoubt(m *http1.Message) bool {
	return m.Has(http1.AnomCLAndTE) || m.Has(http1.AnomDuplicateCL) || m.Has(http1.AnomInvalidCL) || m.Has(http1.AnomInvalidTE)
}
