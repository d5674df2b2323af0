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
			g.skip -= k
			i += int(k)
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
	return nil
}
