package analyze

import (
	"net/netip"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// recorder is a Sink that keeps everything.
type recorder struct {
	findings []*Finding
	conns    []*ConnReport
}

func (r *recorder) Finding(f *Finding)       { r.findings = append(r.findings, f) }
func (r *recorder) Connection(c *ConnReport) { r.conns = append(r.conns, c) }

func (r *recorder) byRule(id string) []*Finding {
	var out []*Finding
	for _, f := range r.findings {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// at builds a position: frame n at t0 + ms milliseconds; Ord = frame.
func at(frame int64, ms float64) flow.Pos {
	return flow.Pos{Time: t0.Add(time.Duration(ms * float64(time.Millisecond))), Frame: frame, Ord: frame}
}

func newConn(id uint64) *reassembly.Conn {
	return &reassembly.Conn{
		ID:     id,
		Client: netip.MustParseAddrPort("10.0.0.1:51234"),
		Server: netip.MustParseAddrPort("10.0.0.2:80"),
		First:  at(1, 0),
		Last:   at(1, 0),
		HTTP:   true,
	}
}

func req(method, target string, start, end flow.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: flow.ClientToServer, Method: method, Target: target, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: end, Last: end, ContentLength: -1}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}

func resp(status int, start, end flow.Pos, headers ...string) *http1.Message {
	m := &http1.Message{Dir: flow.ServerToClient, Status: status, Proto: "HTTP/1.1", Major: 1, Minor: 1,
		Start: start, HeaderEnd: start, Last: end, ContentLength: -1, Framing: http1.FramingContentLength}
	for i := 0; i+1 < len(headers); i += 2 {
		m.Headers = append(m.Headers, http1.Header{Name: headers[i], Value: headers[i+1]})
	}
	return m
}
