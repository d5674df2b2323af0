package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// feedTrace feeds the RFC 8448 records (with an optional change to one of
// them) and returns the Conn, the number of records and the plaintext per
// direction.
func feedTrace(t *testing.T, keys KeySource, change func(i int, rec []byte) []byte) (*Conn, int, [2][]byte) {
	t.Helper()
	var n int
	var plain [2][]byte
	c := NewConn(Config{
		Keys:        keys,
		OnRecord:    func(Record) { n++ },
		OnPlaintext: func(p Plaintext) { plain[p.Dir] = append(plain[p.Dir], p.Data...) },
	})
	var off [2]int64
	for i, st := range rfcTrace() {
		b := unhex(st.rec)
		if change != nil {
			b = change(i, b)
		}
		if err := c.Feed(st.dir, off[st.dir], b); err != nil {
			t.Fatal(err)
		}
		off[st.dir] += int64(len(b))
	}
	return c, n, plain
}

func TestWrongKey(t *testing.T) {
	random := hex.EncodeToString(unhex(rfcClientHello)[11:43])
	bad := strings.Repeat("ab", 32)
	text := "CLIENT_HANDSHAKE_TRAFFIC_SECRET " + random + " " + hexNoSpace(rfcClientHSSecret) + "\n" +
		"SERVER_HANDSHAKE_TRAFFIC_SECRET " + random + " " + bad + "\n" +
		"CLIENT_TRAFFIC_SECRET_0 " + random + " " + hexNoSpace(rfcClientAPSecret) + "\n" +
		"SERVER_TRAFFIC_SECRET_0 " + random + " " + hexNoSpace(rfcServerAPSecret) + "\n"
	k := NewKeyLog()
	if err := k.Read(strings.NewReader(text), "wrong.keys"); err != nil {
		t.Fatal(err)
	}
	c, n, plain := feedTrace(t, k, nil)
	err := c.DecryptErr(ServerToClient)
	var de *DecryptError
	if !errors.Is(err, ErrDecrypt) || !errors.As(err, &de) || de.Offset != 95 || de.Dir != ServerToClient {
		t.Errorf("server DecryptErr = %v, want ErrDecrypt at offset 95 (the first encrypted record)", err)
	}
	if err := c.DecryptErr(ClientToServer); err != nil {
		t.Errorf("client DecryptErr = %v; its keys are right", err)
	}
	if n != 9 || len(plain[ServerToClient]) != 0 || len(plain[ClientToServer]) != 50 {
		t.Errorf("%d records, plaintext %d/%d bytes; want 9 records, 50 client bytes, no server bytes",
			n, len(plain[0]), len(plain[1]))
	}
	if strings.Contains(err.Error(), bad) {
		t.Error("error shows key material")
	}
}

func TestCorruptRecord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		step   int
		byteAt int
	}{
		{"server application data tag", 6, 70},
		{"server application data header length", 6, 4},
		{"server first encrypted handshake", 2, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, n, plain := feedTrace(t, rfcKeyLog(t), func(i int, rec []byte) []byte {
				if i == tc.step {
					rec = bytes.Clone(rec)
					if tc.byteAt == 4 {
						// Shorten the record: header and payload stay consistent,
						// the AEAD tag no longer matches.
						rec = rec[:len(rec)-1]
						rec[4]--
					} else {
						rec[tc.byteAt] ^= 0x40
					}
				}
				return rec
			})
			if err := c.DecryptErr(ServerToClient); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("server DecryptErr = %v, want ErrDecrypt", err)
			}
			if n != 9 {
				t.Errorf("%d records, want all 9 still reported", n)
			}
			if len(plain[ServerToClient]) != 0 {
				t.Errorf("server plaintext %q after a corrupt record", plain[ServerToClient])
			}
			if err := c.DecryptErr(ClientToServer); err != nil {
				t.Errorf("client DecryptErr = %v", err)
			}
		})
	}
}

