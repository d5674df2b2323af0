package tls

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	stdtls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
	_ "unsafe" // for go:linkname
)

// Go's crypto/tls has no setting for the TLS 1.3 cipher suites; it offers and
// prefers them in these lists' order. The tests narrow the lists to force a
// suite. Both are marked "Do not remove or change the type signature"
// because other packages pull them the same way.
//
//go:linkname defaultCipherSuitesTLS13 crypto/tls.defaultCipherSuitesTLS13
var defaultCipherSuitesTLS13 []uint16

//go:linkname defaultCipherSuitesTLS13NoAES crypto/tls.defaultCipherSuitesTLS13NoAES
var defaultCipherSuitesTLS13NoAES []uint16

// force13 makes crypto/tls (client and server in this process) offer only
// suite for TLS 1.3 until the returned function runs.
func force13(suite uint16) (restore func()) {
	a, b := defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES
	defaultCipherSuitesTLS13 = []uint16{suite}
	defaultCipherSuitesTLS13NoAES = []uint16{suite}
	return func() { defaultCipherSuitesTLS13, defaultCipherSuitesTLS13NoAES = a, b }
}

var (
	certOnce sync.Once
	testCert stdtls.Certificate
)

func serverCert(t testing.TB) stdtls.Certificate {
	certOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "example.test"},
			DNSNames:     []string{"example.test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		testCert = stdtls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return testCert
}

// wire is the capture of a connection: every write of either side, in the
// order they happened. A write cannot happen before the bytes it answers
// were written, so this is capture order.
type wire struct {
	mu     sync.Mutex
	writes []write
}

type write struct {
	dir  Dir
	data []byte
}

// recConn records every byte written through it into the wire.
type recConn struct {
	net.Conn
	dir Dir
	w   *wire
}

func (c *recConn) Write(b []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes = append(c.w.writes, write{c.dir, append([]byte(nil), b...)})
	c.w.mu.Unlock()
	return c.Conn.Write(b)
}

// session is one recorded crypto/tls connection.
type session struct {
	client, server []byte  // the two directions' wire bytes
	writes         []write // the same, in capture order
	keylog         []byte
	sentByClient   []byte // application data the client wrote
	sentByServer   []byte
	state          stdtls.ConnectionState // as the client saw it
}

// requests are the application writes of a session: small ones, and one
// larger than a record so that it spans several.
var requests = []int{0, 100, 40000, 7}

// runSession runs a client and a server over net.Pipe. The client writes
// each request and reads the reply; the server answers each with a reply
// of a different size. The client reads the replies, so it also processes
// TLS 1.3 session tickets.
func runSession(t testing.TB, ccfg, scfg *stdtls.Config) session {
	t.Helper()
	var keylog bytes.Buffer
	ccfg = ccfg.Clone()
	ccfg.KeyLogWriter = &keylog
	// Loopback TCP, not net.Pipe: a TLS 1.3 server writes its session tickets
	// while the client writes its request, which deadlocks an unbuffered pipe.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cp, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	crec, srec := &recConn{Conn: cp, dir: ClientToServer, w: w}, &recConn{Conn: sp, dir: ServerToClient, w: w}
	var s session
	var serr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := stdtls.Server(srec, scfg)
		defer sc.Close()
		for i := range requests {
			n := requests[i]
			if n == 0 {
				n = 1 // an empty Write sends nothing; ask for one byte
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(sc, buf); err != nil {
				serr = fmt.Errorf("server read %d: %w", i, err)
				return
			}
			reply := bytes.Repeat([]byte{byte('a' + i)}, 50+n/2)
			s.sentByServer = append(s.sentByServer, reply...)
			if _, err := sc.Write(reply); err != nil {
				serr = fmt.Errorf("server write %d: %w", i, err)
				return
			}
		}
		io.Copy(io.Discard, sc) // until the client's close_notify
	}()
	cc := stdtls.Client(crec, ccfg)
	for i, n := range requests {
		if n == 0 {
			n = 1
		}
		req := bytes.Repeat([]byte{byte('A' + i)}, n)
		s.sentByClient = append(s.sentByClient, req...)
		if _, err := cc.Write(req); err != nil {
			t.Fatalf("client write %d: %v", i, err)
		}
		reply := make([]byte, 50+n/2)
		if _, err := io.ReadFull(cc, reply); err != nil {
			t.Fatalf("client read %d: %v", i, err)
		}
	}
	s.state = cc.ConnectionState()
	cc.Close()
	wg.Wait()
	if serr != nil {
		t.Fatal(serr)
	}
	s.writes, s.keylog = w.writes, keylog.Bytes()
	for _, wr := range w.writes {
		if wr.dir == ClientToServer {
			s.client = append(s.client, wr.data...)
		} else {
			s.server = append(s.server, wr.data...)
		}
	}
	return s
}

