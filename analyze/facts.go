package analyze

import (
	"strconv"
	"strings"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Facts several rules need, computed in one place.

// CloseFacts says how a connection closed: the first FIN or RST each side
// sent, and which side closed first, by capture order (Ord). The engine
// computes it once when the connection ends (Ctx.Close, ConnSummary.Close).
type CloseFacts struct {
	// Side[d] is the earlier of the FIN and the RST sent by direction d's
	// sender (a FIN wins a tie), nil when it sent neither. It points into
	// the connection's Halves, so it compares equal to Halves[d].FIN or .RST.
	Side [2]*flow.Pos
	// First is the side (flow.Dir) that closed first, -1 when neither.
	First int
}

func closeFactsOf(c *reassembly.Conn) CloseFacts {
	f := CloseFacts{First: -1}
	for d := range 2 {
		h := &c.Halves[d]
		f.Side[d] = h.FIN
		if h.RST != nil && (h.FIN == nil || h.RST.Ord < h.FIN.Ord) {
			f.Side[d] = h.RST
		}
		if p := f.Side[d]; p != nil && (f.First < 0 || p.Ord < f.Side[f.First].Ord) {
			f.First = d
		}
	}
	return f
}

// FirstPos is the connection's first FIN or RST, nil when none.
func (f *CloseFacts) FirstPos() *flow.Pos {
	if f.First < 0 {
		return nil
	}
	return f.Side[f.First]
}

// RST reports whether side d's first close was a RST.
func (f *CloseFacts) RST(c *reassembly.Conn, d flow.Dir) bool {
	return f.Side[d] != nil && f.Side[d] == c.Halves[d].RST
}

// OffersPersistence reports whether a response leaves the connection open by
// its headers: HTTP/1.1 without Connection: close, or keep-alive asked for
// (RFC 9112 §9.3).
func OffersPersistence(resp *http1.Message) bool {
	return offersPersistence(resp, resp.HasToken("Connection", "close"))
}

// offersPersistence is OffersPersistence with resp's Connection: close
// already looked up (closes): the engine has it at hand for every response.
func offersPersistence(resp *http1.Message, closes bool) bool {
	return !closes && (resp.Major == 1 && resp.Minor >= 1 || resp.HasToken("Connection", "keep-alive"))
}

// KeepAlive is a parsed Keep-Alive header (RFC 2068 §19.7.1.1, kept alive by
// practice): timeout in seconds, max = requests still allowed.
type KeepAlive struct {
	Present    bool
	HasTimeout bool
	Timeout    time.Duration
	HasMax     bool
	Max        int
}

// ParseKeepAlive reads m's Keep-Alive fields; the first valid timeout and
// max win.
func ParseKeepAlive(m *http1.Message) KeepAlive {
	var ka KeepAlive
	// the headers are walked in place (Values would allocate a slice): the
	// engine and two lifecycle rules ask this of every response (issue 15)
	for _, h := range m.Headers {
		if !http1.NameEqual(h.Name, "Keep-Alive") {
			continue
		}
		v := h.Value
		ka.Present = true
		for p := range http1.HeaderTokens(v) {
			name, val, _ := strings.Cut(p, "=")
			val = strings.Trim(strings.TrimSpace(val), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "timeout":
				if n, err := strconv.Atoi(val); err == nil && n >= 0 && !ka.HasTimeout {
					ka.HasTimeout, ka.Timeout = true, time.Duration(n)*time.Second
				}
			case "max":
				if n, err := strconv.Atoi(val); err == nil && n >= 0 && !ka.HasMax {
					ka.HasMax, ka.Max = true, n
				}
			}
		}
	}
	return ka
}