func TestRecordLayerErrors(t *testing.T) {
	ch := unhex(rfcClientHello)
	for _, tc := range []struct {
		name    string
		feed    func(c *Conn) error
		want    error
		wantOff int64
	}{
		{"not TLS", func(c *Conn) error {
			return c.Feed(ClientToServer, 0, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		}, ErrNotTLS, 0},
		{"truncated record", func(c *Conn) error {
			if err := c.Feed(ClientToServer, 0, ch[:len(ch)-1]); err != nil {
				return err
			}
			return c.Close(ClientToServer)
		}, ErrTruncated, 0},
		{"truncated header", func(c *Conn) error {
			if err := c.Feed(ClientToServer, 0, append(bytes.Clone(ch), 0x17, 0x03)); err != nil {
				return err
			}
			return c.Close(ClientToServer)
		}, ErrTruncated, int64(len(ch))},
		{"record too large", func(c *Conn) error {
			return c.Feed(ClientToServer, 0, append(bytes.Clone(ch), 0x17, 0x03, 0x03, 0x48, 0x01))
		}, ErrRecordTooLarge, int64(len(ch))},
		{"record too large, header split", func(c *Conn) error {
			if err := c.Feed(ClientToServer, 0, append(bytes.Clone(ch), 0x17, 0x03)); err != nil {
				return err
			}
			return c.Feed(ClientToServer, int64(len(ch)+2), []byte{0x03, 0xff, 0xff})
		}, ErrRecordTooLarge, int64(len(ch))},
		{"bad content type", func(c *Conn) error {
			return c.Feed(ClientToServer, 0, append(bytes.Clone(ch), 0x63, 0x03, 0x03, 0x00, 0x01, 0x00))
		}, ErrBadRecord, int64(len(ch))},
		{"gap", func(c *Conn) error {
			if err := c.Feed(ClientToServer, 100, ch[:50]); err != nil {
				return err
			}
			return c.Feed(ClientToServer, 160, ch[60:])
		}, ErrGap, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewConn(Config{})
			err := tc.feed(c)
			var re *RecordError
			if !errors.Is(err, tc.want) || !errors.As(err, &re) || re.Offset != tc.wantOff {
				t.Fatalf("err = %v, want %v at offset %d", err, tc.want, tc.wantOff)
			}
			// Sticky: the direction stays stopped.
			if err2 := c.Feed(ClientToServer, 1<<20, ch); err2 != err {
				t.Errorf("later Feed = %v, want the same error", err2)
			}
		})
	}
}

