package tls

import (
	"errors"
	"fmt"
)

// Dir is one direction of a TCP connection. The caller knows which side
// opened the connection (SYN); this package does not guess.
type Dir uint8

// The two directions of a connection.
const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

func (d Dir) String() string {
	if d == ClientToServer {
		return "client→server"
	}
	return "server→client"
}

// ContentType is the TLS record content type (RFC 8446 §5.1).
type ContentType uint8

// Record content types.
const (
	TypeChangeCipherSpec ContentType = 20
	TypeAlert            ContentType = 21
	TypeHandshake        ContentType = 22
	TypeApplicationData  ContentType = 23
	TypeHeartbeat        ContentType = 24
)

func (t ContentType) String() string {
	switch t {
	case TypeChangeCipherSpec:
		return "change_cipher_spec"
	case TypeAlert:
		return "alert"
	case TypeHandshake:
		return "handshake"
	case TypeApplicationData:
		return "application_data"
	case TypeHeartbeat:
		return "heartbeat"
	case 0:
		return "unknown"
	}
	return fmt.Sprintf("content_type(%d)", uint8(t))
}

const (
	// headerLen is the TLS record header: type, version, length.
	headerLen = 5
	// MaxRecordPayload bounds a record's payload (the bytes after the header).
	// RFC 5246 §6.2.3 allows TLSCiphertext up to 2^14+2048 bytes; TLS 1.3 is
	// tighter (2^14+256), so one bound covers both. It is also this package's
	// memory bound per direction: at most one partial record is buffered.
	MaxRecordPayload = 1<<14 + 2048
)

// Record is one TLS record as it crossed the wire.
type Record struct {
	Dir     Dir
	Type    ContentType // outer content type, as on the wire
	Version uint16      // legacy_record_version from the header
	Length  int         // payload length, header excluded
	// Start and End are the stream offsets [Start, End) of the whole record,
	// header included, in the offsets the caller passed to Feed. The caller
	// maps them to the TCP segments (frames) that carried those bytes.
	Start, End int64
	// Encrypted is true for a record protected by the connection's keys:
	// application_data records, and any record after ChangeCipherSpec in
	// TLS 1.2.
	Encrypted bool
	// Inner is the content type of a record that was decrypted (TLS 1.3
	// hides the real type inside the ciphertext). It is 0 when the record was
	// not decrypted; for plaintext records it equals Type.
	Inner ContentType
}

// Record-layer errors. They stop the direction they happened in: no record
// after them is reported. Test with errors.Is; the error returned by Feed is
// a *RecordError that says where.
var (
	// ErrNotTLS: the first bytes of the direction are not a TLS record.
	ErrNotTLS = errors.New("not a TLS record stream")
	// ErrRecordTooLarge: a record header announced more than MaxRecordPayload bytes.
	ErrRecordTooLarge = errors.New("TLS record larger than 2^14+2048 bytes")
	// ErrBadRecord: a record header with an unknown content type or version.
	ErrBadRecord = errors.New("malformed TLS record header")
	// ErrGap: the capture missed bytes of this direction; record boundaries are lost.
	ErrGap = errors.New("gap in the captured stream")
	// ErrTruncated: the stream ended inside a record.
	ErrTruncated = errors.New("stream ended inside a TLS record")
)

// RecordError says which direction's record layer stopped and at which
// stream offset (the start of the record that could not be read).
type RecordError struct {
	Dir    Dir
	Offset int64
	Err    error // one of the Err* sentinels above
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("tls %s at offset %d: %v", e.Dir, e.Offset, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// parseHeader checks a record header. first is true for the first record of
// a direction, which must be a handshake record (ClientHello or ServerHello)
// or an alert (a server refusing the ClientHello).
func parseHeader(h []byte, first bool) (typ ContentType, version uint16, n int, err error) {
	typ = ContentType(h[0])
	version = uint16(h[1])<<8 | uint16(h[2])
	n = int(h[3])<<8 | int(h[4])
	// Record versions are 0x0300 (SSL 3.0, still seen in ClientHello records)
	// to 0x0304; TLS 1.3 freezes the record version at 0x0303.
	validVersion := h[1] == 3 && h[2] <= 4
	switch {
	case first && (typ != TypeHandshake && typ != TypeAlert || !validVersion):
		return 0, 0, 0, ErrNotTLS
	case typ < TypeChangeCipherSpec || typ > TypeHeartbeat || !validVersion:
		return 0, 0, 0, ErrBadRecord
	case n > MaxRecordPayload:
		return 0, 0, 0, ErrRecordTooLarge
	}
	return typ, version, n, nil
}

// Verdict is Sniff's answer.
type Verdict uint8

// Sniff verdicts.
const (
	NeedMore Verdict = iota // too few bytes to tell
	IsTLS                   // a TLS handshake record carrying a ClientHello
	NotTLS                  // something else
)

func (v Verdict) String() string {
	switch v {
	case IsTLS:
		return "tls"
	case NotTLS:
		return "not tls"
	}
	return "need more"
}

// sniffLen is how many bytes Sniff needs for a yes: the record header, the
// handshake header and the major byte of the ClientHello's legacy_version.
const sniffLen = headerLen + 4 + 1

// sniffChecks run as soon as their byte is available, so that plain text
// ("GET / HTTP/1.1") is rejected from its first byte.
var sniffChecks = [sniffLen]func(b []byte) bool{
	0: func(b []byte) bool { return b[0] == byte(TypeHandshake) },
	1: func(b []byte) bool { return b[1] == 3 },
	2: func(b []byte) bool { return b[2] <= 4 },
	4: func(b []byte) bool {
		// A ClientHello body is at least 38 bytes (version, random, three
		// empty vectors) plus the 4-byte handshake header; a plaintext
		// record is at most 2^14 bytes.
		n := int(b[3])<<8 | int(b[4])
		return n >= 4+38 && n <= 1<<14
	},
	5: func(b []byte) bool { return b[5] == 1 }, // client_hello
	8: func(b []byte) bool {
		n := int(b[6])<<16 | int(b[7])<<8 | int(b[8])
		return n >= 38
	},
	9: func(b []byte) bool { return b[9] == 3 },
}

// Sniff tells whether the first bytes a client sent on a connection start a
// TLS ClientHello: a handshake record (0x16 0x03 0x00-0x04) of plausible
// length whose first message is a ClientHello with a 3.x version. It looks
// at no more than the first 10 bytes and answers NeedMore while it has fewer
// and nothing contradicts TLS so far. It works on any port.
func Sniff(data []byte) Verdict {
	for i, check := range sniffChecks {
		if i >= len(data) {
			return NeedMore
		}
		if check != nil && !check(data) {
			return NotTLS
		}
	}
	return IsTLS
}
