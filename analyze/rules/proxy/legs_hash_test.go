package proxy

import (
	"hash/fnv"
	"hash/maphash"
	"strings"
	"testing"

	"github.com/connlint/connlint/reassembly/http1"
)

// TestLegHashes: the written-out field-name hash gives hash/fnv's value
// (lower-casing first); the signature is hash/maphash's over the target and
// every field, the target and each name and value closed by a 0 byte, so that moving bytes
// between a name and its value, or between fields, changes it; and
// isHopName's length filter lets every hop-by-hop name through.
func TestLegHashes(t *testing.T) {
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
	var h maphash.Hash
	h.SetSeed(sigSeed)
	h.Write([]byte(m.Target))
	h.Write([]byte{0})
	for _, f := range m.Headers {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write([]byte(f.Value))
		h.Write([]byte{0})
	}
	if got, want := newLegMsg(m).sig, h.Sum64(); got != want {
		t.Errorf("sig = %#x, want %#x", got, want)
	}
	sig := func(target string, hs ...http1.Header) uint64 {
		return newLegMsg(&http1.Message{Target: target, Headers: hs}).sig
	}
	same := sig("/", http1.Header{Name: "A", Value: "b"})
	if again := sig("/", http1.Header{Name: "A", Value: "b"}); again != same {
		t.Errorf("equal messages: sig %#x, then %#x", same, again)
	}
	for _, other := range []uint64{
		sig("/", http1.Header{Name: "Ab", Value: ""}),
		sig("/A", http1.Header{Name: "", Value: "b"}),
		sig("/", http1.Header{Name: "A", Value: ""}, http1.Header{Name: "b", Value: ""}),
		sig("/", http1.Header{Name: "a", Value: "b"}),
	} {
		if other == same {
			t.Errorf("a different message has the same sig %#x", same)
		}
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
