package main

import (
	"strings"
	"time"
)

const ms = time.Millisecond

func scenarios() []scenario {
	return []scenario{
		lateSynack("late-synack-new-isn", 0, "before the first request"),
		lateSynack("late-synack-new-isn-midstream", 1, "after the first transaction"),
		{
			name: "replayed-closed-connection",
			desc: "Issue 12 item 16: a complete connection (2 transactions, closed by FIN), then byte-identical copies of its SYN and of the server's response segments with their original timestamps and ISN appended after it, as a capture that holds duplicates does. The copies are duplicates, not a new connection: 2 transactions, none unsolicited.",
			build: func(r *[]rec) {
				c := newConn(r, 40016, 7000, 800000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/a"), "client GET /a")
				c.srv_(5*ms, "PA", ok("alpha\n"), "server 200 for /a")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(10*ms, "PA", get("/b"), "client GET /b")
				resp := ok(strings.Repeat("b", 1800))
				c.srv_(5*ms, "A", resp[:1000], "server 200 for /b, part 1 (1000 B)")
				c.srv_(0, "PA", resp[1000:], "server 200 for /b, part 2")
				c.cli_(5*ms, "A", "", "client ACK")
				c.closeClientFirst()
				orig := append([]rec(nil), (*r)...)
				for _, i := range []int{0, 4, 7, 8} { // SYN, the three response segments
					cp := orig[i]
					cp.what = "REPLAYED byte-identical copy of frame " + itoa(i+1) + " (" + orig[i].what + "), same timestamp"
					*r = append(*r, cp)
				}
			},
			expect: []expect{{Rule: "unsolicited-response", Fire: false, Note: "the copies are duplicates of answered responses"}},
			quiet:  true, txns: 2, allAns: true,
		},
		{
			name: "chunk-size-overflow",
			desc: "Issue 12 item 13: a chunked response whose first chunk-size line is 10000000000000000 (hex: 2^64, overflows 64 bits), then 100 bytes, then the server closes. Invalid chunk size: conflicting-framing.",
			build: func(r *[]rec) {
				c := newConn(r, 40013, 3000, 300000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/chunked"), "client GET /chunked")
				c.srv_(5*ms, "PA", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"+strings.Repeat("x", 100), "server 200, Transfer-Encoding: chunked, chunk-size line 10000000000000000 (2^64), 100 bytes")
				c.srv_(ms, "FA", "", "server FIN")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(ms, "FA", "", "client FIN")
				c.srv_(5*ms, "A", "", "server ACK")
			},
			expect: []expect{{Rule: "conflicting-framing", Fire: true, MinCount: 1, Severity: "error", Note: "chunk size 2^64 overflows: invalid chunk size"}},
		},
		{
			name: "chunk-size-large-valid",
			desc: "Near miss of chunk-size-overflow: chunk-size line fffffff (268435455, fits easily), 100 bytes, then the server closes. A truncated chunk, not an invalid chunk size.",
			build: func(r *[]rec) {
				c := newConn(r, 40113, 3000, 300000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/chunked"), "client GET /chunked")
				c.srv_(5*ms, "PA", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n"+strings.Repeat("x", 100), "server 200, chunked, chunk-size fffffff, 100 bytes")
				c.srv_(ms, "FA", "", "server FIN")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(ms, "FA", "", "client FIN")
				c.srv_(5*ms, "A", "", "server ACK")
			},
			expect: []expect{{Rule: "conflicting-framing", Fire: false}},
		},
		{
			name: "malformed-after-bodiless",
			desc: "Issue 12 item 12: GET (no body) answered by a 200 of 2000 bytes; after the response started the client sends bytes that are not HTTP (a TLS ClientHello start); the server finishes the 200 and answers the garbage with its own 400 and Connection: close. The garbage is a new (malformed) request that the 400 answers: no request overrun, no unsolicited response.",
			build: func(r *[]rec) {
				c := newConn(r, 40012, 5000, 600000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/"), "client GET / (no body)")
				body := strings.Repeat("p", 2000)
				resp := "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n" + body
				c.srv_(5*ms, "A", resp[:1040], "server 200 head + first 1000 body bytes")
				c.cli_(ms, "PA", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\r\n\r\n", "client sends 22 malformed bytes (TLS ClientHello start) after the response started")
				c.srv_(ms, "PA", resp[1040:], "server rest of the 200 body (1000 B)")
				c.srv_(ms, "PA", "HTTP/1.1 400 Bad Request\r\nContent-Length: 11\r\nConnection: close\r\n\r\nBad Request", "server 400 Bad Request for the malformed bytes, Connection: close")
				c.srv_(0, "FA", "", "server FIN")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(ms, "FA", "", "client FIN")
				c.srv_(5*ms, "A", "", "server ACK")
			},
			expect: []expect{{Rule: "unsolicited-response", Fire: false, Note: "the 400 answers the malformed request"},
				{Rule: "content-length-mismatch", Fire: false, Note: "GET has no body: the bytes after it are the next (malformed) request, not an overrun"}},
			txns: 2,
		},
		{
			name: "overrun-same-segment",
			desc: "Issue 12 item 14: two GETs pipelined in one segment; the server's one segment holds the 200 with Content-Length 5 and its body followed by 17 bytes that are not HTTP, then the server closes. The bytes after the complete body are an overrun, not an HTTP/0.9 response to the second GET.",
			build: func(r *[]rec) {
				c := newConn(r, 40014, 6000, 700000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/a")+get("/b"), "client GET /a and GET /b pipelined in one segment")
				c.srv_(5*ms, "PA", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"+"this is not http\n", "server 200 CL 5 'hello' + 17 bytes 'this is not http\\n' in the SAME segment")
				c.srv_(ms, "FA", "", "server FIN")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(ms, "FA", "", "client FIN")
				c.srv_(5*ms, "A", "", "server ACK")
			},
			expect: []expect{{Rule: "content-length-mismatch", Fire: true, MinCount: 1, Severity: "error", MessageContains: "overrun", Note: "17 bytes after the 5-byte body in the same segment"}},
		},
		{
			name: "cl-hole-then-fin",
			desc: "Issue 12 item 10: a 200 with Content-Length 10000; the capture holds 3000 body bytes with a 1000-byte hole (the client ACKs across it), and the server then closes (FIN) at body byte 4000. At least 6000 bytes are missing (1000 more in the hole are unseen): content-length-mismatch, 'at least'.",
			build: func(r *[]rec) {
				c := newConn(r, 40010, 2000, 200000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/big"), "client GET /big")
				c.srv_(5*ms, "A", "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n"+strings.Repeat("1", 1000), "server 200 CL 10000 + body bytes 0-999")
				c.seg(0, false, "A", []byte(strings.Repeat("2", 1000)), "", true)
				c.srv_(0, "A", strings.Repeat("3", 1000), "server body bytes 2000-2999 (1000-1999 not captured: hole)")
				c.srv_(0, "PA", strings.Repeat("4", 1000), "server body bytes 3000-3999")
				c.cli_(5*ms, "A", "", "client ACK of everything (across the hole)")
				c.srv_(ms, "FA", "", "server FIN after 4000 of 10000 body bytes")
				c.cli_(5*ms, "A", "", "client ACK")
				c.cli_(ms, "FA", "", "client FIN")
				c.srv_(5*ms, "A", "", "server ACK")
			},
			expect: []expect{{Rule: "content-length-mismatch", Fire: true, MinCount: 1, Severity: "error", MessageContains: "at least", Note: "at least 6000 bytes missing, 1000 in a capture hole"}},
		},
		{
			name: "cl-hole-capture-end",
			desc: "Near miss of cl-hole-then-fin: the same response with a capture hole, but the capture ends with the connection open (no FIN/RST). Nothing known about the rest: no error or warning.",
			build: func(r *[]rec) {
				c := newConn(r, 40110, 2000, 200000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/big"), "client GET /big")
				c.srv_(5*ms, "A", "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n"+strings.Repeat("1", 1000), "server 200 CL 10000 + body bytes 0-999")
				c.seg(0, false, "A", []byte(strings.Repeat("2", 1000)), "", true)
				c.srv_(0, "A", strings.Repeat("3", 1000), "server body bytes 2000-2999 (1000-1999 not captured: hole)")
				c.cli_(5*ms, "A", "", "client ACK of everything (across the hole); the capture ends here")
			},
			expect: []expect{}, quiet: true,
		},
		{
			name: "rst-ack-after-gap",
			desc: "Issue 12 item 11: response 1 (Content-Length 3000) has a 1000-byte capture hole the client ACKs across; then the client POSTs 3000 body bytes in three segments and the server resets with RST+ACK acknowledging only the head and the first 1000 body bytes. The RST's ACK proves 2000 captured client bytes were never acknowledged: abortive-close, despite the earlier gap.",
			build: func(r *[]rec) {
				c := newConn(r, 40011, 4000, 400000)
				c.handshake()
				c.cli_(10*ms, "PA", get("/1"), "client GET /1")
				resp := "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n" + strings.Repeat("r", 3000)
				c.srv_(5*ms, "A", resp[:1040], "server 200 CL 3000, head + body 0-999")
				c.seg(0, false, "A", []byte(resp[1040:2040]), "", true)
				c.srv_(0, "PA", resp[2040:], "server body 2000-2999 (1000-1999 not captured: hole)")
				c.cli_(5*ms, "A", "", "client ACK of the whole response (across the hole)")
				head := "POST /upload HTTP/1.1\r\nHost: crafted.test\r\nContent-Length: 3000\r\n\r\n"
				c.cli_(10*ms, "A", head+strings.Repeat("u", 1000), "client POST /upload head + body 0-999")
				ackTo := c.cseq
				c.cli_(0, "A", strings.Repeat("v", 1000), "client body 1000-1999")
				c.cli_(0, "PA", strings.Repeat("w", 1000), "client body 2000-2999")
				c.raw(5*ms, false, "RA", c.sseq, ackTo, nil, "server RST+ACK acknowledging only up to body byte 999: 2000 client bytes never acknowledged")
			},
			expect: []expect{{Rule: "abortive-close", Fire: true, MinCount: 1, Severity: "error", Note: "the RST's ACK leaves 2000 captured request bytes unacknowledged; the hole is in an earlier, complete response"}},
		},
		{
			name: "one-sided-client-only",
			desc: "Issue 12 item 17: only the client's direction was captured (asymmetric routing): SYN, handshake ACK, two GETs and the client's ACKs of responses the capture never saw, then the client's FIN. Nothing about the server side can be judged: no error or warning, no unsolicited or unanswered-request findings.",
			build: func(r *[]rec) {
				c := newConn(r, 40017, 8000, 900000)
				c.cli_(0, "S", "", "client SYN")
				c.seg(5*ms, false, "SA", nil, "", true)
				c.cli_(5*ms, "A", "", "client ACK of the (uncaptured) SYN-ACK")
				for _, p := range []string{"/x", "/y"} {
					c.cli_(10*ms, "PA", get(p), "client GET "+p)
					c.seg(5*ms, false, "PA", []byte(ok("response to "+p+"\n")), "", true)
					c.cli_(5*ms, "A", "", "client ACK of the (uncaptured) response")
				}
				c.cli_(ms, "FA", "", "client FIN")
				c.seg(5*ms, false, "FA", nil, "", true)
				c.cli_(5*ms, "A", "", "client ACK of the (uncaptured) server FIN")
			},
			expect: []expect{{Rule: "unsolicited-response", Fire: false}, {Rule: "content-length-mismatch", Fire: false}, {Rule: "abortive-close", Fire: false}},
			quiet:  true,
		},
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// lateSynack (issue 12 item 15): the client's SYN is retransmitted; the server's SYN-ACK with
// ISN a=500000 is answered; 200 ms later, before transaction `at`, a second SYN-ACK with ISN
// b=9000000 arrives. The client ignores it (its ACK stays in a's space) and the server keeps
// sending in a's space.
func lateSynack(name string, at int, when string) scenario {
	return scenario{
		name: name,
		desc: "Issue 12 item 15: the client's SYN is retransmitted; the server's SYN-ACK with ISN a=500000 is answered, and " + when + " a second SYN-ACK with ISN b=9000000 arrives (200 ms later). The client ignores it (its ACK stays in a's space) and the server keeps sending in a's space: 3 transactions, all answered. (tshark also re-bases on b and calls every later server segment a retransmission.)",
		build: func(r *[]rec) {
			c := newConn(r, uint16(40015+100*at), 1000, 500000)
			c.cli_(0, "S", "", "client SYN, ISN 1000")
			c.raw(time.Second, true, "S", 1000, 0, nil, "client SYN retransmitted (same ISN 1000)")
			c.srv_(5*ms, "SA", "", "server SYN-ACK, ISN a=500000, ack 1001 (acknowledged: the stream's space)")
			c.cli_(5*ms, "A", "", "client ACK 500001 (handshake done in a's space)")
			for i, p := range []string{"/one", "/two", "/three"} {
				if i == at {
					c.raw(200*ms, false, "SA", 9000000, 1001, nil, "LATE second SYN-ACK, ISN b=9000000, ack 1001: never acknowledged")
					c.raw(ms/10, true, "A", c.cseq, c.sseq, nil, "client ACK still in a's space (ignores b)")
				}
				c.cli_(10*ms, "PA", get(p), "client GET "+p)
				c.srv_(5*ms, "PA", ok("body of "+p+"\n"), "server 200 for "+p+" (a's space)")
				c.cli_(5*ms, "A", "", "client ACK")
			}
			c.closeClientFirst()
		},
		expect: []expect{{Rule: "unsolicited-response", Fire: false, Note: "every response answers a GET in a's space"},
			{Rule: "content-length-mismatch", Fire: false}},
		quiet: true, txns: 3, allAns: true,
	}
}
