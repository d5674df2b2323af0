package analyze

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// Evidence and wording helpers every rule family uses.

// FrameAt turns a stream position into an evidence frame.
func FrameAt(p flow.Pos) Frame { return Frame{Input: p.Input, Frame: p.Frame} }

// Frames builds an evidence list from positions, skipping unset ones and
// repeats, in the order given.
func Frames(ps ...flow.Pos) []Frame {
	var out []Frame
	for _, p := range ps {
		if p.Frame == 0 {
			continue
		}
		f := FrameAt(p)
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

// SortedFrames is Frames in capture order (by ordinal), so evidence reads
// in the order it happened whatever order a rule names it in.
func SortedFrames(ps ...flow.Pos) []Frame {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b flow.Pos) int { return cmp.Compare(a.Ord, b.Ord) })
	return Frames(ps...)
}

// Plural is a count with its noun, for messages: "1 request", "3 requests".
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// WasWere is the verb that agrees with a count.
func WasWere(n int) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// Idempotent reports whether method is idempotent (RFC 9110 §9.2.2): safe to
// resend and to pipeline.
func Idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// Describe names a message the way findings do: "POST /upload" or "response 200".
func Describe(m *http1.Message) string {
	if m == nil {
		return "message"
	}
	if m.Dir == flow.ClientToServer {
		if m.Has(http1.AnomJunkRequest) {
			return "a malformed request"
		}
		t := m.Target
		if len(t) > 80 {
			t = t[:77] + "..."
		}
		return m.Method + " " + t
	}
	return "response " + strconv.Itoa(m.Status)
}
