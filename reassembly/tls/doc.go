// Package tls follows the TLS records of a captured TCP connection: it
// frames records, reads the cleartext handshake (version, SNI, ALPN, cipher
// suite, resumption, early data) and, given the session's secrets from an
// NSS key log (SSLKEYLOGFILE, or a pcapng Decryption Secrets Block), decrypts
// TLS 1.2 and TLS 1.3 application data. It is passive: it never speaks TLS.
//
// # API
//
// One Conn per TCP connection; the caller says which direction is which:
//
//	keys, err := tls.ReadKeyLogFile("keys.log") // err: bad lines, each file:line; keys still usable
//	c := tls.NewConn(tls.Config{
//		Keys:        keys,                                  // nil: no decryption
//		OnRecord:    func(r tls.Record) { ... },            // every record, with its stream offsets
//		OnPlaintext: func(p tls.Plaintext) { ... },         // decrypted application data
//	})
//	err = c.Feed(tls.ClientToServer, off, data) // in-order bytes; off = stream offset of data[0]
//	...
//	c.Close(tls.ClientToServer)                 // ErrTruncated if the stream stopped inside a record
//	f := c.Facts()                              // version, SNI, ALPN, suite, resumed, decrypted
//	c.DecryptErr(tls.ServerToClient)            // nil, or why this direction is not decrypted
//
// Sniff tells from a client's first bytes whether a connection is TLS, on
// any port.
//
// # Callback order and counts
//
// Feed calls, for each record completed by its data, in stream order:
//  1. OnRecord once (after the record's handshake messages updated Facts);
//  2. OnPlaintext once, if the record was decrypted application data.
//
// A record's key change (TLS 1.3 Finished, KeyUpdate) applies from the next
// record. Callbacks must not call Feed.
//
// # Who owns the bytes
//
// Feed reads data during the call only; it copies at most one partial
// record per direction. Plaintext.Data lives in a per-direction buffer that
// the next record overwrites: copy what you keep.
//
// # Offsets
//
// Record.Start/End and Plaintext.Start/End are offsets in the numbering the
// caller used for Feed (for example bytes since the direction's first
// payload byte), covering the whole record, header and AEAD tag included.
// The caller maps them to the TCP segments, hence frame numbers, that
// carried those bytes.
//
// # Errors
//
// Record-layer errors (ErrNotTLS, ErrRecordTooLarge, ErrBadRecord, ErrGap,
// ErrTruncated) stop their direction; Feed returns them as *RecordError.
// Decryption errors (ErrNoKey, ErrDecrypt for a wrong key or a corrupt
// record, ErrUnsupportedCipher) stop decryption of their direction only:
// records are still reported, no plaintext is produced from anything that
// did not authenticate. A malformed handshake (ErrMalformedHandshake) stops
// Facts from that direction. All are errors.Is-able sentinels.
//
// # Key material
//
// Secrets and KeyLog print as "redacted" with every fmt verb; errors name a
// key log's file and line, never its content.
//
// # Limits
//
//   - Memory: one partial record (at most 5+MaxRecordPayload bytes), one
//     decryption buffer of the same size and one handshake message of
//     interest (at most 128 KiB) per direction; certificates are skipped,
//     not buffered. KeyLog's TLS 1.2 session memory keeps 4096 sessions.
//   - Feed the two directions in capture order: the client's encrypted
//     records need the server's ServerHello first.
//   - Decrypted: TLS 1.3 AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305 (with
//     KeyUpdate); TLS 1.2 AES-GCM and ChaCha20-Poly1305 suites. Not decrypted
//     (ErrUnsupportedCipher): CBC and other TLS 1.2 suites, TLS 1.0/1.1,
//     TLS 1.2 renegotiation. TLS 1.3 0-RTT data is passed over (reported as
//     records, not decrypted). SSLv2-format ClientHellos are not TLS here.
//   - A gap in the capture stops the direction: record boundaries and
//     sequence numbers are lost.
//   - Without keys, TLS 1.3 hides ALPN, tickets (ResumptionOffered) and the
//     inner type of every record after the ServerHello.
//   - A resumed TLS 1.2 session whose client logged no key (Go's crypto/tls)
//     is decrypted only if the session it resumes was decrypted earlier with
//     the same KeyLog.
package tls