// Retransmitted bytes (an offset below what was fed) are dropped.
func TestOverlapDropped(t *testing.T) {
	ch := unhex(rfcClientHello)
	var n int
	c := NewConn(Config{OnRecord: func(Record) { n++ }})
	for _, step := range []struct{ off, end int }{{0, 100}, {0, 100}, {50, 150}, {0, len(ch)}, {10, 20}} {
		if err := c.Feed(ClientToServer, int64(step.off), ch[step.off:step.end]); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 || !c.Facts().ClientHello || c.Facts().SNI != "server" {
		t.Errorf("%d records, facts %+v; want one ClientHello", n, c.Facts())
	}
}

func TestSniff(t *testing.T) {
	ch := unhex(rfcClientHello)
	for _, tc := range []struct {
		name string
		in   []byte
		want Verdict
	}{
		{"empty", nil, NeedMore},
		{"one byte", ch[:1], NeedMore},
		{"nine bytes", ch[:9], NeedMore},
		{"ten bytes", ch[:10], IsTLS},
		{"whole hello", ch, IsTLS},
		{"http", []byte("GET / HTTP/1.1\r\n"), NotTLS},
		{"ssh", []byte("SSH-2.0-OpenSSH_9.6\r\n"), NotTLS},
		{"server hello first", unhex(rfcServerHello), NotTLS},
		{"application data", unhex(rfcClientAppData), NotTLS},
		{"version 3.5", append([]byte{0x16, 0x03, 0x05}, ch[3:]...), NotTLS},
		{"tiny record", []byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0, 0, 1, 3}, NotTLS},
		{"huge record", []byte{0x16, 0x03, 0x01, 0x48, 0x00, 0x01, 0, 0, 1, 3}, NotTLS},
		{"zero byte", []byte{0}, NotTLS},
	} {
		if got := Sniff(tc.in); got != tc.want {
			t.Errorf("%s: Sniff = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestKeyLogMalformedLines(t *testing.T) {
	good := strings.Repeat("11", 32)
	secret := strings.Repeat("5e", 48)
	text := strings.Join([]string{
		"# SSL/TLS secrets log file, generated by NSS", // 1 comment
		"",                                     // 2 blank
		"CLIENT_RANDOM " + good + " " + secret, // 3 ok
		"CLIENT_RANDOM " + good,                // 4 two fields
		"CLIENT_RANDOM zz" + good[2:] + " " + secret,                               // 5 random not hex
		"CLIENT_RANDOM " + good + " " + secret[:90],                                // 6 master too short
		"SERVER_HANDSHAKE_TRAFFIC_SECRET " + good[:62] + " " + secret,              // 7 short random
		"SOMETHING_NEW " + good + " " + secret,                                     // 8 unknown label
		"EXPORTER_SECRET " + good + " " + secret,                                   // 9 ignored
		"CLIENT_EARLY_TRAFFIC_SECRET " + good + " " + secret[:64],                  // 10 kept
		strings.Repeat("x", 2000),                                                  // 11 too long
		"CLIENT_TRAFFIC_SECRET_0 " + strings.Repeat("22", 32) + " " + secret + "q", // 12 secret not hex
		"SERVER_TRAFFIC_SECRET_0 " + strings.Repeat("22", 32) + " " + secret,       // 13 ok
	}, "\n")
	k := NewKeyLog()
	err := k.Read(strings.NewReader(text), "keys.log")
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var le *KeyLogLineError
		if !errors.As(e, &le) || !errors.Is(e, ErrKeyLogLine) || le.File != "keys.log" {
			t.Errorf("error %v is not a KeyLogLineError for keys.log", e)
			continue
		}
		lines = append(lines, le.Line)
		if !strings.HasPrefix(e.Error(), fmt.Sprintf("keys.log:%d: ", le.Line)) {
			t.Errorf("error %q does not start with file:line", e)
		}
	}
	if fmt.Sprint(lines) != "[4 5 6 7 8 11 12]" {
		t.Errorf("bad lines %v, want [4 5 6 7 8 11 12]; errors: %v", lines, err)
	}
	if strings.Contains(err.Error(), "5e5e") || strings.Contains(err.Error(), good) {
		t.Errorf("errors quote key material: %v", err)
	}
	var r1, r2 [32]byte
	copy(r1[:], bytes.Repeat([]byte{0x11}, 32))
	copy(r2[:], bytes.Repeat([]byte{0x22}, 32))
	s1, ok1 := k.Lookup(r1)
	s2, ok2 := k.Lookup(r2)
	if !ok1 || !s1.HasTLS12() || s1.clientEarly == nil || !ok2 || s2.serverAP == nil || s2.HasTLS13() || k.Len() != 2 {
		t.Errorf("usable lines not kept: %v %v %v %v, %d sessions", ok1, s1, ok2, s2, k.Len())
	}
}

// Key material never reaches formatted output, whatever the verb.
func TestSecretsRedacted(t *testing.T) {
	k := rfcKeyLog(t)
	var cr [32]byte
	copy(cr[:], unhex(rfcClientHello)[11:43])
	s, ok := k.Lookup(cr)
	if !ok {
		t.Fatal("no secrets")
	}
	holder := struct {
		S Secrets
		P *Secrets
		X secret
	}{s, &s, s.serverAP}
	needles := []string{hexNoSpace(rfcServerAPSecret)[:16], hexNoSpace(rfcClientHSSecret)[:16], "161 26 249"} // hex and %v of bytes
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, v := range []any{s, &s, holder, s.serverAP, k} {
			out := strings.ToLower(fmt.Sprintf(verb, v))
			for _, n := range needles {
				if strings.Contains(out, n) {
					t.Errorf("fmt %s of %T shows key material: %s", verb, v, out)
				}
			}
		}
	}
	if got := s.String(); got != "tls.Secrets{tls1.3 handshake, tls1.3 traffic: redacted}" {
		t.Errorf("String() = %q", got)
	}
}

// seal13 encrypts one TLS 1.3 record under c (the test's own sender, to
// build what no RFC trace has, such as a KeyUpdate).
func seal13(c *recordCipher, inner ContentType, data []byte) []byte {
	pt := append(bytes.Clone(data), byte(inner))
	hdr := []byte{0x17, 0x03, 0x03, 0, 0}
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(pt)+c.aead.Overhead()))
	var nonce [12]byte
	copy(nonce[:], c.iv)
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(c.seq >> (56 - 8*i))
	}
	c.seq++
	return append(hdr, c.aead.Seal(nil, nonce[:], pt, hdr)...)
}

