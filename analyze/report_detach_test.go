package analyze

import (
	"strings"
	"testing"
	"unsafe"
)

// A kept transaction report must not pin its message's header block: a
// keep-alive connection keeps thousands of reports until it ends (issue 15).
func TestTxReportDetachCopiesHeaderStrings(t *testing.T) {
	block := "GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n" +
		"HTTP/1.1 200 Fine Thanks\r\n\r\n" + strings.Repeat("x", 4096)
	inBlock := func(s string) bool {
		if s == "" {
			return false
		}
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		b := uintptr(unsafe.Pointer(unsafe.StringData(block)))
		return p >= b && p < b+uintptr(len(block))
	}
	tr := &TxReport{Method: block[0:3], Target: block[4:15], Proto: block[16:24],
		Host: block[32:44], Reason: block[61:72]}
	want := *tr
	tr.detach()
	for name, s := range map[string]string{"method": tr.Method, "target": tr.Target, "proto": tr.Proto, "host": tr.Host, "reason": tr.Reason} {
		if inBlock(s) {
			t.Errorf("%s %q still points into the header block", name, s)
		}
	}
	if tr.Method != want.Method || tr.Target != want.Target || tr.Proto != want.Proto || tr.Host != want.Host || tr.Reason != want.Reason {
		t.Errorf("detach changed values: got %+v, want %+v", *tr, want)
	}
	if tr.Method != "GET" || tr.Target != "/index.html" || tr.Proto != "HTTP/1.1" || tr.Host != "example.test" || tr.Reason != "Fine Thanks" {
		t.Errorf("test slices wrong: %+v", *tr)
	}
}
