package tls

import (
	"fmt"
)

const (
	versionTLS12 = 0x0303
	versionTLS13 = 0x0304
	// maxEarlyRecords bounds how many client records of a TLS 1.3 session
	// that offered 0-RTT are passed over as early data (which this package
	// does not decrypt) before a failure to decrypt counts as a wrong key.
	maxEarlyRecords = 256
)

// Config sets up a Conn. Every field is optional.
type Config struct {
	// Keys finds the secrets of the session; nil means no decryption
	// (DecryptErr then reports ErrNoKey once encrypted records arrive).
	Keys KeySource
	// OnRecord is called once per complete record, in stream order per
	// direction, after the record's handshake content updated Facts.
	OnRecord func(Record)
	// OnPlaintext is called with the decrypted application data of a record,
	// right after OnRecord for that record. Data is only valid during the
	// call: copy what you keep.
	OnPlaintext func(Plaintext)
}

// Plaintext is the decrypted application data of one record.
type Plaintext struct {
	Dir Dir
	// Start and End are the stream offsets of the record that carried the
	// data (header and tag included), as in Record.
	Start, End int64
	Data       []byte
}

// Conn follows the TLS records of one TCP connection, both directions.
// It is not safe for concurrent use.
type Conn struct {
	cfg   Config
	half  [2]half
	facts Facts
	ch    clientHello
	sh    serverHello

	keysLooked bool
	keys       Secrets
	haveKeys   bool
	ticket12   []byte // TLS 1.2 ticket the server issued
	// idStored, ticketStored: the master secret went to the session memory
	// under the session ID, the ticket.
	idStored, ticketStored bool

	sawServerHelloDone bool // TLS 1.2: a full handshake (Certificate/SKE/ServerHelloDone) was seen
	hsErr              error
}

// half is one direction: record framing, handshake reassembly and decryption.
type half struct {
	dir      Dir
	started  bool
	next     int64  // stream offset of the next byte expected
	buf      []byte // a partial record, at most headerLen+MaxRecordPayload bytes
	bufStart int64  // stream offset of buf[0]
	records  int
	err      error // record layer, sticky

	ccs    bool // TLS 1.2: ChangeCipherSpec seen, later records are protected
	hs     hsReader
	hsDead bool

	phase        int           // 0 no keys yet, 1 TLS 1.3 handshake keys, 2 traffic keys
	rc           *recordCipher // nil: not decrypting
	pending      *recordCipher // takes over after the current record (Finished, KeyUpdate)
	pendingErr   error
	decErr       error
	plain        []byte // decryption scratch, reused for every record
	okRecords    int
	earlySkipped int
}

// NewConn returns a Conn for one connection.
func NewConn(cfg Config) *Conn {
	c := &Conn{cfg: cfg}
	c.half[ClientToServer].dir = ClientToServer
	c.half[ServerToClient].dir = ServerToClient
	return c
}

// Facts returns what the handshake has shown so far.
func (c *Conn) Facts() Facts { return c.facts }

// DecryptErr reports why a direction is not (or no longer) decrypted: nil
// while it decrypts or before it carried any encrypted record; otherwise a
// *DecryptError matching ErrNoKey, ErrDecrypt or ErrUnsupportedCipher.
func (c *Conn) DecryptErr(dir Dir) error { return c.half[dir&1].decErr }

// HandshakeErr reports a malformed handshake message (ErrMalformedHandshake):
// Facts stopped being updated from that direction.
func (c *Conn) HandshakeErr() error { return c.hsErr }

