package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// pcapReader reads classic pcap records out of one large buffer, refilled
// by a single Read of the stream below, and hands out each packet's bytes
// as a slice of that buffer (issue 15: pcapgo's reader costs two
// io.ReadFull calls through its own 4 KiB bufio.Reader and a copy per
// packet). It keeps pcapgo's behaviour record for record, as its checks
// are applied to the header openPcap gives it: the same errors, with the
// same texts, for the same bytes (TestPcapReaderMatchesPcapgo,
// FuzzPcapReaderMatchesPcapgo).
type pcapReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // the unread bytes are buf[start:end]
	err        error // the stream's error (io.EOF at its end), once seen; it comes after every byte before it
	empty      int   // consecutive reads that returned nothing

	big     bool   // big-endian file
	factor  uint32 // nanoseconds per unit of the timestamp's fraction: 1000 (usec) or 1 (nsec)
	snaplen int    // the largest record accepted (openPcap's capped snap length)
}

// pcapBufSize is the pcapReader's buffer. It holds about a hundred
// ordinary records, so a refill (one read system call) is rare, and stays
// small enough for the CPU's cache: the pipeline copies each packet out
// right after the read brought it in (on the bench capture 128 KiB cost
// the reader goroutine ~0.40 s against ~0.57 s with 256 or 512 KiB, issue
// 15). Moving the unread part of a record to the front before a refill
// copies at most one record; records longer than the buffer grow it as
// they arrive.
const pcapBufSize = 128 << 10

// maxEmptyReads is bufio's limit on reads that return neither bytes nor an
// error: after that many in a row the stream is taken as stuck, with
// io.ErrNoProgress, as pcapgo's bufio.Reader did.
const maxEmptyReads = 100

// newPcapReader reads records from r, which is positioned just after the
// file header hdr (the 24 bytes openPcap adjusted).
func newPcapReader(r io.Reader, hdr []byte) *pcapReader {
	p := &pcapReader{r: r, buf: make([]byte, pcapBufSize), factor: 1000}
	var bo binary.ByteOrder = binary.LittleEndian
	switch binary.LittleEndian.Uint32(hdr) {
	case magicPcapNsec:
		p.factor = 1
	case magicPcapUsec:
	default:
		bo, p.big = binary.BigEndian, true
		if binary.BigEndian.Uint32(hdr) == magicPcapNsec {
			p.factor = 1
		}
	}
	p.snaplen = int(bo.Uint32(hdr[16:]))
	return p
}

func (p *pcapReader) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// fill reads until n bytes are unread or the stream has failed or ended,
// moving the unread bytes to the front of the buffer first if n of them
// would not fit behind it, and growing the buffer only when it is full of
// unread bytes, so that a corrupt length costs no more memory than the
// bytes that really follow it.
func (p *pcapReader) fill(n int) {
	if len(p.buf)-p.start < n && p.start > 0 {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	for p.end-p.start < n && p.err == nil {
		if p.end == len(p.buf) {
			grown := make([]byte, 2*len(p.buf))
			p.end = copy(grown, p.buf[p.start:p.end])
			p.buf, p.start = grown, 0
		}
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		switch {
		case err != nil:
			p.err = err
		case m > 0:
			p.empty = 0
		default:
			if p.empty++; p.empty >= maxEmptyReads {
				p.err = io.ErrNoProgress
			}
		}
	}
}

// short is io.ReadFull's error for a read of n bytes that found fewer: the
// stream's own error, io.EOF if it ended before any of them, else
// io.ErrUnexpectedEOF.
func (p *pcapReader) short() error {
	if p.err == io.EOF && p.end > p.start {
		return io.ErrUnexpectedEOF
	}
	return p.err
}

// next returns the next record: its bytes, valid until the next call,
// its timestamp, and its original length. At the end of the file it
// returns io.EOF, as pcapgo does, also when the file ends right after a
// record header (its io.ReadFull of the data read nothing).
func (p *pcapReader) next() (data []byte, ts time.Time, length int, err error) {
	if p.end-p.start < pcapRecordHdr {
		if p.fill(pcapRecordHdr); p.end-p.start < pcapRecordHdr {
			return nil, time.Time{}, 0, p.short()
		}
	}
	h := p.buf[p.start : p.start+pcapRecordHdr]
	// pcapgo multiplies in uint32 (a fraction above 4294967 µs wraps) and
	// returns UTC times: both kept, so that timestamps stay identical.
	ts = time.Unix(int64(p.u32(h)), int64(p.u32(h[4:])*p.factor)).UTC()
	caplen, length := int(p.u32(h[8:])), int(p.u32(h[12:]))
	p.start += pcapRecordHdr
	if caplen > p.snaplen {
		return nil, ts, length, fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, p.snaplen)
	}
	if caplen > length {
		return nil, ts, length, fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, length)
	}
	if p.end-p.start < caplen {
		if p.fill(caplen); p.end-p.start < caplen {
			return nil, ts, length, p.short()
		}
	}
	data = p.buf[p.start : p.start+caplen : p.start+caplen]
	p.start += caplen
	return data, ts, length, nil
}
