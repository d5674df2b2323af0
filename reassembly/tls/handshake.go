package tls

import (
	"bytes"
	stdtls "crypto/tls"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
const (
	msgClientHello        = 1
	msgServerHello        = 2
	msgNewSessionTicket   = 4
	msgEndOfEarlyData     = 5
	msgEncryptedExtension = 8
	msgCertificate        = 11
	msgServerKeyExchange  = 12
	msgServerHelloDone    = 14
	msgFinished           = 20
	msgKeyUpdate          = 24
)

// Extension types.
const (
	extServerName          = 0
	extALPN                = 16
	extSessionTicket       = 35
	extPreSharedKey        = 41
	extEarlyData           = 42
	extSupportedVersions   = 43
	extKeyShare            = 51
	maxInterestingHSLength = 1 << 17
)

// helloRetryRandom is the ServerHello.random of a HelloRetryRequest,
// SHA-256("HelloRetryRequest") (RFC 8446 §4.1.3).
var helloRetryRandom = []byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// ErrMalformedHandshake: a ClientHello, ServerHello or other parsed handshake
// message does not follow its grammar. Handshake parsing of that direction
// stops; records are still reported. HandshakeErr returns it, wrapped.
var ErrMalformedHandshake = errors.New("malformed TLS handshake message")

// Facts is what the handshake tells about a connection. Fields are filled as
// the messages arrive; a zero field means "not seen (yet)".
type Facts struct {
	ClientHello bool // a ClientHello was parsed
	ServerHello bool // a ServerHello (not a HelloRetryRequest) was parsed

	// Version is the negotiated version (crypto/tls.VersionTLS12, ...): the
	// supported_versions extension of the ServerHello, else its legacy_version.
	Version uint16
	SNI     string // server_name from the ClientHello
	// ALPNOffered lists the client's protocols. Read-only: it is shared.
	ALPNOffered []string
	// ALPN is the protocol the server chose. TLS 1.2 sends it in the clear;
	// TLS 1.3 sends it in EncryptedExtensions, so without keys it stays "".
	ALPN        string
	CipherSuite uint16 // chosen by the server
	HelloRetry  bool   // the server sent a HelloRetryRequest

	// Resumed: an abbreviated handshake. TLS 1.3: the ServerHello accepted
	// a pre_shared_key. TLS 1.2: the server went to ChangeCipherSpec without
	// a Certificate/ServerHelloDone (a session ID echo or a ticket).
	Resumed bool
	// ResumptionOffered: the server offers or supports resumption — it sent a
	// NewSessionTicket (TLS 1.3: only visible decrypted), gave a non-empty
	// session ID in TLS 1.2, announced a ticket (empty session_ticket
	// extension), or this connection was itself resumed.
	ResumptionOffered bool
	// TicketOffered / PSKOffered: the client tried to resume (a non-empty
	// TLS 1.2 session ticket, or TLS 1.3 pre_shared_key).
	TicketOffered bool
	PSKOffered    bool
	// EarlyData: the client offered 0-RTT data (early_data in its
	// ClientHello). EarlyDataAccepted: the server's EncryptedExtensions
	// accepted it (visible only decrypted).
	EarlyData         bool
	EarlyDataAccepted bool

	// Decrypted: at least one encrypted record was authenticated with the
	// logged keys. DecryptErr says whether a direction stopped later.
	Decrypted bool
}

// CipherName is the IANA name of the chosen suite, or "" before the ServerHello.
func (f Facts) CipherName() string {
	if f.CipherSuite == 0 {
		return ""
	}
	return stdtls.CipherSuiteName(f.CipherSuite)
}

// VersionName is "TLS 1.2", "TLS 1.3", ..., or "" before the ServerHello.
func (f Facts) VersionName() string {
	if f.Version == 0 {
		return ""
	}
	return stdtls.VersionName(f.Version)
}

// hsReader reassembles the handshake messages of one direction: messages can
// span records and a record can carry several. Only the messages whose
// content matters are buffered (at most maxInterestingHSLength); the rest,
// certificates included, are counted through without being kept.
type hsReader struct {
	buf  []byte // the message being collected, header included
	skip int    // body bytes still to pass over of an uninteresting message
	typ  uint8  // type of the message being skipped
}

func interesting(typ uint8) bool {
	switch typ {
	case msgClientHello, msgServerHello, msgNewSessionTicket, msgEncryptedExtension:
		return true
	}
	return false
}

// push feeds handshake bytes; handle is called once per complete message, in
// order, with the body for interesting messages and nil for the others.
func (h *hsReader) push(data []byte, handle func(typ uint8, body []byte) error) error {
	for len(data) > 0 {
		if h.skip > 0 {
			n := min(h.skip, len(data))
			h.skip -= n
			data = data[n:]
			if h.skip == 0 {
				if err := handle(h.typ, nil); err != nil {
					return err
				}
			}
			continue
		}
		if len(h.buf) < 4 {
			n := min(4-len(h.buf), len(data))
			h.buf = append(h.buf, data[:n]...)
			data = data[n:]
			if len(h.buf) < 4 {
				return nil
			}
			typ := h.buf[0]
			n = int(h.buf[1])<<16 | int(h.buf[2])<<8 | int(h.buf[3])
			if !interesting(typ) || n > maxInterestingHSLength {
				if (typ == msgClientHello || typ == msgServerHello) && n > maxInterestingHSLength {
					return fmt.Errorf("%w: hello message of %d bytes", ErrMalformedHandshake, n)
				}
				h.buf = h.buf[:0]
				h.typ, h.skip = typ, n
				if n == 0 {
					if err := handle(typ, nil); err != nil {
						return err
					}
				}
				continue
			}
		}
		want := 4 + (int(h.buf[1])<<16 | int(h.buf[2])<<8 | int(h.buf[3]))
		n := min(want-len(h.buf), len(data))
		h.buf = append(h.buf, data[:n]...)
		data = data[n:]
		if len(h.buf) == want {
			err := handle(h.buf[0], h.buf[4:])
			h.buf = h.buf[:0]
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// clientHello holds what the ServerHello and key lookup need later.
type clientHello struct {
	random    [32]byte
	sessionID []byte
	ticket    []byte // TLS 1.2 session ticket offered for resumption
}

func malformed(what string) error {
	return fmt.Errorf("%w: %s", ErrMalformedHandshake, what)
}

// parseClientHello fills f from a ClientHello body (RFC 8446 §4.1.2).
func parseClientHello(body []byte, f *Facts, ch *clientHello) error {
	s := cryptobyte.String(body)
	var version uint16
	var random, sid, suites, comp cryptobyte.String
	if !s.ReadUint16(&version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || !s.ReadUint16LengthPrefixed(&suites) ||
		!s.ReadUint8LengthPrefixed(&comp) {
		return malformed("ClientHello")
	}
	copy(ch.random[:], random)
	ch.sessionID = append([]byte(nil), sid...)
	f.ClientHello = true
	if s.Empty() {
		return nil // no extensions (SSL 3.0 style)
	}
	return readExtensions(&s, "ClientHello", func(typ uint16, e cryptobyte.String) bool {
		switch typ {
		case extServerName:
			var list cryptobyte.String
			if !e.ReadUint16LengthPrefixed(&list) {
				return false
			}
			for !list.Empty() {
				var nameType uint8
				var name cryptobyte.String
				if !list.ReadUint8(&nameType) || !list.ReadUint16LengthPrefixed(&name) {
					return false
				}
				if nameType == 0 && f.SNI == "" {
					f.SNI = string(name)
				}
			}
		case extALPN:
			var list cryptobyte.String
			if !e.ReadUint16LengthPrefixed(&list) {
				return false
			}
			f.ALPNOffered = f.ALPNOffered[:0]
			for !list.Empty() {
				var proto cryptobyte.String
				if !list.ReadUint8LengthPrefixed(&proto) || len(proto) == 0 {
					return false
				}
				f.ALPNOffered = append(f.ALPNOffered, string(proto))
			}
		case extSessionTicket:
			f.TicketOffered = len(e) > 0
			ch.ticket = append([]byte(nil), e...)
			return true
		case extPreSharedKey:
			f.PSKOffered = true
			return true
		case extEarlyData:
			f.EarlyData = true
			return true
		case extSupportedVersions:
			var list cryptobyte.String
			if !e.ReadUint8LengthPrefixed(&list) || len(list)%2 != 0 {
				return false
			}
		case extKeyShare:
			var list cryptobyte.String
			if !e.ReadUint16LengthPrefixed(&list) {
				return false
			}
			for !list.Empty() {
				var group uint16
				var key cryptobyte.String
				if !list.ReadUint16(&group) || !list.ReadUint16LengthPrefixed(&key) {
					return false
				}
			}
		default:
			return true
		}
		return e.Empty()
	})
}

// serverHello is what the connection needs from a ServerHello.
type serverHello struct {
	random    [32]byte
	sessionID []byte
	suite     uint16
	version   uint16
	retry     bool // HelloRetryRequest
	psk       bool // pre_shared_key accepted
	ticketExt bool // TLS 1.2: the server will send a NewSessionTicket
	alpn      string
}

// parseServerHello parses a ServerHello or HelloRetryRequest body (RFC 8446 §4.1.3).
func parseServerHello(body []byte) (serverHello, error) {
	var sh serverHello
	s := cryptobyte.String(body)
	var random, sid cryptobyte.String
	var comp uint8
	if !s.ReadUint16(&sh.version) || !s.ReadBytes((*[]byte)(&random), 32) ||
		!s.ReadUint8LengthPrefixed(&sid) || !s.ReadUint16(&sh.suite) || !s.ReadUint8(&comp) {
		return sh, malformed("ServerHello")
	}
	copy(sh.random[:], random)
	sh.sessionID = append([]byte(nil), sid...)
	sh.retry = bytes.Equal(random, helloRetryRandom)
	if s.Empty() {
		return sh, nil
	}
	err := readExtensions(&s, "ServerHello", func(typ uint16, e cryptobyte.String) bool {
		switch typ {
		case extSupportedVersions:
			if !e.ReadUint16(&sh.version) {
				return false
			}
		case extPreSharedKey:
			var identity uint16
			if !e.ReadUint16(&identity) {
				return false
			}
			sh.psk = true
		case extSessionTicket:
			sh.ticketExt = true
			return true
		case extALPN:
			var list, proto cryptobyte.String
			if !e.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) || !list.Empty() {
				return false
			}
			sh.alpn = string(proto)
		default:
			return true
		}
		return e.Empty()
	})
	return sh, err
}

// parseEncryptedExtensions reads ALPN and early_data from a TLS 1.3
// EncryptedExtensions body (RFC 8446 §4.3.1).
func parseEncryptedExtensions(body []byte, f *Facts) error {
	s := cryptobyte.String(body)
	return readExtensions(&s, "EncryptedExtensions", func(typ uint16, e cryptobyte.String) bool {
		switch typ {
		case extALPN:
			var list, proto cryptobyte.String
			if !e.ReadUint16LengthPrefixed(&list) || !list.ReadUint8LengthPrefixed(&proto) || !list.Empty() {
				return false
			}
			f.ALPN = string(proto)
		case extEarlyData:
			f.EarlyDataAccepted = true
		default:
			return true
		}
		return e.Empty()
	})
}

// readExtensions walks a u16-prefixed extension block that must end the
// message, calling fn for each extension; fn returns false for a malformed one.
func readExtensions(s *cryptobyte.String, msg string, fn func(typ uint16, data cryptobyte.String) bool) error {
	var exts cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&exts) || !s.Empty() {
		return malformed(msg + " extensions")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return malformed(msg + " extensions")
		}
		if !fn(typ, data) {
			return malformed(fmt.Sprintf("%s extension %d", msg, typ))
		}
	}
	return nil
}

// parseTicket12 returns the ticket of a TLS 1.2 NewSessionTicket (RFC 5077 §3.3).
func parseTicket12(body []byte) ([]byte, error) {
	s := cryptobyte.String(body)
	var lifetime uint32
	var ticket cryptobyte.String
	if !s.ReadUint32(&lifetime) || !s.ReadUint16LengthPrefixed(&ticket) || !s.Empty() {
		return nil, malformed("NewSessionTicket")
	}
	return append([]byte(nil), ticket...), nil
}
