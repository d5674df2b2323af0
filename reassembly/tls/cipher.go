package tls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// Decryption errors. Each stops decryption of its direction; records are
// still reported (without plaintext). Test with errors.Is; DecryptErr
// returns a *DecryptError that says where.
var (
	// ErrNoKey: the key log has no usable secrets for this session.
	ErrNoKey = errors.New("no key for this session")
	// ErrDecrypt: a record failed authentication — a wrong key or a corrupt
	// record (they cannot be told apart).
	ErrDecrypt = errors.New("decryption failed (wrong key or corrupt record)")
	// ErrUnsupportedCipher: the negotiated suite (CBC, RC4, ...) or feature
	// (renegotiation, 0-RTT data) is not decrypted by this package.
	ErrUnsupportedCipher = errors.New("unsupported cipher")
)

// DecryptError says which direction stopped decrypting, at which record.
type DecryptError struct {
	Dir    Dir
	Offset int64 // stream offset of the record that could not be decrypted
	Err    error // ErrNoKey, ErrDecrypt or ErrUnsupportedCipher
	Detail string
}

func (e *DecryptError) Error() string {
	s := fmt.Sprintf("tls %s at offset %d: %v", e.Dir, e.Offset, e.Err)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *DecryptError) Unwrap() error { return e.Err }

// suite describes how a cipher suite protects records. The key exchange
// does not matter here: the key log gives the secrets that come out of it.
type suite struct {
	id     uint16
	tls13  bool
	hash   func() hash.Hash
	keyLen int
	// ivLen is the fixed IV from the key block (TLS 1.2: 4 for GCM, whose
	// other 8 nonce bytes travel in the record; 12 for ChaCha20-Poly1305)
	// or from HKDF (TLS 1.3: always 12).
	ivLen         int
	explicitNonce bool
	aead          func(key []byte) (cipher.AEAD, error)
}

func aesGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