// After the RFC 8448 exchange the server sends a KeyUpdate and more data
// under the next traffic secret ("traffic upd", RFC 8446 §7.2).
func TestKeyUpdate(t *testing.T) {
	sender, err := newCipher13(suites[0x1301], unhex(rfcServerAPSecret))
	if err != nil {
		t.Fatal(err)
	}
	sender.seq = 2 // NewSessionTicket and the application data used 0 and 1
	keyUpdate := seal13(sender, TypeHandshake, []byte{msgKeyUpdate, 0, 0, 1, 0})
	next, err := sender.update()
	if err != nil {
		t.Fatal(err)
	}
	after := seal13(next, TypeApplicationData, []byte("after the key update"))
	next2, _ := next.update()
	after2 := seal13(next2, TypeApplicationData, []byte(" and another"))
	// Two KeyUpdates in a row: the second one under the first new key.
	next.seq = 1
	ku2 := seal13(next, TypeHandshake, []byte{msgKeyUpdate, 0, 0, 1, 1})

	var got []byte
	c := NewConn(Config{Keys: rfcKeyLog(t), OnPlaintext: func(p Plaintext) {
		if p.Dir == ServerToClient {
			got = append(got, p.Data...)
		}
	}})
	var off [2]int64
	for i, st := range rfcTrace() {
		if i == 7 { // before the alerts
			break
		}
		b := unhex(st.rec)
		if err := c.Feed(st.dir, off[st.dir], b); err != nil {
			t.Fatal(err)
		}
		off[st.dir] += int64(len(b))
	}
	for _, b := range [][]byte{keyUpdate, after, ku2, after2} {
		if err := c.Feed(ServerToClient, off[1], b); err != nil {
			t.Fatal(err)
		}
		off[1] += int64(len(b))
	}
	if err := c.DecryptErr(ServerToClient); err != nil {
		t.Fatal(err)
	}
	// The RFC's 50 bytes 00 01 .. 31, then the two records after the updates.
	if len(got) != 50+len("after the key update and another") || got[49] != 49 ||
		string(got[50:]) != "after the key update and another" {
		t.Errorf("server plaintext = %q", got)
	}
}

// crypto/tls sessions that exercise less common paths.
func TestRoundTripSpecial(t *testing.T) {
	t.Run("HelloRetryRequest", func(t *testing.T) {
		// The client's first key share (X25519MLKEM768 or X25519) is not
		// what the server wants: it asks again for P-256.
		scfg := &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(t)}, CurvePreferences: []stdtls.CurveID{stdtls.CurveP256}}
		ccfg := &stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true,
			CurvePreferences: []stdtls.CurveID{stdtls.X25519, stdtls.CurveP256}}
		s := runSession(t, ccfg, scfg)
		res := replay(t, s, parseKeys(t, s.keylog), 0)
		f := res.conn.Facts()
		if !f.HelloRetry || !f.Decrypted || f.Version != stdtls.VersionTLS13 ||
			!bytes.Equal(res.plain[0], s.sentByClient) || !bytes.Equal(res.plain[1], s.sentByServer) {
			t.Errorf("facts %+v, plaintext %d/%d bytes; errs %v %v", f, len(res.plain[0]), len(res.plain[1]),
				res.conn.DecryptErr(0), res.conn.DecryptErr(1))
		}
	})
	t.Run("CBC is unsupported", func(t *testing.T) {
		suite := stdtls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
		scfg := &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(t)}, MaxVersion: stdtls.VersionTLS12, CipherSuites: []uint16{suite}}
		ccfg := &stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true, MaxVersion: stdtls.VersionTLS12, CipherSuites: []uint16{suite}}
		s := runSession(t, ccfg, scfg)
		res := replay(t, s, parseKeys(t, s.keylog), 0)
		for _, d := range []Dir{ClientToServer, ServerToClient} {
			if err := res.conn.DecryptErr(d); !errors.Is(err, ErrUnsupportedCipher) ||
				!strings.Contains(err.Error(), "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA") {
				t.Errorf("DecryptErr(%s) = %v, want ErrUnsupportedCipher naming the suite", d, err)
			}
		}
		if f := res.conn.Facts(); f.CipherSuite != suite || f.Decrypted {
			t.Errorf("facts %+v", f)
		}
	})
	t.Run("TLS1.2 resumed, first session unseen", func(t *testing.T) {
		cfgs := func() (*stdtls.Config, *stdtls.Config) {
			return &stdtls.Config{Certificates: []stdtls.Certificate{serverCert(t)}, MaxVersion: stdtls.VersionTLS12},
				&stdtls.Config{ServerName: "example.test", InsecureSkipVerify: true, MaxVersion: stdtls.VersionTLS12,
					ClientSessionCache: stdtls.NewLRUClientSessionCache(2)}
		}
		scfg, ccfg := cfgs()
		runSession(t, ccfg, scfg)
		s := runSession(t, ccfg, scfg)
		res := replay(t, s, parseKeys(t, s.keylog), 0)
		if f := res.conn.Facts(); !f.Resumed || !errors.Is(res.conn.DecryptErr(ServerToClient), ErrNoKey) {
			t.Errorf("facts %+v, err %v; want resumed and no key", f, res.conn.DecryptErr(ServerToClient))
		}
	})
}
