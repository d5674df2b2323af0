package analyze

import (
	"strconv"

	"github.com/connlint/connlint/reassembly/http1"
)

// Rules is the catalogue. A plain slice, like cmd/vet's suite: adding a rule
// is adding a line to its family's list and a file beside its test.
var Rules = concat(framingRules, timingRules, lifecycleRules, proxyRules)

func concat(lists ...[]*Rule) []*Rule {
	var out []*Rule
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// framingRules check HTTP/1.x message framing and request/response order.
var framingRules = []*Rule{
	ContentLengthMismatch,
	ConflictingFraming,
	BodyOnBodilessResponse,
	UnframedPersistentResponse,
	Pipelining,
	PipelinedUnsafeMethod,
	RequestAfterClose,
	UnsolicitedResponse,
	InconsistentOverlap,
}

// frameAt turns a stream position into an evidence frame.
func frameAt(p http1.Pos) Frame { return Frame{Input: p.Input, Frame: p.Frame} }

// frames builds an evidence list from positions, skipping unset ones and
// repeats, in the order given.
func frames(ps ...http1.Pos) []Frame {
	var out []Frame
	for _, p := range ps {
		if p.Frame == 0 {
			continue
		}
		f := frameAt(p)
		dup := false
		for _, g := range out {
			if g == f {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// idempotent reports whether method is idempotent (RFC 9110 §9.2.2): safe to
// resend and to pipeline.
func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// describe names a message the way findings do: "POST /upload" or "response 200".
func describe(m *http1.Message) string {
	if m == nil {
		return "message"
	}
	if m.Dir == http1.ClientToServer {
		t := m.Target
		if len(t) > 80 {
			t = t[:77] + "..."
		}
		return m.Method + " " + t
	}
	return "response " + strconv.Itoa(m.Status)
}

// Lookup finds a rule by ID.
func Lookup(id string) *Rule {
	for _, r := range Rules {
		if r.ID == id {
			return r
		}
	}
	return nil
}
