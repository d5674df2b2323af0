package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"fmt"
	"testing"
)

// fuzzRun feeds the client bytes, then the server bytes, then the client's
// second part, chunk bytes at a time, and returns everything observable.
func fuzzRun(keys KeySource, c1, s, c2 []byte, chunk int) string {
	var out bytes.Buffer
	c := NewConn(Config{
		Keys:     keys,
		OnRecord: func(r Record) { fmt.Fprintf(&out, "R %+v\n", r) },
		OnPlaintext: func(p Plaintext) {
			fmt.Fprintf(&out, "P %s [%d,%d) %x\n", p.Dir, p.Start, p.End, p.Data)
		},
	})
	var off [2]int64
	for _, part := range []struct {
		d Dir
		b []byte
	}{{ClientToServer, c1}, {ServerToClient, s}, {ClientToServer, c2}} {
		b := part.b
		for len(b) > 0 {
			n := min(chunk, len(b))
			if err := c.Feed(part.d, off[part.d], b[:n]); err != nil {
				fmt.Fprintf(&out, "E %v\n", err)
				break
			}
			off[part.d] += int64(n)
			b = b[n:]
		}
	}
	for _, d := range []Dir{ClientToServer, ServerToClient} {
		fmt.Fprintf(&out, "C %v D %v\n", c.Close(d), c.DecryptErr(d))
	}
	fmt.Fprintf(&out, "H %v F %+v\n", c.HandshakeErr(), c.Facts())
	return out.String()
}

// FuzzConn: the record layer, handshake parser and decryptor never panic,
// and cutting the input into chunks changes nothing (encoding/json/jsontext
// fuzzes its decoder the same way).
func FuzzConn(f *testing.F) {
	var client, server []byte
	for _, st := range rfcTrace() {
		if st.dir == ClientToServer {
			client = append(client, unhex(st.rec)...)
		} else {
			server = append(server, unhex(st.rec)...)
		}
	}
	chLen := len(unhex(rfcClientHello))
	f.Add(client[:chLen], server, client[chLen:])
	// Small sessions: the fuzzer mutates better, and feeds byte by byte.
	saved := requests
	requests = []int{1, 100}
	defer func() { requests = saved }()
	for _, v := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		scfg := &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(f)}, MaxVersion: v, NextProtos: []string{"http/1.1"}}
		ccfg := &stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true, MaxVersion: v, NextProtos: []string{"h2", "http/1.1"}}
		s := runSession(f, ccfg, scfg)
		// The client's hello, the whole server side, the rest of the client.
		n := 5 + int(s.client[3])<<8 | int(s.client[4])
		f.Add(s.client[:n], s.server, s.client[n:])
	}
	keys := rfcKeyLog(f)
	f.Fuzz(func(t *testing.T, c1, s, c2 []byte) {
		whole := fuzzRun(keys, c1, s, c2, 1<<30)
		if bytewise := fuzzRun(keys, c1, s, c2, 1); bytewise != whole {
			t.Fatalf("chunking changed the result:\nwhole:\n%s\nbyte by byte:\n%s", whole, bytewise)
		}
	})
}