// result is what a Conn made of a session.
type result struct {
	conn           *Conn
	records        [2][]Record
	plain          [2][]byte
	plainInRecords bool
}

// replay feeds a session to a Conn the way a reassembler would: in capture
// order, each write cut into chunks of the given size (0: whole writes).
func replay(t testing.TB, s session, keys KeySource, chunk int) *result {
	t.Helper()
	res := &result{plainInRecords: true}
	var last [2]Record
	res.conn = NewConn(Config{
		Keys: keys,
		OnRecord: func(r Record) {
			res.records[r.Dir] = append(res.records[r.Dir], r)
			last[r.Dir] = r
		},
		OnPlaintext: func(p Plaintext) {
			res.plain[p.Dir] = append(res.plain[p.Dir], p.Data...)
			if r := last[p.Dir]; p.Start != r.Start || p.End != r.End || r.Inner != TypeApplicationData {
				res.plainInRecords = false
			}
		},
	})
	var off [2]int64
	for _, wr := range s.writes {
		b := wr.data
		for len(b) > 0 {
			n := len(b)
			if chunk > 0 {
				n = min(n, chunk)
			}
			if err := res.conn.Feed(wr.dir, off[wr.dir], b[:n]); err != nil {
				t.Fatalf("Feed(%s): %v", wr.dir, err)
			}
			off[wr.dir] += int64(n)
			b = b[n:]
		}
	}
	for d := range 2 {
		if err := res.conn.Close(Dir(d)); err != nil {
			t.Fatalf("Close(%s): %v", Dir(d), err)
		}
	}
	return res
}

