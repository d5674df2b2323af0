package proxy

import (
	"hash/fnv"
	"strings"
	"testing"

	"github.com/connlint/connlint/reassembly/http1"
)

// TestLegHashesAreFNV: the written-out hashes give hash/fnv's values (the
// field-name hash lower-cases first; the signature separates with 0
// bytes), and isHopName's length filter lets every hop-by-hop name through.
func TestLegHashesAreFNV(t *testing.T) {
	for _, n := range []string{"", "Host", "CONNECTION", "x-Forwarded-For", "Proxy-Authorization", "ä-Ünïcode"} {
		h := fnv.New32a()
		h.Write([]byte(strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, n)))
		if got, want := nameHash(n), h.Sum32(); got != want {
			t.Errorf("nameHash(%q) = %#x, want %#x", n, got, want)
		}
	}
	m := &http1.Message{Target: "/a?b", Headers: []http1.Header{{Name: "Host", Value: "x"}, {Name: "Connection", Value: "close"}, {Name: "", Value: ""}}}
	h := fnv.New64a()
	h.Write([]byte(m.Target))
	for _, f := range m.Headers {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write([]byte(f.Value))
		h.Write([]byte{0})
	}
	if got, want := newLegMsg(m).sig, h.Sum64(); got != want {
		t.Errorf("sig = %#x, want %#x", got, want)
	}
	for _, n := range append(hopByHopNames[:], "Connection", "connection", "te", "KEEP-ALIVE", "\u212Aeep-Alive") {
		if !isHopName(n) {
			t.Errorf("isHopName(%q) = false", n)
		}
	}
	for _, n := range []string{"Host", "Via", "Content-Length", "Keep-Alives", "T"} {
		if isHopName(n) {
			t.Errorf("isHopName(%q) = true", n)
		}
	}
}
