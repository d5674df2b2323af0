package capture

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ngGuard follows the pcapng block structure in the byte stream on its way
// to pcapgo and stops the stream at a block whose total length is
// impossible. pcapgo trusts block and packet lengths: a corrupt length makes
// it allocate or skip up to 4 GiB, and a length below the minimum wraps its
// unsigned arithmetic. Wireshark rejects such blocks as damage; so do we,
// with the block's offset.
type ngGuard struct {
	r           io.Reader
	off         int64 // stream offset of the next byte passed on
	skip        int64 // bytes left in the current block's body
	hdr         [12]byte
	nhdr        int   // header bytes collected so far
	start       int64 // offset of the block being collected
	big         bool  // byte order of the current section
	passThrough bool  // the stream is not pcapng: pass it through untouched
	failed      *guardError

	// Decryption Secrets Blocks: pcapgo skips them (it keeps what it reads
	// of them unexported), so the guard, which sees every block go by,
	// copies the body of each one on its way (dsb, while collecting) and
	// keeps the TLS key log text of those of type TLSK (secrets).
	collecting bool
	dsb        []byte
	secrets    []byte
}

// Decryption Secrets Block (pcapng spec, block type 0x0000000A) and its TLS
// key log secrets type ('TLSK': NSS key log text).
const (
	ngBlockDSB      = 0x0000000A
	ngSecretsTLSK   = 0x544c534b
	maxSecretsBytes = 4 << 20 // per input; key log lines are ~200 bytes each
)

// takeSecrets returns the key log text of the Decryption Secrets Blocks
// read since the last call, or nil.
func (g *ngGuard) takeSecrets() []byte {
	s := g.secrets
	g.secrets = nil
	return s
}

// endDSB keeps the key log of a complete Decryption Secrets Block body:
// secrets type, secrets length, the secrets (padded to 4 bytes), options,
// and the trailing block length.
func (g *ngGuard) endDSB() {
	b := g.dsb
	g.dsb, g.collecting = nil, false
	if len(b) < 8 {
		return
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if g.big {
		bo = binary.BigEndian
	}
	typ, n := bo.Uint32(b), bo.Uint32(b[4:])
	if typ != ngSecretsTLSK || uint64(n) > uint64(len(b)-8) || len(g.secrets)+int(n)+1 > maxSecretsBytes {
		return
	}
	g.secrets = append(g.secrets, b[8:8+n]...)
	if n > 0 && b[8+n-1] != '\n' {
		g.secrets = append(g.secrets, '\n')
	}
}

// guardError is a damaged pcapng block found by ngGuard.
type guardError struct {
	offset int64
	msg    string
}

func (e *guardError) Error() string { return e.msg }

const (
	ngByteOrderMagic = 0x1a2b3c4d
	ngMinBlock       = 12 // type, total length, trailing total length
	// ngMaxBlock allows a maxRecord packet plus the enhanced packet block's
	// fixed fields and generous room for options.
	ngMaxBlock = maxRecord + 64<<10
)

func (g *ngGuard) Read(p []byte) (int, error) {
	if g.failed != nil {
		return 0, g.failed
	}
	n, err := g.r.Read(p)
	if n > 0 {
		if ok := g.scan(p[:n]); ok < n {
			// Pass on the bytes before the bad block header, so every good
			// packet is still delivered; the error comes on the next read.
			g.off += int64(ok)
			return ok, nil
		}
		g.off += int64(n)
	}
	return n, err
}

// scan advances the block state over b and returns how many of its bytes are
// good (len(b) unless a bad block header starts inside b).
func (g *ngGuard) scan(b []byte) int {
	i := 0
	for i < len(b) && !g.passThrough {
		if g.skip > 0 {
			k := int64(len(b) - i)
			if k > g.skip {
				k = g.skip
			}
			if g.collecting {
				g.dsb = append(g.dsb, b[i:i+int(k)]...)
			}
			g.skip -= k
			i += int(k)
			if g.skip == 0 && g.collecting {
				g.endDSB()
			}
			continue
		}
		if g.nhdr == 0 {
			g.start = g.off + int64(i)
		}
		g.hdr[g.nhdr] = b[i]
		g.nhdr++
		i++
		if g.nhdr == 4 && g.start == 0 && binary.LittleEndian.Uint32(g.hdr[:4]) != magicPcapngSHB {
			// Not pcapng at all: the caller works that out from the magic.
			g.passThrough = true
			break
		}
		want := 8
		if g.nhdr >= 4 && binary.LittleEndian.Uint32(g.hdr[:4]) == magicPcapngSHB {
			want = 12
		}
		if g.nhdr < want {
			continue
		}
		if err := g.header(want); err != nil {
			g.failed = err
			// The whole header counts as bad: report from the block start.
			good := int(g.start - g.off)
			if good < 0 {
				good = 0
			}
			return good
		}
		g.nhdr = 0
	}
	return len(b)
}

// header checks a complete block header of n bytes and sets up the skip.
func (g *ngGuard) header(n int) *guardError {
	if n == 12 {
		switch {
		case binary.BigEndian.Uint32(g.hdr[8:]) == ngByteOrderMagic:
			g.big = true
		case binary.LittleEndian.Uint32(g.hdr[8:]) == ngByteOrderMagic:
			g.big = false
		default:
			return &guardError{g.start, fmt.Sprintf("pcapng: section header with bad byte-order magic 0x%x", g.hdr[8:12])}
		}
	}
	var total uint32
	if g.big {
		total = binary.BigEndian.Uint32(g.hdr[4:])
	} else {
		total = binary.LittleEndian.Uint32(g.hdr[4:])
	}
	switch {
	case total < ngMinBlock || total < uint32(n)+4:
		return &guardError{g.start, fmt.Sprintf("pcapng: block length %d is too small", total)}
	case total%4 != 0:
		return &guardError{g.start, fmt.Sprintf("pcapng: block length %d is not a multiple of 4", total)}
	case total > ngMaxBlock:
		return &guardError{g.start, fmt.Sprintf("pcapng: block length %d exceeds the %d MiB limit", total, ngMaxBlock>>20)}
	}
	g.skip = int64(total) - int64(n)
	g.collecting = n == 8 && g.blockType() == ngBlockDSB
	return nil
}

func (g *ngGuard) blockType() uint32 {
	if g.big {
		return binary.BigEndian.Uint32(g.hdr[:4])
	}
	return binary.LittleEndian.Uint32(g.hdr[:4])
}