func parseKeys(t testing.TB, keylog []byte) *KeyLog {
	t.Helper()
	k := NewKeyLog()
	if err := k.Read(bytes.NewReader(keylog), "keylog"); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRoundTrip(t *testing.T) {
	type tc struct {
		name    string
		version uint16
		suite   uint16
		resume  bool
	}
	cases := []tc{
		{"TLS1.2 ECDHE-ECDSA-AES128-GCM-SHA256", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false},
		{"TLS1.2 ECDHE-ECDSA-AES256-GCM-SHA384", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, false},
		{"TLS1.2 ECDHE-ECDSA-CHACHA20-POLY1305", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{"TLS1.2 resumed", stdtls.VersionTLS12, stdtls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true},
		{"TLS1.3 AES128-GCM", stdtls.VersionTLS13, stdtls.TLS_AES_128_GCM_SHA256, false},
		{"TLS1.3 AES256-GCM", stdtls.VersionTLS13, stdtls.TLS_AES_256_GCM_SHA384, false},
		{"TLS1.3 CHACHA20-POLY1305", stdtls.VersionTLS13, stdtls.TLS_CHACHA20_POLY1305_SHA256, false},
		{"TLS1.3 resumed", stdtls.VersionTLS13, stdtls.TLS_AES_128_GCM_SHA256, true},
		{"TLS1.3 resumed CHACHA20", stdtls.VersionTLS13, stdtls.TLS_CHACHA20_POLY1305_SHA256, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.version == stdtls.VersionTLS13 {
				defer force13(c.suite)()
			}
			scfg := &stdtls.Config{
				Certificates: []stdtls.Certificate{serverCert(t)},
				MinVersion:   c.version, MaxVersion: c.version,
				CipherSuites: []uint16{c.suite},
				NextProtos:   []string{"http/1.1"},
			}
			ccfg := &stdtls.Config{
				ServerName:         "example.test",
				InsecureSkipVerify: true,
				MinVersion:         c.version, MaxVersion: c.version,
				CipherSuites: []uint16{c.suite},
				NextProtos:   []string{"h2", "http/1.1"},
				// With a cache the client asks for tickets (TLS 1.3
				// psk_key_exchange_modes), so the server sends them.
				ClientSessionCache: stdtls.NewLRUClientSessionCache(4),
			}
			s := runSession(t, ccfg, scfg)
			keys := parseKeys(t, s.keylog)
			if c.resume {
				// The first session fills the cache. Go does not log a
				// resumed TLS 1.2 session (it reuses the master secret of
				// the first one), so the first session is replayed through
				// the same KeyLog, which remembers its session ID and ticket.
				replay(t, s, keys, 0)
				s = runSession(t, ccfg, scfg)
				if err := keys.Read(bytes.NewReader(s.keylog), "keylog 2"); err != nil {
					t.Fatal(err)
				}
				if !s.state.DidResume {
					t.Fatal("crypto/tls did not resume; the test setup is wrong")
				}
			}
			if s.state.CipherSuite != c.suite || s.state.Version != c.version {
				t.Fatalf("crypto/tls negotiated %s %s, the test setup is wrong",
					stdtls.VersionName(s.state.Version), stdtls.CipherSuiteName(s.state.CipherSuite))
			}
			for _, chunk := range []int{0, 1, 1460, 7} {
				res := replay(t, s, keys, chunk)
				checkResult(t, fmt.Sprintf("chunk %d", chunk), s, res)
			}
		})
	}
}

func checkResult(t *testing.T, name string, s session, res *result) {
	t.Helper()
	c := res.conn
	for _, d := range []Dir{ClientToServer, ServerToClient} {
		if err := c.DecryptErr(d); err != nil {
			t.Errorf("%s: DecryptErr(%s) = %v", name, d, err)
		}
	}
	if err := c.HandshakeErr(); err != nil {
		t.Errorf("%s: HandshakeErr = %v", name, err)
	}
	if !bytes.Equal(res.plain[0], s.sentByClient) {
		t.Errorf("%s: client plaintext: got %d bytes, want the %d the client wrote", name, len(res.plain[0]), len(s.sentByClient))
	}
	if !bytes.Equal(res.plain[1], s.sentByServer) {
		t.Errorf("%s: server plaintext: got %d bytes, want the %d the server wrote", name, len(res.plain[1]), len(s.sentByServer))
	}
	if !res.plainInRecords {
		t.Errorf("%s: a plaintext chunk's range is not its application_data record's", name)
	}
	// Records tile each stream exactly.
	for d, stream := range [][]byte{s.client, s.server} {
		var pos int64
		for _, r := range res.records[d] {
			if r.Start != pos || r.End != r.Start+int64(headerLen+r.Length) {
				t.Fatalf("%s: %s record %+v does not start at %d", name, Dir(d), r, pos)
			}
			if r.Encrypted && r.Inner == 0 {
				t.Errorf("%s: %s record at %d was not decrypted", name, Dir(d), r.Start)
			}
			pos = r.End
		}
		if pos != int64(len(stream)) {
			t.Errorf("%s: %s records end at %d, stream has %d bytes", name, Dir(d), pos, len(stream))
		}
	}
	f := c.Facts()
	st := s.state
	if !f.ClientHello || !f.ServerHello || f.Version != st.Version || f.CipherSuite != st.CipherSuite ||
		f.SNI != "example.test" || f.ALPN != st.NegotiatedProtocol || f.ALPN != "http/1.1" ||
		fmt.Sprint(f.ALPNOffered) != "[h2 http/1.1]" || f.Resumed != st.DidResume ||
		!f.ResumptionOffered || !f.Decrypted || f.EarlyData || f.HelloRetry {
		t.Errorf("%s: facts = %+v; crypto/tls says version %x suite %x alpn %q resumed %v",
			name, f, st.Version, st.CipherSuite, st.NegotiatedProtocol, st.DidResume)
	}
}

// Without the key log, the same sessions give the same records and the
// facts that are sent in the clear.
func TestRoundTripNoKeys(t *testing.T) {
	for _, version := range []uint16{stdtls.VersionTLS12, stdtls.VersionTLS13} {
		scfg := &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(t)}, MaxVersion: version, NextProtos: []string{"http/1.1"}}
		ccfg := &stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true, MaxVersion: version, NextProtos: []string{"http/1.1"}}
		s := runSession(t, ccfg, scfg)
		res := replay(t, s, NewKeyLog(), 0)
		f := res.conn.Facts()
		for _, d := range []Dir{ClientToServer, ServerToClient} {
			if err := res.conn.DecryptErr(d); !errors.Is(err, ErrNoKey) {
				t.Errorf("%s: DecryptErr(%s) = %v, want ErrNoKey", stdtls.VersionName(version), d, err)
			}
		}
		if len(res.plain[0])+len(res.plain[1]) != 0 || f.Decrypted {
			t.Errorf("%s: plaintext without keys", stdtls.VersionName(version))
		}
		wantALPN := "http/1.1"
		if version == stdtls.VersionTLS13 {
			wantALPN = "" // in EncryptedExtensions
		}
		if f.Version != version || f.SNI != "example.test" || f.ALPN != wantALPN || f.CipherSuite != s.state.CipherSuite {
			t.Errorf("%s: facts = %+v", stdtls.VersionName(version), f)
		}
		var appRecords int
		for _, r := range res.records[ServerToClient] {
			if r.Type == TypeApplicationData {
				appRecords++
			}
		}
		if appRecords < len(requests) {
			t.Errorf("%s: %d server application_data records, want at least %d", stdtls.VersionName(version), appRecords, len(requests))
		}
	}
}
