package http1

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/connlint/connlint/reassembly/flow"
)

// Transcripts in the libhtp style, one packet per line:
//
//	>>> GET / HTTP/1.1\r\n\r\n      client data (Go escapes: \r \n \t \xNN \\)
//	<<< HTTP/1.1 200 OK\r\n...      server data
//	<>< c 12                         a client gap of 12 bytes (s: server)
//	>>| fin                          the client ends (fin, rst, cap); <<| for the server
//
// Finish is called after the last line. A line's Ord is its line number, so
// cross-direction order is the order of the lines.

type step struct {
	dir  flow.Dir
	kind uint8 // evData, evGap, evEnd
	data []byte
	n    uint64
	how  flow.CloseKind
	ord  int64
}

func parseTranscript(t testing.TB, s string) []step {
	var steps []step
	for i, line := range strings.Split(s, "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			continue
		}
		if len(line) < 4 {
			t.Fatalf("transcript line %d: %q", i+1, line)
		}
		mark, rest := line[:3], line[4:]
		st := step{ord: int64(len(steps) + 1)}
		switch mark {
		case ">>>", "<<<":
			st.dir = flow.ClientToServer
			if mark == "<<<" {
				st.dir = flow.ServerToClient
			}
			u, err := strconv.Unquote(`"` + strings.ReplaceAll(rest, `"`, `\"`) + `"`)
			if err != nil {
				t.Fatalf("transcript line %d: %v", i+1, err)
			}
			st.kind, st.data = evData, []byte(u)
		case "<><":
			f := strings.Fields(rest)
			if len(f) != 2 {
				t.Fatalf("transcript line %d: want '<>< c|s N'", i+1)
			}
			st.dir = flow.ClientToServer
			if f[0] == "s" {
				st.dir = flow.ServerToClient
			}
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatalf("transcript line %d: %v", i+1, err)
			}
			st.kind, st.n = evGap, n
		case ">>|", "<<|":
			st.dir = flow.ClientToServer
			if mark == "<<|" {
				st.dir = flow.ServerToClient
			}
			st.kind = evEnd
			switch rest {
			case "fin":
				st.how = flow.CloseFIN
			case "rst":
				st.how = flow.CloseRST
			case "cap":
				st.how = flow.CloseCaptureEnd
			default:
				t.Fatalf("transcript line %d: end %q", i+1, rest)
			}
		default:
			t.Fatalf("transcript line %d: marker %q", i+1, mark)
		}
		steps = append(steps, st)
	}
	return steps
}

// recorder is a Handler that keeps everything and checks the callback contract.
type recorder struct {
	t    testing.TB
	msgs []*Message
	txs  []*Transaction
	seen map[*Message]bool
}

func (r *recorder) Message(m *Message) {
	if r.seen == nil {
		r.seen = map[*Message]bool{}
	}
	if r.seen[m] {
		r.t.Errorf("message %s delivered twice", msgSummary(m))
	}
	r.seen[m] = true
	r.msgs = append(r.msgs, m)
}

func (r *recorder) Transaction(tx *Transaction) {
	if tx.Index != len(r.txs) {
		r.t.Errorf("transaction index %d, want %d", tx.Index, len(r.txs))
	}
	for _, m := range []*Message{tx.Request, tx.Response} {
		if m != nil && !r.seen[m] {
			r.t.Errorf("transaction %d refers to undelivered message %s", tx.Index, msgSummary(m))
		}
	}
	r.txs = append(r.txs, tx)
}

// split cuts n bytes into pieces; nil means one piece.
type splitter func(n int) []int

