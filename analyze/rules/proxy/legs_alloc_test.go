package proxy

import (
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/connlint/connlint/reassembly/http1"
)

// Sinks that make the lists below escape to the heap, as the records'
// lists did.
var (
	capNames []uint32
	capHop   []legField
	capConn  []string
)

// TestAppendCaps checks the capacity tables legMsgBuild.bytes charges
// against lists built on the heap one append at a time, as the records'
// lists were before issue 15: the store's byte bound (and what it drops,
// window_entries_dropped) depends on them.
func TestAppendCaps(t *testing.T) {
	var names []uint32
	var hop []legField
	var conn []string
	for n := 0; n <= maxLegNames+8; n++ {
		if n > 0 {
			names = append(names, uint32(n))
			hop = append(hop, legField{"Connection", "close"})
			conn = append(conn, "close")
			capNames, capHop, capConn = names, hop, conn
		}
		if n <= maxLegNames && cap(names) != namesCaps[n] {
			t.Errorf("names: %d appends give cap %d, table says %d", n, cap(names), namesCaps[n])
		}
		if got := hopCap(n); got != cap(hop) {
			t.Errorf("hop: %d appends give cap %d, hopCap says %d", n, cap(hop), got)
		}
		if n <= maxLegConn && cap(conn) != connCaps[n] {
			t.Errorf("conn: %d appends give cap %d, table says %d", n, cap(conn), connCaps[n])
		}
	}
}

// TestHasPrefixASCIIFold checks splitTarget's scheme test against what it
// replaced, strings.HasPrefix(strings.ToLower(target), scheme).
func TestHasPrefixASCIIFold(t *testing.T) {
	targets := []string{"http://a/", "HTTP://A/", "HtTpS://x", "https:/", "http:", "", "/x", "\u212Attp://a", "http\u017F://a",
		"\u0130http://", "h\xfftp://a", "HTTP://\xff", "https//a", "ftp://a", "http://", "HTTPS://"}
	for _, s := range targets {
		for _, p := range []string{"http://", "https://"} {
			if got, want := hasPrefixASCIIFold(s, p), strings.HasPrefix(strings.ToLower(s), p); got != want {
				t.Errorf("hasPrefixASCIIFold(%q, %q) = %v, want %v", s, p, got, want)
			}
		}
	}
}

// TestCollectCopiesText checks that a record keeps no string of the
// parsed message (the engine reuses its memory): the target and the
// authority taken from Host are copies, also when one of them is empty.
func TestCollectCopiesText(t *testing.T) {
	for _, c := range []struct{ target, host string }{{"/a", "h.example"}, {"/a", ""}, {"", "h.example"}, {"http://H.example/x", "ignored"}} {
		// the message's strings alias buffers the test then overwrites, as
		// the parser's alias its reused buffers
		tb, hb := []byte(c.target), []byte(c.host)
		q := &http1.Message{Method: "GET", Target: alias(tb), Proto: "HTTP/1.1", End: http1.EndComplete,
			Headers: []http1.Header{{Name: "Host", Value: alias(hb)}}}
		lc := &legConn{}
		lc.collect(&http1.Transaction{Request: q})
		x := lc.txs[0]
		want := []string{x.target, x.authority, x.path}
		for i := range tb {
			tb[i] = '#'
		}
		for i := range hb {
			hb[i] = '#'
		}
		if got := []string{x.target, x.authority, x.path}; !slices.Equal(got, want) || strings.Contains(strings.Join(got, ""), "#") {
			t.Errorf("%q %q: record %q changed with the message", c.target, c.host, got)
		}
	}
}

// alias returns a string sharing b's memory.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