// Feed gives the next bytes of one direction. off is the stream offset of
// data[0] in whatever numbering the caller uses (bytes since the first byte
// of the direction, or relative TCP sequence numbers); record offsets are
// reported in the same numbering. Bytes already fed (off below the end of
// the last Feed) are dropped; a jump past it is a capture gap and stops the
// direction with ErrGap.
//
// Feed runs the callbacks for every record completed by data, then returns.
// It keeps at most one partial record (copied), never data itself. The
// error is a *RecordError; it is sticky: once a direction failed, later
// calls return the same error and ignore their data.
func (c *Conn) Feed(dir Dir, off int64, data []byte) error {
	d := &c.half[dir&1]
	if d.err != nil {
		return d.err
	}
	if !d.started {
		d.started = true
		d.next = off
	}
	if off < d.next {
		seen := d.next - off
		if seen >= int64(len(data)) {
			return nil
		}
		data, off = data[seen:], d.next
	}
	if off > d.next {
		return d.fail(d.next, ErrGap)
	}
	d.next += int64(len(data))

	start := off
	if len(d.buf) > 0 {
		// Complete the buffered record first.
		if len(d.buf) < headerLen {
			n := min(headerLen-len(d.buf), len(data))
			d.buf = append(d.buf, data[:n]...)
			data = data[n:]
			start += int64(n)
			if len(d.buf) < headerLen {
				return nil
			}
		}
		_, _, n, err := parseHeader(d.buf, d.records == 0)
		if err != nil {
			return d.fail(d.bufStart, err)
		}
		take := min(headerLen+n-len(d.buf), len(data))
		d.buf = append(d.buf, data[:take]...)
		data = data[take:]
		start += int64(take)
		if len(d.buf) < headerLen+n {
			return nil
		}
		c.record(d, d.buf, d.bufStart)
		d.buf = d.buf[:0]
	}
	// Records wholly inside data are handled in place, without a copy.
	for len(data) >= headerLen {
		_, _, n, err := parseHeader(data, d.records == 0)
		if err != nil {
			return d.fail(start, err)
		}
		if len(data) < headerLen+n {
			break
		}
		c.record(d, data[:headerLen+n], start)
		data = data[headerLen+n:]
		start += int64(headerLen + n)
	}
	if len(data) > 0 {
		d.buf = append(d.buf[:0], data...)
		d.bufStart = start
	}
	return nil
}

// Close ends one direction. It returns ErrTruncated (in a *RecordError) if
// the stream stopped inside a record, else the direction's earlier record
// error, if any.
func (c *Conn) Close(dir Dir) error {
	d := &c.half[dir&1]
	if d.err == nil && len(d.buf) > 0 {
		d.fail(d.bufStart, ErrTruncated)
		d.buf = nil
	}
	return d.err
}

func (d *half) fail(off int64, err error) error {
	d.err = &RecordError{Dir: d.dir, Offset: off, Err: err}
	d.buf = nil
	return d.err
}

// record handles one complete record: rec is header and payload, start its
// stream offset. rec may be the caller's bytes: it is only read.
func (c *Conn) record(d *half, rec []byte, start int64) {
	hdr, payload := rec[:headerLen], rec[headerLen:]
	typ := ContentType(hdr[0])
	r := Record{
		Dir:     d.dir,
		Type:    typ,
		Version: uint16(hdr[1])<<8 | uint16(hdr[2]),
		Length:  len(payload),
		Start:   start,
		End:     start + int64(len(rec)),
	}
	d.records++
	r.Encrypted = typ == TypeApplicationData || d.ccs && typ != TypeChangeCipherSpec
	var plain []byte
	if !r.Encrypted {
		r.Inner = typ
		switch typ {
		case TypeChangeCipherSpec:
			// TLS 1.3 sends CCS only for middlebox compatibility (RFC 8446
			// §D.4); in TLS 1.2 it switches the direction to its keys.
			if c.facts.ServerHello && c.facts.Version <= versionTLS12 {
				d.ccs = true
				if d.dir == ServerToClient && !c.sawServerHelloDone {
					// An abbreviated handshake: session ID or ticket.
					c.facts.Resumed = true
					c.facts.ResumptionOffered = true
				}
			}
		case TypeHandshake:
			c.handshake(d, payload)
		}
	} else {
		plain, r.Inner = c.decrypt(d, hdr, payload, start)
		switch {
		case r.Inner == TypeHandshake:
			c.handshake(d, plain)
		case r.Inner == TypeChangeCipherSpec && d.ccs:
			// An encrypted CCS is a TLS 1.2 renegotiation: new keys this
			// package does not follow.
			d.stop(start, ErrUnsupportedCipher, "renegotiation")
		}
	}
	if c.cfg.OnRecord != nil {
		c.cfg.OnRecord(r)
	}
	if r.Inner == TypeApplicationData && r.Encrypted && plain != nil && c.cfg.OnPlaintext != nil {
		c.cfg.OnPlaintext(Plaintext{Dir: d.dir, Start: r.Start, End: r.End, Data: plain})
	}
	if d.pendingErr != nil {
		d.stop(r.End, d.pendingErr, "")
		d.pendingErr = nil
	}
	if d.pending != nil {
		if d.decErr == nil {
			d.rc = d.pending
		}
		d.pending = nil
	}
}

// stop ends decryption of a direction.
func (d *half) stop(off int64, err error, detail string) {
	if d.decErr == nil {
		d.decErr = &DecryptError{Dir: d.dir, Offset: off, Err: err, Detail: detail}
	}
	d.rc, d.pending = nil, nil
}