// run feeds the steps; split decides how each data line is cut into packets.
func run(t testing.TB, steps []step, opts Options, midStream bool, split splitter) (*recorder, *Conversation) {
	r := &recorder{t: t}
	c := NewConversation(r, opts, midStream)
	var off [2]uint64
	var ord int64
	for i, st := range steps {
		base := st.ord * 1_000_000
		pos := flow.Pos{Ord: base, Frame: base, Offset: off[st.dir]}
		switch st.kind {
		case evData:
			cuts := []int{len(st.data)}
			if split != nil {
				cuts = split(len(st.data))
			}
			b := st.data
			for k, n := range cuts {
				ord = base + int64(k)
				pos.Ord, pos.Frame = ord, ord
				// a fresh copy each time: the parser must not keep it
				piece := append([]byte(nil), b[:n]...)
				c.Feed(st.dir, piece, pos)
				for j := range piece {
					piece[j] = 'Z'
				}
				pos.Offset += uint64(n)
				b = b[n:]
			}
			off[st.dir] += uint64(len(st.data))
		case evGap:
			// pos of the packet after the hole: the next line of that direction
			next := base
			for _, s2 := range steps[i+1:] {
				if s2.dir == st.dir && s2.kind == evData {
					next = s2.ord * 1_000_000
					break
				}
			}
			pos.Ord, pos.Frame = next, next
			c.Gap(st.dir, st.n, pos)
			off[st.dir] += st.n
		case evEnd:
			c.End(st.dir, st.how, pos)
		}
	}
	c.Finish(flow.Pos{Ord: int64(len(steps)+1) * 1_000_000})
	return r, c
}

func whole(n int) []int { return []int{n} }

func bytewise(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

func randomSplit(rng *rand.Rand) splitter {
	return func(n int) []int {
		var s []int
		for n > 0 {
			k := 1 + rng.Intn(min(n, 1+rng.Intn(40)))
			s = append(s, k)
			n -= k
		}
		return s
	}
}

// msgSummary is a one-line description of a message without positions.
func msgSummary(m *Message) string {
	if m == nil {
		return "-"
	}
	var b strings.Builder
	if m.Dir == flow.ClientToServer {
		fmt.Fprintf(&b, "C%d %s %s %s", m.Index, m.Method, m.Target, m.Proto)
	} else {
		fmt.Fprintf(&b, "S%d %s %d %q", m.Index, m.Proto, m.Status, m.Reason)
	}
	fmt.Fprintf(&b, " %s cl=%d hb=%d body=%d/%d end=%s", m.Framing, m.ContentLength, m.HeaderBytes, m.BodyBytes, m.BodyLength, m.End)
	if m.InHeaders {
		b.WriteString(" inheaders")
	}
	if m.MissingBytes != 0 {
		fmt.Fprintf(&b, " missing=%d", m.MissingBytes)
	}
	if m.GapBytes != 0 {
		fmt.Fprintf(&b, " gapbytes=%d", m.GapBytes)
	}
	if m.OverrunBytes != 0 {
		fmt.Fprintf(&b, " overrun=%d", m.OverrunBytes)
	}
	if m.SkippedBytes != 0 {
		fmt.Fprintf(&b, " skipped=%d", m.SkippedBytes)
	}
	if m.DroppedHeaders != 0 {
		fmt.Fprintf(&b, " dropped=%d", m.DroppedHeaders)
	}
	if len(m.Anomalies) > 0 {
		b.WriteString(" [")
		for i, a := range m.Anomalies {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(a.String())
		}
		b.WriteByte(']')
	}
	for _, h := range m.Headers {
		fmt.Fprintf(&b, " %q=%q", h.Name, h.Value)
	}
	return b.String()
}

func msgRef(m *Message) string {
	if m == nil {
		return "-"
	}
	if m.Dir == flow.ClientToServer {
		return fmt.Sprintf("%s %s", m.Method, m.Target)
	}
	if m.Proto == "HTTP/0.9" {
		return "0.9"
	}
	return strconv.Itoa(m.Status)
}

// txSummary: "GET /a -> 200", plus " interim=100,100", " unsolicited", " gap".
func txSummary(tx *Transaction) string {
	s := msgRef(tx.Request) + " -> " + msgRef(tx.Response)
	if len(tx.Interim) > 0 {
		var st []string
		for _, m := range tx.Interim {
			st = append(st, strconv.Itoa(m.Status))
		}
		s += " interim=" + strings.Join(st, ",")
	}
	if tx.Unsolicited {
		s += " unsolicited"
	}
	if tx.Gap {
		s += " gap"
	}
	return s
}

// summary is the normalised result of a run, for split-invariance checks.
func (r *recorder) summary(c *Conversation) string {
	var b strings.Builder
	for _, m := range r.msgs {
		b.WriteString(msgSummary(m))
		b.WriteByte('\n')
	}
	for _, tx := range r.txs {
		b.WriteString(txSummary(tx))
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "http=%v nothttp=%v tunnel=%v\n", c.IsHTTP(), c.NotHTTP(), c.Tunnel())
	return b.String()
}
