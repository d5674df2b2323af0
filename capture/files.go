package capture

import (
	"bufio"
	"compress/gzip"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FileOptions configure OpenFiles.
type FileOptions struct {
	Filter  string    // BPF expression; needs libpcap (cgo build), else OpenFiles fails with ErrNoLibpcap
	Snaplen int       // snap length the filter is compiled for (default DefaultSnaplen)
	Stdin   io.Reader // what "-" reads (default os.Stdin)
}

// DefaultSnaplen is libpcap's MAXIMUM_SNAPLEN, the default of tcpdump and Wireshark.
const DefaultSnaplen = 262144

// maxRecord is the longest packet record accepted from a file. Wireshark's own
// limit is lower for most link types (256 KiB), but D-Bus and USB captures
// legitimately reach 128 MiB; anything above this is damage, and refusing it
// before reading keeps a corrupt length field from costing gigabytes.
const maxRecord = 256 << 20

// readBufSize is the buffer between the decompressed stream and pcapgo's
// pcapng reader (and the format detection). The pcapng reader reuses a
// *bufio.Reader it is given, so the bytes it has consumed are exactly
// counted-minus-buffered: that gives exact error offsets.
const readBufSize = 64 << 10

// Magic numbers, read little-endian from the first four bytes.
const (
	magicPcapUsec   = 0xa1b2c3d4
	magicPcapNsec   = 0xa1b23c4d
	magicPcapngSHB  = 0x0a0d0d0a
	pcapHeaderLen   = 24
	pcapRecordHdr   = 16
	linkTypeLowMask = 0xffff // LINKTYPE_ proper; the upper bits carry FCS length and reserved flags
)

// SizeOf returns the total size in bytes of the files as stored (compressed
// if they are), for a progress bar: compare with BytesRead. It returns -1 if
// any size is unknown (stdin, a pipe, a missing file).
func SizeOf(paths []string) int64 {
	var total int64
	for _, p := range paths {
		if p == "-" {
			return -1
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		total += fi.Size()
	}
	return total
}

// OpenFiles opens every path ("-" = stdin; gzip is detected by its magic and
// decompressed) and merges the packets by timestamp; ties keep input order.
// Opening errors (missing file, not a capture) are returned at once as
// *InputError, and nothing stays open. The Source also implements
// interface{ BytesRead() int64 }.
func OpenFiles(paths []string, opts FileOptions) (Source, error) {
	if len(paths) == 0 {
		return nil, errors.New("capture: no input files")
	}
	if opts.Snaplen <= 0 {
		opts.Snaplen = DefaultSnaplen
	}
	var match matcher
	if opts.Filter != "" {
		m, err := newMatcher(opts.Filter, opts.Snaplen)
		if err != nil {
			return nil, err
		}
		match = m
	}
	s := &fileSource{match: match, pending: -1}
	stdin := false
	for i, p := range paths {
		var in *input
		var err error
		if p == "-" {
			if stdin {
				err = &InputError{Path: p, Offset: -1, Err: errors.New("stdin given twice")}
			} else {
				stdin = true
				r := opts.Stdin
				if r == nil {
					r = os.Stdin
				}
				in, err = newInput(i, p, r, nopCloser{})
			}
		} else {
			in, err = openInput(i, p)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
		s.inputs = append(s.inputs, in)
	}
	s.start()
	return s, nil
}

// start primes the heap with each input's first packet.
func (s *fileSource) start() {
	for _, in := range s.inputs {
		s.advance(in)
	}
}

func openInput(index int, path string) (*input, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &InputError{Path: path, Offset: -1, Err: errors.Unwrap(err)}
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, &InputError{Path: path, Offset: -1, Err: errors.New("is a directory")}
	}
	in, err := newInput(index, path, f, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return in, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// packetReader is what both pcapgo readers offer.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// input is one file being read.
type input struct {
	index  int
	path   string
	closer io.Closer
	raw    *countingReader // compressed bytes, for BytesRead
	plain  *countingReader // decompressed bytes, for error offsets
	buf    *bufio.Reader   // the buffer pcapgo reads from
	gz     *gzip.Reader    // nil unless compressed

	reader   packetReader // pcapng
	pcap     *pcapReader  // classic pcap
	ng       bool
	linkType int // pcap: the file's link type; pcapng: per packet

	frame  int64 // frames read so far
	recEnd int64 // pcap: offset just after the last good record
	head   Packet
	err    *InputError
	done   bool
	guard  *ngGuard // pcapng only
}

// newInput detects the format (after gunzip) and reads the file header.
func newInput(index int, path string, r io.Reader, c io.Closer) (in *input, err error) {
	in = &input{index: index, path: path, closer: c, raw: &countingReader{r: r}}
	defer func() {
		// pcapgo parses file headers from untrusted bytes; a panic in it
		// must become this file's error, not the program's end.
		if p := recover(); p != nil {
			in, err = nil, &InputError{Path: path, Offset: -1, Err: fmt.Errorf("reader panic: %v", p)}
		}
	}()
	br := bufio.NewReaderSize(in.raw, readBufSize)
	var stream io.Reader = br
	magic, _ := br.Peek(4)
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, &InputError{Path: path, Offset: -1, Err: fmt.Errorf("gzip: %w", err)}
		}
		// A gzip stream that ends mid-member reports io.ErrUnexpectedEOF,
		// which is what we want; concatenated members are read as one file.
		in.gz = gz
		stream = gz
	} else if strings.HasSuffix(path, ".gz") && len(magic) > 0 {
		return nil, &InputError{Path: path, Offset: -1, Err: fmt.Errorf("not a gzip file (magic 0x%x)", magic)}
	}
	in.plain = &countingReader{r: stream}
	// The guard sits under the buffer so that it sees every pcapng block
	// header before pcapgo acts on the block's lengths; it lets other
	// formats through untouched.
	in.guard = &ngGuard{r: in.plain}
	in.buf = bufio.NewReaderSize(in.guard, readBufSize)
	head, err := in.buf.Peek(4)
	if len(head) == 0 {
		if err != nil && err != io.EOF {
			return nil, &InputError{Path: path, Offset: 0, Err: shortCause(err)}
		}
		return nil, &InputError{Path: path, Offset: -1, Err: errors.New("empty file")}
	}
	if len(head) < 4 {
		return nil, &InputError{Path: path, Offset: 0, Err: fmt.Errorf("not a pcap or pcapng file (only %d bytes)", len(head))}
	}
	le := binary.LittleEndian.Uint32(head)
	be := binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngSHB:
		return in.openNg()
	case le == magicPcapUsec || le == magicPcapNsec || be == magicPcapUsec || be == magicPcapNsec:
		return in.openPcap()
	}
	return nil, &InputError{Path: path, Offset: -1, Err: fmt.Errorf("not a pcap or pcapng file (magic 0x%08x)", be)}
}

// openPcap reads a classic pcap header. pcapgo, whose record checks
// pcapReader keeps, accepts only version 2.4 and trusts the snap length up
// to any size; Wireshark reads every 2.x file, so every 2.x is read, and
// the snap length pcapReader checks records against is capped so that an
// oversized record is refused before it is read.
func (in *input) openPcap() (*input, error) {
	hdr := make([]byte, pcapHeaderLen)
	if n, err := io.ReadFull(in.buf, hdr); err != nil {
		return nil, &InputError{Path: in.path, Offset: int64(n), Err: fmt.Errorf("pcap file header: %w", shortCause(err))}
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if m := binary.BigEndian.Uint32(hdr); m == magicPcapUsec || m == magicPcapNsec {
		bo = binary.BigEndian
	}
	major, minor := bo.Uint16(hdr[4:]), bo.Uint16(hdr[6:])
	if major != 2 {
		return nil, &InputError{Path: in.path, Offset: 4, Err: fmt.Errorf("unsupported pcap version %d.%d", major, minor)}
	}
	switch snap := bo.Uint32(hdr[16:]); {
	case snap > maxRecord:
		bo.PutUint32(hdr[16:], maxRecord)
	case snap < DefaultSnaplen:
		// Records up to 256 KiB are read whatever a smaller snap length
		// says (as tcpdump and Wireshark do); left as it is, the error for
		// a longer record would name the file's limit, "524501 > 0".
		bo.PutUint32(hdr[16:], DefaultSnaplen)
	}
	in.linkType = int(bo.Uint32(hdr[20:]) & linkTypeLowMask)
	// The records are read in large reads from in.buf: it hands out what
	// it has buffered and then reads straight through from the stream
	// below, since each read asks for more than its own size. The reader
	// reads ahead, so error offsets come from the record lengths
	// (in.recEnd), which is exact.
	in.pcap = newPcapReader(in.buf, hdr)
	in.recEnd = pcapHeaderLen
	return in, nil
}

// openNg starts a pcapng reader that reports every packet with its own
// interface's link type, skipping sections of an unknown version as the
// specification asks.
func (in *input) openNg() (*input, error) {
	r, err := pcapgo.NewNgReader(in.buf, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	if err != nil && in.guard.failed != nil {
		err = in.guard.failed
	}
	if err != nil {
		return nil, &InputError{Path: in.path, Offset: in.offset(err), Err: shortCause(err)}
	}
	in.ng = true
	in.reader = r
	return in, nil
}

// offset is where in the decompressed stream reading stopped.
func (in *input) offset(err error) int64 {
	var ge *guardError
	if errors.As(err, &ge) {
		return ge.offset
	}
	if !in.ng {
		return in.recEnd
	}
	return in.guard.off - int64(in.buf.Buffered())
}

// read fetches the next packet of this input into in.head, or marks the
// input done (with in.err set if it ended early).
func (in *input) read() {
	data, ci, err := in.safeRead()
	if err != nil && in.guard.failed != nil {
		// pcapgo may have wrapped the guard's error in text of its own.
		err = in.guard.failed
	}
	if err != nil {
		in.done = true
		if err == io.EOF {
			return
		}
		in.err = &InputError{Path: in.path, Frame: in.frame, Offset: in.offset(err), Err: shortCause(err)}
		return
	}
	in.frame++
	lt := in.linkType
	if in.ng {
		if len(ci.AncillaryData) > 0 {
			if l, ok := ci.AncillaryData[0].(layers.LinkType); ok {
				lt = int(l)
			}
		}
	} else {
		in.recEnd += pcapRecordHdr + int64(len(data))
	}
	in.head = Packet{Input: in.index, Frame: in.frame, Time: ci.Timestamp, LinkType: lt, Data: data, Length: ci.Length}
	if in.ng {
		in.head.Secrets = in.guard.takeSecrets()
	}
}

func (in *input) safeRead() (data []byte, ci gopacket.CaptureInfo, err error) {
	if in.pcap != nil {
		// Our own parser: it checks every length before using it.
		data, ci.Timestamp, ci.Length, err = in.pcap.next()
		return data, ci, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reader panic: %v", p)
		}
	}()
	return in.reader.ZeroCopyReadPacketData()
}

func (in *input) close() error {
	if in.gz != nil {
		in.gz.Close()
	}
	return in.closer.Close()
}

// shortCause turns reader errors into short, one-line causes.
func shortCause(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("file is truncated (unexpected end of data)")
	case errors.Is(err, gzip.ErrChecksum):
		return errors.New("gzip: checksum error (damaged compressed data)")
	case errors.Is(err, gzip.ErrHeader):
		return errors.New("gzip: invalid header (damaged compressed data)")
	case errors.Is(err, pcapgo.ErrNgVersionMismatch):
		return errors.New("pcapng: unknown section version")
	}
	var ge *guardError
	if errors.As(err, &ge) {
		return ge
	}
	msg := strings.Join(strings.Fields(err.Error()), " ")
	if msg == "" {
		msg = fmt.Sprintf("%T", err)
	}
	return errors.New(lowerFirst(msg))
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' || (len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z') {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// fileSource merges inputs by timestamp.
type fileSource struct {
	inputs  []*input
	heap    inputHeap
	pending int // input whose head was handed out last, read again on the next Next; -1 none
	match   matcher
	stats   Stats
	errs    []error
	closed  bool
}

// advance reads the next packet of in and files it in the heap, or records its end.
func (s *fileSource) advance(in *input) {
	in.read()
	if in.done {
		if in.err != nil {
			s.errs = append(s.errs, in.err)
		}
		return
	}
	if len(s.inputs) > 1 {
		heap.Push(&s.heap, in)
	}
}

// pop takes the input whose head packet comes next, or nil at the end. A
// single input (the common case) has nothing to merge: the heap is used
// only for several.
func (s *fileSource) pop() *input {
	if len(s.inputs) == 1 {
		if in := s.inputs[0]; !in.done {
			return in
		}
		return nil
	}
	if s.heap.Len() == 0 {
		return nil
	}
	return heap.Pop(&s.heap).(*input)
}

func (s *fileSource) Next() (Packet, error) {
	if s.closed {
		return Packet{}, io.EOF
	}
	for {
		// Read on from the input handed out last only now: its packet's
		// Data belonged to the reader until this call.
		if s.pending >= 0 {
			in := s.inputs[s.pending]
			s.pending = -1
			s.advance(in)
		}
		in := s.pop()
		if in == nil {
			return Packet{}, io.EOF
		}
		s.pending = in.index
		p := in.head
		if s.match != nil {
			ok, err := s.match.match(p)
			if err != nil {
				// A filter that cannot be compiled for this link type
				// can select none of its packets.
				ok = false
			}
			if !ok {
				s.stats.Filtered++
				continue
			}
		}
		s.stats.Packets++
		return p, nil
	}
}

func (s *fileSource) Err() error { return errors.Join(s.errs...) }

func (s *fileSource) Inputs() []string {
	names := make([]string, len(s.inputs))
	for i, in := range s.inputs {
		names[i] = in.path
	}
	return names
}

func (s *fileSource) Stats() Stats { return s.stats }

// BytesRead is the number of bytes consumed from the files as stored
// (compressed, if they are), for a progress bar against SizeOf.
func (s *fileSource) BytesRead() int64 {
	var n int64
	for _, in := range s.inputs {
		n += in.raw.n
	}
	return n
}

func (s *fileSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, in := range s.inputs {
		if err := in.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// inputHeap orders inputs by the time of their head packet, then by input index.
type inputHeap []*input

func (h inputHeap) Len() int { return len(h) }
func (h inputHeap) Less(i, j int) bool {
	ti, tj := h[i].head.Time, h[j].head.Time
	if !ti.Equal(tj) {
		return ti.Before(tj)
	}
	return h[i].index < h[j].index
}
func (h inputHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *inputHeap) Push(x any)   { *h = append(*h, x.(*input)) }
func (h *inputHeap) Pop() any {
	old := *h
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return in
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// matcher decides whether a packet passes the BPF filter.
type matcher interface {
	match(p Packet) (bool, error)
}