// decrypt opens one protected record. It returns nil and type 0 when the
// record was not decrypted.
func (c *Conn) decrypt(d *half, hdr, payload []byte, start int64) ([]byte, ContentType) {
	if d.decErr != nil {
		return nil, 0
	}
	if d.rc == nil && d.phase == 0 {
		if c.earlyData(d) {
			// 0-RTT data before the ServerHello: not decrypted, not an error.
			d.earlySkipped++
			return nil, 0
		}
		if detail, err := c.setup(d); err != nil {
			d.stop(start, err, detail)
			return nil, 0
		}
	}
	if d.rc == nil {
		return nil, 0
	}
	if d.plain == nil {
		d.plain = make([]byte, MaxRecordPayload)
	}
	out, inner, err := d.rc.open(d.plain, hdr, payload)
	if err != nil {
		if c.earlyData(d) {
			d.earlySkipped++
			return nil, 0
		}
		d.stop(start, ErrDecrypt, err.Error())
		return nil, 0
	}
	d.okRecords++
	c.facts.Decrypted = true
	if !d.rc.s.tls13 {
		c.rememberSession()
	}
	return out, inner
}

// earlyData reports whether a client record that cannot be decrypted (yet)
// may be TLS 1.3 0-RTT data: the client offered it, no client record was
// decrypted so far, and the bound is not reached.
func (c *Conn) earlyData(d *half) bool {
	return d.dir == ClientToServer && c.facts.EarlyData && d.okRecords == 0 &&
		(c.facts.Version == 0 || c.facts.Version >= versionTLS13) &&
		(!c.facts.ServerHello || d.rc != nil) && d.earlySkipped < maxEarlyRecords
}

// setup builds the first cipher of a direction, at its first protected record.
func (c *Conn) setup(d *half) (string, error) {
	if !c.facts.ServerHello {
		return "encrypted record before the ServerHello", ErrNoKey
	}
	s := suites[c.facts.CipherSuite]
	if s == nil || s.tls13 != (c.facts.Version >= versionTLS13) {
		return fmt.Sprintf("%s with %s", c.facts.CipherName(), c.facts.VersionName()), ErrUnsupportedCipher
	}
	if !c.keysLooked && c.cfg.Keys != nil {
		c.keysLooked = true
		c.keys, c.haveKeys = c.cfg.Keys.Lookup(c.ch.random)
		if !s.tls13 && c.keys.master == nil && c.facts.Resumed {
			c.keys.master, c.haveKeys = c.resumedMaster()
		}
	}
	if !c.haveKeys {
		return "", ErrNoKey
	}
	var err error
	if s.tls13 {
		ts := c.keys.clientHS
		if d.dir == ServerToClient {
			ts = c.keys.serverHS
		}
		if ts == nil {
			return "no TLS 1.3 handshake traffic secret", ErrNoKey
		}
		d.rc, err = newCipher13(s, ts)
		d.phase = 1
	} else {
		if c.keys.master == nil {
			return "no TLS 1.2 master secret", ErrNoKey
		}
		ckey, skey, civ, siv := keyBlock12(s, c.keys.master, c.ch.random[:], c.sh.random[:])
		if d.dir == ClientToServer {
			d.rc, err = newCipher(s, ckey, civ)
		} else {
			d.rc, err = newCipher(s, skey, siv)
		}
		d.phase = 2
	}
	if err != nil {
		return err.Error(), ErrDecrypt
	}
	return "", nil
}

// handshake feeds handshake bytes of one direction to its reassembler.
func (c *Conn) handshake(d *half, data []byte) {
	if d.hsDead {
		return
	}
	err := d.hs.push(data, func(typ uint8, body []byte) error { return c.message(d, typ, body) })
	if err != nil {
		d.hsDead = true
		if c.hsErr == nil {
			c.hsErr = fmt.Errorf("tls %s: %w", d.dir, err)
		}
	}
}

