package framing

import (
	"strconv"
	"strings"
	"testing"

	"github.com/connlint/connlint/analyze/analyzetest"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

// engineHandler hands what the real HTTP/1 parser finds to a Script's engine.
type engineHandler struct{ s *analyzetest.Script }

func (h engineHandler) Message(m *http1.Message) {
	h.s.E.Message(h.s.C, m)
	if m.Last.Ord > h.s.C.Last.Ord {
		h.s.C.Last = m.Last
	}
}

func (h engineHandler) Transaction(t *http1.Transaction) { h.s.E.Transaction(h.s.C, t) }

// transcript runs one connection through http1.Conversation and the rules,
// one packet per line (the reassembly/http1 harness format):
//
//	>>> GET / HTTP/1.1\r\n\r\n    client data (Go escapes)
//	<<< HTTP/1.1 200 OK\r\n...    server data
//	<>< s 12                      a server gap of 12 bytes (c: client)
//	<<| fin                       the server ends (fin, rst, cap); >>| the client
//
// Line n is frame n at n*10 ms. The connection ends at the capture's end.
func transcript(t *testing.T, s *analyzetest.Script, in string) {
	t.Helper()
	conv := http1.NewConversation(engineHandler{s}, http1.Options{}, false)
	var off [2]uint64
	frame := int64(1)
	for _, line := range strings.Split(in, "\n") {
		line = strings.TrimLeft(line, " \t")
		if line == "" {
			continue
		}
		frame++
		pos := analyzetest.At(frame, float64(frame*10))
		mark, rest := line[:3], line[4:]
		d := flow.ClientToServer
		if mark[0] == '<' && mark != "<><" {
			d = flow.ServerToClient
		}
		pos.Offset = off[d]
		switch mark {
		case ">>>", "<<<":
			u, err := strconv.Unquote(`"` + strings.ReplaceAll(rest, `"`, `\"`) + `"`)
			if err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			conv.Feed(d, []byte(u), pos)
			off[d] += uint64(len(u))
			s.C.Halves[d].Bytes += uint64(len(u))
			s.C.Halves[d].Segments++
		case "<><":
			f := strings.Fields(rest)
			if f[0] == "s" {
				d = flow.ServerToClient
			}
			n, _ := strconv.ParseUint(f[1], 10, 64)
			pos.Offset = off[d]
			conv.Gap(d, n, pos)
			s.C.Gaps = append(s.C.Gaps, reassembly.Gap{Dir: d, Offset: off[d], Bytes: n, After: pos})
			off[d] += n
		case ">>|", "<<|":
			how := map[string]flow.CloseKind{"fin": flow.CloseFIN, "rst": flow.CloseRST, "cap": flow.CloseCaptureEnd}[rest]
			p := pos
			switch how {
			case flow.CloseFIN:
				s.C.Halves[d].FIN = &p
			case flow.CloseRST:
				s.C.Halves[d].RST = &p
				conv.End(1-d, how, pos)
			}
			conv.End(d, how, pos)
		default:
			t.Fatalf("line %q: marker %q", line, mark)
		}
		s.C.Last = pos
	}
	conv.Finish(s.C.Last)
}
