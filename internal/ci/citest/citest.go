// Package citest holds the fixed run the CI formats' golden tests render,
// so that every format is checked against the same findings.
package citest

import (
	"bytes"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// T0 is the capture time of the first finding.
var T0 = time.Date(2026, 3, 14, 9, 26, 53, 589793000, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// Input is a run over two readable captures and one unreadable one, with
// five findings: an error, two warnings of one kind on one server (the
// same baseline key twice), an error from a cross-connection rule that
// names its request in Attrs, and an info finding about several
// connections. One enabled rule (pipelining) found nothing. The second
// file's name has a comma and a space, and one message a percent sign and
// a newline, to exercise escaping. Each call returns a fresh copy.
func Input() *ci.Input {
	const api, web = "captures/api.pcap", "captures/web, v2.pcapng"
	return &ci.Input{
		Tool:   ci.Tool{Name: "connlint", Version: "0.9.0", InfoURI: "https://github.com/connlint/connlint"},
		Inputs: []string{api, web},
		Rules: []ci.RuleMeta{
			{ID: "content-length-mismatch", Severity: analyze.Error, Title: "message length differs from its framing (truncated or overrun)",
				Description: "A message carried fewer or more body bytes than its Content-Length or chunked framing announced.", HelpURI: ci.HelpURI("content-length-mismatch")},
			{ID: "nagle-delayed-ack", Severity: analyze.Warning, Title: "small write held by Nagle until the peer's delayed ACK",
				Description: "The write-write-read pattern: a sender wrote a message in two small writes and Nagle's algorithm held the second back until the receiver's delayed ACK.", HelpURI: ci.HelpURI("nagle-delayed-ack")},
			{ID: "parallel-connections", Severity: analyze.Info, Title: "more concurrent connections to one server than a client should open",
				Description: "A client had more connections open to one server at the same time than the configured limit.", HelpURI: ci.HelpURI("parallel-connections")},
			{ID: "pipelining", Severity: analyze.Info, Title: "requests were pipelined (idempotent methods only)",
				Description: "A client sent a request before the response to the previous one had arrived.", HelpURI: ci.HelpURI("pipelining")},
			{ID: "unsafe-retry", Severity: analyze.Error, Title: "non-idempotent request retried after its connection died",
				Description: "A POST (or other non-idempotent request) was sent again on a new connection after the first copy's connection died without a response.", HelpURI: ci.HelpURI("unsafe-retry")},
		},
		Findings: []*analyze.Finding{
			// Deliberately not in time order: formats must sort.
			{
				Rule: "unsafe-retry", Severity: analyze.Error,
				Conn:        analyze.ConnRef{ID: 4, Client: ap("[2001:db8::1]:40002"), Server: ap("[2001:db8::2]:8080")},
				Transaction: 1, Time: T0.Add(3 * time.Second),
				Frames:   []analyze.Frame{{Input: 1, Frame: 20}, {Input: 1, Frame: 24}, {Input: 1, Frame: 31}},
				Duration: 1200 * time.Millisecond,
				Message:  "POST /orders?id=7 (512-byte body) was sent again on connection 4 1.2 s after the first copy (connection 2, transaction 3); that connection was reset without a response, so the server may already have acted on the first copy",
				Hint:     "do not resend non-idempotent requests automatically (RFC 9112 §9.3.1)",
				Related:  []analyze.ConnRef{{ID: 2, Client: ap("[2001:db8::1]:40000"), Server: ap("[2001:db8::2]:8080")}},
				Attrs:    map[string]any{"method": "POST", "target": "/orders?id=7", "body_bytes": 512, "first_connection": 2, "first_transaction": 3},
				Across:   true,
			},
			{
				Rule: "nagle-delayed-ack", Severity: analyze.Warning,
				Conn:        analyze.ConnRef{ID: 3, Client: ap("10.0.0.1:51234"), Server: ap("10.0.0.2:80")},
				Transaction: 2, Time: T0,
				Frames:   []analyze.Frame{{Input: 0, Frame: 10}, {Input: 0, Frame: 11}, {Input: 0, Frame: 12}},
				Duration: 44700 * time.Microsecond,
				Message:  "POST /ok?size=32: headers 93 B + body 48 B — the client held 48 B (frame 12) behind the unacknowledged 93-B segment (frame 10) until the server's delayed ACK (frame 11) came 44.7 ms beyond the RTT",
				Hint:     "write the message in one call (one buffer, or writev), or set TCP_NODELAY on the sending socket",
				Attrs:    map[string]any{"split": "headers 93 B + body 48 B", "nagle": "classic+minshall", "stall_ms": 44.7},
			},
			{
				Rule: "nagle-delayed-ack", Severity: analyze.Warning,
				Conn:        analyze.ConnRef{ID: 5, Client: ap("10.0.0.1:51240"), Server: ap("10.0.0.2:80")},
				Transaction: 1, Time: T0.Add(1500 * time.Millisecond),
				Frames:   []analyze.Frame{{Input: 0, Frame: 30}, {Input: 0, Frame: 31}, {Input: 0, Frame: 32}},
				Duration: 40100 * time.Microsecond,
				Message:  "POST /ok?size=32: headers 93 B + body 48 B — the client held 48 B (frame 32) behind the unacknowledged 93-B segment (frame 30) until the server's delayed ACK (frame 31) came 40.1 ms beyond the RTT",
				Hint:     "write the message in one call (one buffer, or writev), or set TCP_NODELAY on the sending socket",
				Attrs:    map[string]any{"split": "headers 93 B + body 48 B", "nagle": "classic+minshall", "stall_ms": 40.1},
			},
			{
				Rule: "content-length-mismatch", Severity: analyze.Error,
				Conn:        analyze.ConnRef{ID: 1, Client: ap("[2001:db8::1]:40000"), Server: ap("[2001:db8::2]:8080")},
				Transaction: 1, Time: T0.Add(500 * time.Millisecond),
				Frames:  []analyze.Frame{{Input: 1, Frame: 7}, {Input: 1, Frame: 9}},
				Message: "response 200 ended after 50% of its Content-Length: 1000:\nthe server closed (FIN) 500 bytes short",
				Hint:    "send the Content-Length of the body actually sent, or use chunked encoding",
				Attrs:   map[string]any{"kind": "truncated", "by": "FIN", "missing_bytes": 500},
			},
			{
				Rule: "parallel-connections", Severity: analyze.Info,
				Time:    T0.Add(2 * time.Second),
				Frames:  []analyze.Frame{{Input: 0, Frame: 40}},
				Message: "10.0.0.1 → 10.0.0.2:80: 8 connections were open at the same time (limit 6), the peak reached when the connection at frame 40 opened; 9 connections to this server in all",
				Hint:    "limit concurrent connections per server and reuse the open ones",
				Related: []analyze.ConnRef{
					{ID: 6, Client: ap("10.0.0.1:51250"), Server: ap("10.0.0.2:80")},
					{ID: 7, Client: ap("10.0.0.1:51252"), Server: ap("10.0.0.2:80")},
				},
				Attrs:  map[string]any{"peak": 8, "limit": 6, "connections": 9},
				Across: true,
			},
		},
		Errors: []ci.InputError{{File: "captures/broken.pcap", Message: "pcap: unexpected EOF reading the file header"}},
		FailOn: analyze.Warning,
	}
}

var update = flag.Bool("update", false, "rewrite golden files (review every diff by hand)")

// Golden compares got with testdata/<name>.golden, or writes it with
// -update.
func Golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; got:\n%s", path, got)
	}
}
