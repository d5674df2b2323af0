package http1

import (
	"slices"
	"testing"

	"github.com/connlint/connlint/reassembly/flow"
)

// TestChunkFraming runs every chunked-body state (size digits, whitespace,
// extension, CRLF, data, the CRLF after data, trailers) and each way out of
// it, fed whole and byte by byte: splitting must change nothing.
func TestChunkFraming(t *testing.T) {
	const req = `>>> POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n`
	for _, tc := range []struct {
		name    string
		body    string // after the request head, transcript-escaped
		end     End
		bodyLen int64
		anoms   []Anomaly
	}{
		{"plain", `3\r\nabc\r\n0\r\n\r\n`, EndComplete, 3, nil},
		{"upper hex", `A\r\n0123456789\r\n0\r\n\r\n`, EndComplete, 10, nil},
		{"bare LF size line", `3\nabc\r\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomBareLF}},
		{"bare LF after data", `3\r\nabc\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomBareLF}},
		{"whitespace", `3 \t \r\nabc\r\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomChunkSizeWhitespace}},
		{"whitespace then bare LF", `3 \nabc\r\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomChunkSizeWhitespace, AnomBareLF}},
		{"whitespace then extension", `3 ;x=1\r\nabc\r\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomChunkSizeWhitespace, AnomChunkExtension}},
		{"extension bare LF", `3;x\nabc\r\n0\r\n\r\n`, EndComplete, 3, []Anomaly{AnomChunkExtension, AnomBareLF}},
		{"trailers", `0\r\nX: 1\r\n\r\n`, EndComplete, 0, []Anomaly{AnomTrailers}},
		{"trailer bare LF", `0\r\nX: 1\n\r\n`, EndComplete, 0, []Anomaly{AnomTrailers, AnomBareLF}},
		{"no digit", `;x\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize}},
		{"junk after digits", `3x\r\nabc\r\n0\r\n\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize}},
		{"junk after whitespace", `3 x\r\n`, EndMalformed, 0, []Anomaly{AnomChunkSizeWhitespace, AnomBadChunkSize}},
		{"CR not followed by LF", `3\rabc\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize}},
		{"overflow", `8000000000000000\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize, AnomChunkSizeOverflow}},
		{"overflow with extension", `8000000000000000;x=1\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize, AnomChunkSizeOverflow}},
		{"overflowing hex then junk: garbage", `8000000000000000g\r\n`, EndMalformed, 0, []Anomaly{AnomBadChunkSize}},
		{"data not followed by CRLF", `3\r\nabcd\r\n0\r\n\r\n`, EndMalformed, 3, []Anomaly{AnomBadChunkFraming}},
		{"CR CR after data", `3\r\nabc\r\r\n0\r\n\r\n`, EndMalformed, 3, []Anomaly{AnomBadChunkFraming}},
	} {
		for _, sp := range []struct {
			name  string
			split splitter
		}{{"whole", whole}, {"bytewise", bytewise}} {
			t.Run(tc.name+"/"+sp.name, func(t *testing.T) {
				r, _ := run(t, parseTranscript(t, req+tc.body+"\n"), Options{}, false, sp.split)
				m := find(t, r, flow.ClientToServer, 0)
				want(t, m, FramingChunked, tc.end, tc.bodyLen, tc.anoms...)
			})
		}
	}
}

func TestHeaderTokens(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"close", []string{"close"}},
		{" keep-alive ,\tUpgrade\t", []string{"keep-alive", "Upgrade"}},
		{",, a ,, ,b,", []string{"a", "b"}},
		{`a="x,y"`, []string{`a="x`, `y"`}}, // no quoted-string parsing
	} {
		if got := slices.Collect(HeaderTokens(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("HeaderTokens(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Breaking out of the loop stops the iteration.
	var first []string
	for tok := range HeaderTokens("a, b, c") {
		first = append(first, tok)
		break
	}
	if !slices.Equal(first, []string{"a"}) {
		t.Errorf("break after the first token: %q", first)
	}
	m := &Message{Headers: []Header{{"Connection", "keep-alive"}, {"connection", " Upgrade, close"}}}
	if !m.HasToken("Connection", "CLOSE") || m.HasToken("Connection", "clo") {
		t.Error("HasToken")
	}
}

func TestSenderDir(t *testing.T) {
	for _, tc := range []struct {
		in string
		d  flow.Dir
		ok bool
	}{
		{"GET / HTTP/1.1\r\n", flow.ClientToServer, true},
		{"POST /x", flow.ClientToServer, true}, // a prefix with a registered method
		{"HTTP/1.1 200 OK\r\n", flow.ServerToClient, true},
		{"HTTP/", flow.ServerToClient, true},
		{"\x16\x03\x01\x02\x00", 0, false}, // a TLS ClientHello: not HTTP/1
		{"", 0, false},
	} {
		if d, ok := SenderDir([]byte(tc.in)); d != tc.d || ok != tc.ok {
			t.Errorf("SenderDir(%q) = %v, %v; want %v, %v", tc.in, d, ok, tc.d, tc.ok)
		}
	}
}