// message handles one complete handshake message; body is nil for the
// message types whose content is not needed.
func (c *Conn) message(d *half, typ uint8, body []byte) error {
	tls13 := c.facts.Version >= versionTLS13
	switch {
	case d.dir == ClientToServer && typ == msgClientHello:
		// A second ClientHello is legitimate only after a HelloRetryRequest;
		// any other (a renegotiation) does not change the facts.
		if c.facts.ServerHello || c.facts.ClientHello && !c.facts.HelloRetry {
			return nil
		}
		return parseClientHello(body, &c.facts, &c.ch)
	case d.dir == ServerToClient && typ == msgServerHello:
		if c.facts.ServerHello {
			return nil
		}
		return c.serverHello(body)
	case d.dir == ServerToClient && typ == msgNewSessionTicket:
		c.facts.ResumptionOffered = true
		if !tls13 && body != nil {
			t, err := parseTicket12(body)
			if err != nil {
				return err
			}
			c.ticket12 = t
			c.rememberSession()
		}
	case d.dir == ServerToClient && typ == msgEncryptedExtension && body != nil:
		return parseEncryptedExtensions(body, &c.facts)
	case d.dir == ServerToClient && !tls13 &&
		(typ == msgCertificate || typ == msgServerKeyExchange || typ == msgServerHelloDone):
		c.sawServerHelloDone = true
		c.facts.Resumed = false
	case typ == msgFinished && tls13 && d.phase == 1:
		// The direction's handshake ends with its Finished: the next record
		// is protected by its application traffic secret (RFC 8446 §7.1).
		ts := c.keys.clientAP
		if d.dir == ServerToClient {
			ts = c.keys.serverAP
		}
		if ts == nil && c.cfg.Keys != nil {
			// A key log read while it is written (KeyLog.Follow) may have
			// got the traffic secrets only after the handshake ones.
			if k, ok := c.cfg.Keys.Lookup(c.ch.random); ok {
				c.keys.clientAP, c.keys.serverAP = k.clientAP, k.serverAP
				ts = c.keys.clientAP
				if d.dir == ServerToClient {
					ts = c.keys.serverAP
				}
			}
		}
		if ts == nil {
			d.pendingErr = ErrNoKey
			return nil
		}
		next, err := newCipher13(d.rc.s, ts)
		if err != nil {
			d.pendingErr = ErrDecrypt
			return nil
		}
		d.pending, d.phase = next, 2
	case typ == msgKeyUpdate && tls13 && d.phase == 2 && d.rc != nil:
		next, err := d.rc.update()
		if err != nil {
			d.pendingErr = ErrDecrypt
			return nil
		}
		d.pending = next
	}
	return nil
}

func (c *Conn) serverHello(body []byte) error {
	sh, err := parseServerHello(body)
	if err != nil {
		return err
	}
	c.facts.Version = sh.version
	c.facts.CipherSuite = sh.suite
	if sh.retry {
		c.facts.HelloRetry = true
		return nil
	}
	c.facts.ServerHello = true
	c.sh = sh
	if sh.version >= versionTLS13 {
		if sh.psk {
			c.facts.Resumed = true
			c.facts.ResumptionOffered = true
		}
		return nil
	}
	c.facts.ALPN = sh.alpn
	if len(sh.sessionID) > 0 {
		// The server cached the session under this ID; echoing the
		// client's ID means it resumes (RFC 5246 §7.4.1.3). A later
		// Certificate or ServerHelloDone says otherwise.
		c.facts.ResumptionOffered = true
		if string(sh.sessionID) == string(c.ch.sessionID) {
			c.facts.Resumed = true
		}
	}
	if sh.ticketExt {
		c.facts.ResumptionOffered = true
	}
	return nil
}

// resumedMaster finds the master secret of the TLS 1.2 session this
// connection resumed, by the ticket the client offered or the session ID the
// server echoed.
func (c *Conn) resumedMaster() (secret, bool) {
	mem, ok := c.cfg.Keys.(sessionMemory)
	if !ok {
		return nil, false
	}
	if len(c.ch.ticket) > 0 {
		if m, ok := mem.sessionMaster("ticket:" + string(c.ch.ticket)); ok {
			return m, true
		}
	}
	if len(c.sh.sessionID) > 0 {
		if m, ok := mem.sessionMaster("id:" + string(c.sh.sessionID)); ok {
			return m, true
		}
	}
	return nil, false
}

// rememberSession gives a TLS 1.2 master secret that decrypted a record (so
// it is right) to the session memory, under the session ID and the ticket
// the server issued, as soon as each is known: the ticket comes after the
// client's Finished, the first record a full handshake decrypts.
func (c *Conn) rememberSession() {
	mem, ok := c.cfg.Keys.(sessionMemory)
	if !ok || !c.facts.Decrypted || c.keys.master == nil {
		return
	}
	if !c.idStored && len(c.sh.sessionID) > 0 {
		c.idStored = true
		mem.rememberSession("id:"+string(c.sh.sessionID), c.keys.master)
	}
	if !c.ticketStored && len(c.ticket12) > 0 {
		c.ticketStored = true
		mem.rememberSession("ticket:"+string(c.ticket12), c.keys.master)
	}
}