var suites = map[uint16]*suite{
	// TLS 1.3, RFC 8446 §B.4.
	0x1301: {id: 0x1301, tls13: true, hash: sha256.New, keyLen: 16, ivLen: 12, aead: aesGCM},
	0x1302: {id: 0x1302, tls13: true, hash: sha512.New384, keyLen: 32, ivLen: 12, aead: aesGCM},
	0x1303: {id: 0x1303, tls13: true, hash: sha256.New, keyLen: 32, ivLen: 12, aead: chacha20poly1305.New},
	// TLS 1.2 AES-GCM (RFC 5288, RFC 5289): RSA, DHE_RSA, ECDHE_ECDSA, ECDHE_RSA.
	0x009c: {id: 0x009c, hash: sha256.New, keyLen: 16, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0x009d: {id: 0x009d, hash: sha512.New384, keyLen: 32, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0x009e: {id: 0x009e, hash: sha256.New, keyLen: 16, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0x009f: {id: 0x009f, hash: sha512.New384, keyLen: 32, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0xc02b: {id: 0xc02b, hash: sha256.New, keyLen: 16, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0xc02c: {id: 0xc02c, hash: sha512.New384, keyLen: 32, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0xc02f: {id: 0xc02f, hash: sha256.New, keyLen: 16, ivLen: 4, explicitNonce: true, aead: aesGCM},
	0xc030: {id: 0xc030, hash: sha512.New384, keyLen: 32, ivLen: 4, explicitNonce: true, aead: aesGCM},
	// TLS 1.2 ChaCha20-Poly1305 (RFC 7905): ECDHE_RSA, ECDHE_ECDSA, DHE_RSA.
	0xcca8: {id: 0xcca8, hash: sha256.New, keyLen: 32, ivLen: 12, aead: chacha20poly1305.New},
	0xcca9: {id: 0xcca9, hash: sha256.New, keyLen: 32, ivLen: 12, aead: chacha20poly1305.New},
	0xccaa: {id: 0xccaa, hash: sha256.New, keyLen: 32, ivLen: 12, aead: chacha20poly1305.New},
}

// expandLabel is HKDF-Expand-Label from RFC 8446 §7.1.
func expandLabel(h func() hash.Hash, secret []byte, label string, context []byte, length int) []byte {
	var b cryptobyte.Builder
	b.AddUint16(uint16(length))
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) {
		b.AddBytes([]byte("tls13 "))
		b.AddBytes([]byte(label))
	})
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(context) })
	out, err := hkdf.Expand(h, secret, string(b.BytesOrPanic()), length)
	if err != nil {
		// Only a length beyond 255 hash blocks fails; ours are 12 to 48 bytes.
		panic("tls: HKDF-Expand-Label: " + err.Error())
	}
	return out
}

// prf12 is the TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed).
func prf12(h func() hash.Hash, secret []byte, label string, seed []byte, n int) []byte {
	labelSeed := append([]byte(label), seed...)
	mac := hmac.New(h, secret)
	mac.Write(labelSeed)
	a := mac.Sum(nil)
	out := make([]byte, 0, n+mac.Size())
	for len(out) < n {
		mac.Reset()
		mac.Write(a)
		mac.Write(labelSeed)
		out = mac.Sum(out)
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
	return out[:n]
}

// keyBlock12 derives the TLS 1.2 AEAD keys (RFC 5246 §6.3): AEAD suites have
// no MAC keys, so the block is client key, server key, client IV, server IV.
func keyBlock12(s *suite, master, clientRandom, serverRandom []byte) (ckey, skey, civ, siv []byte) {
	seed := append(append([]byte{}, serverRandom...), clientRandom...)
	kb := prf12(s.hash, master, "key expansion", seed, 2*s.keyLen+2*s.ivLen)
	ckey, kb = kb[:s.keyLen], kb[s.keyLen:]
	skey, kb = kb[:s.keyLen], kb[s.keyLen:]
	civ, kb = kb[:s.ivLen], kb[s.ivLen:]
	siv = kb[:s.ivLen]
	return
}

// recordCipher decrypts one direction's records under one key.
type recordCipher struct {
	s     *suite
	aead  cipher.AEAD
	iv    []byte // fixed IV (TLS 1.2) or per-record IV base (TLS 1.3)
	seq   uint64
	nonce [12]byte
	ad    [13]byte
	// secret is the TLS 1.3 traffic secret behind the key, kept for KeyUpdate.
	secret secret
}

func newCipher(s *suite, key, iv []byte) (*recordCipher, error) {
	a, err := s.aead(key)
	if err != nil {
		return nil, err
	}
	return &recordCipher{s: s, aead: a, iv: iv}, nil
}

// newCipher13 derives key and IV from a TLS 1.3 traffic secret (RFC 8446 §7.3).
func newCipher13(s *suite, ts []byte) (*recordCipher, error) {
	if len(ts) != s.hash().Size() {
		return nil, fmt.Errorf("traffic secret is %d bytes, suite hash is %d", len(ts), s.hash().Size())
	}
	c, err := newCipher(s, expandLabel(s.hash, ts, "key", nil, s.keyLen), expandLabel(s.hash, ts, "iv", nil, 12))
	if err != nil {
		return nil, err
	}
	c.secret = ts
	return c, nil
}

// update moves to the next TLS 1.3 traffic secret after a KeyUpdate
// (RFC 8446 §7.2).
func (c *recordCipher) update() (*recordCipher, error) {
	next := expandLabel(c.s.hash, c.secret, "traffic upd", nil, c.s.hash().Size())
	return newCipher13(c.s, next)
}

// open decrypts one record's payload into dst (which must not overlap it).
// hdr is the 5-byte record header. For TLS 1.3 it returns the inner content
// type with the padding stripped.
func (c *recordCipher) open(dst []byte, hdr, payload []byte) ([]byte, ContentType, error) {
	overhead := c.aead.Overhead()
	var ad []byte
	if c.s.tls13 {
		// RFC 8446 §5.3: nonce = iv XOR 64-bit sequence number, left-padded.
		copy(c.nonce[:], c.iv)
		for i := 0; i < 8; i++ {
			c.nonce[4+i] ^= byte(c.seq >> (56 - 8*i))
		}
		ad = hdr
	} else {
		n := len(payload) - overhead
		if c.s.explicitNonce {
			// RFC 5288 §3: salt (4 bytes from the key block) + explicit 8 bytes.
			if len(payload) < 8+overhead {
				return nil, 0, errShortRecord
			}
			copy(c.nonce[:4], c.iv)
			copy(c.nonce[4:], payload[:8])
			payload = payload[8:]
			n -= 8
		} else {
			// RFC 7905 §2: iv XOR sequence number, like TLS 1.3.
			copy(c.nonce[:], c.iv)
			for i := 0; i < 8; i++ {
				c.nonce[4+i] ^= byte(c.seq >> (56 - 8*i))
			}
		}
		if n < 0 {
			return nil, 0, errShortRecord
		}
		// RFC 5246 §6.2.3.3: seq_num + type + version + length of the plaintext.
		binary.BigEndian.PutUint64(c.ad[:8], c.seq)
		c.ad[8], c.ad[9], c.ad[10] = hdr[0], hdr[1], hdr[2]
		binary.BigEndian.PutUint16(c.ad[11:], uint16(n))
		ad = c.ad[:]
	}
	if len(payload) < overhead {
		return nil, 0, errShortRecord
	}
	out, err := c.aead.Open(dst[:0], c.nonce[:c.aead.NonceSize()], payload, ad)
	if err != nil {
		return nil, 0, err
	}
	c.seq++
	if !c.s.tls13 {
		return out, ContentType(hdr[0]), nil
	}
	// RFC 8446 §5.4: the real type is the last non-zero byte.
	i := len(out) - 1
	for i >= 0 && out[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, 0, errNoInnerType
	}
	return out[:i], ContentType(out[i]), nil
}

var (
	errShortRecord = errors.New("record shorter than the AEAD overhead")
	errNoInnerType = errors.New("no inner content type (all padding)")
)
