package proxy

import "testing"

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
