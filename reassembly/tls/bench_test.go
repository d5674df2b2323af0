package tls

import (
	stdtls "crypto/tls"
	"testing"
)

// BenchmarkDecrypt measures decryption throughput of application data:
// a crypto/tls session per suite is recorded once, then its server side
// (mostly full 16 KiB records) is replayed through a Conn per iteration.
// b.SetBytes counts the ciphertext bytes of that direction.
func BenchmarkDecrypt(b *testing.B) {
	for _, bc := range []struct {
		name    string
		version uint16
		suite   uint16
	}{
		{"TLS1.3-AES128GCM", stdtls.VersionTLS13, stdtls.TLS_AES_128_GCM_SHA256},
		{"TLS1.3-CHACHA20", stdtls.VersionTLS13, stdtls.TLS_CHACHA20_POLY1305_SHA256},
		{"TLS1.2-AES128GCM", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		{"TLS1.2-CHACHA20", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
	} {
		b.Run(bc.name, func(b *testing.B) {
			restore := force13(bc.suite)
			saved := requests
			requests = []int{1 << 20} // the server answers with 512 KiB
			scfg := &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(b)}, MinVersion: bc.version, MaxVersion: bc.version, CipherSuites: []uint16{bc.suite}}
			ccfg := &stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true, MinVersion: bc.version, MaxVersion: bc.version, CipherSuites: []uint16{bc.suite}}
			s := runSession(b, ccfg, scfg)
			requests = saved
			restore()
			keys := parseKeys(b, s.keylog)
			b.SetBytes(int64(len(s.server)))
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = 0
				c := NewConn(Config{Keys: keys, OnPlaintext: func(p Plaintext) { n += len(p.Data) }})
				var off [2]int64
				for _, w := range s.writes {
					if err := c.Feed(w.dir, off[w.dir], w.data); err != nil {
						b.Fatal(err)
					}
					off[w.dir] += int64(len(w.data))
				}
				if err := c.DecryptErr(ServerToClient); err != nil {
					b.Fatal(err)
				}
			}
			if n < 1<<19 {
				b.Fatalf("decrypted %d bytes", n)
			}
		})
	}
}
