package capture

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Rotation splits the -w file the way tcpdump's -C, -G and -W do.
//
// Names follow tcpdump's -C scheme for every rotation, whatever its cause:
// the first file is the path as given, then path1, path2, … (tcpdump's
// MakeFilename with no -W). With MaxFiles (-W) the names carry a counter
// padded to the digits of MaxFiles from the first file on (path0, path1 …
// or path00 … path09 for -W 10) and the counter wraps, so that at most
// MaxFiles files exist: a ring, as tcpdump's -C -W. Unlike tcpdump, -G
// does not run the name through strftime (the counter is the suffix, as for
// -C), and -G with -W also rings instead of exiting after MaxFiles files:
// a long-running sniff keeps going in bounded disk space.
//
// A pcapng name (see IsPcapngName) keeps its extension last: the counter
// goes before it (trace.pcapng, trace1.pcapng …; trace0.pcapng … with -W),
// so that every file still reads as pcapng by name. tcpdump writes no
// pcapng, and Wireshark's dumpcap ring buffer keeps the extension too.
type Rotation struct {
	// FileSize starts a new file before a packet when the current file is
	// already larger than this many bytes (tcpdump -C checks the same way,
	// so a file ends up to one packet larger). tcpdump's -C counts in units
	// of 1,000,000 bytes: the command multiplies. 0: no size limit.
	FileSize int64
	// Every starts a new file before a packet whose timestamp is at least
	// this long after the current file was started (tcpdump -G, measured in
	// capture time so that it is exact and testable). 0: no time limit.
	Every time.Duration
	// MaxFiles makes the names a ring of this many files (tcpdump -W). 0: unlimited.
	MaxFiles int
}

func (r Rotation) enabled() bool { return r.FileSize > 0 || r.Every > 0 }

// fileWriter writes packets to a pcap file (nanosecond timestamps), or a
// pcapng file for a .pcapng name (see pcapng_write.go), and rotates it. Errors are sticky: after one, writes are dropped and Err
// reports it, so capture and analysis go on without the file.
type fileWriter struct {
	base     string
	rot      Rotation
	snaplen  uint32
	linkType layers.LinkType
	ng       bool // pcapng
	meta     fileMeta

	f         *os.File
	cw        *countWriter // under bw: bytes that reached the file
	bw        *bufio.Writer
	w         packetWriter
	ngw       *pcapgo.NgWriter // w, for pcapng
	started   time.Time        // when the current file began (for Every)
	counter   int              // number in the current file's name
	opened    []string         // every name opened, in order (names repeat with MaxFiles)
	lastFlush time.Time
	err       error
	closed    bool
}

// writeBuffer is large enough that a burst at loopback rates costs a write
// system call per 256 KiB, small enough to keep on every sensor.
const writeBuffer = 256 << 10

// newFileWriter creates path (the first file) at time now.
func newFileWriter(path string, rot Rotation, snaplen int, linkType int, now time.Time, meta fileMeta) (*fileWriter, error) {
	w := &fileWriter{base: path, rot: rot, snaplen: uint32(snaplen), linkType: layers.LinkType(linkType), ng: IsPcapngName(path), meta: meta}
	if err := w.open(now); err != nil {
		return nil, err
	}
	return w, nil
}

// name is the file name for counter n (tcpdump's MakeFilename without strftime).
// A pcapng name keeps its extension after the counter.
func (w *fileWriter) name(n int) string {
	stem, ext := w.base, ""
	if w.ng {
		ext = filepath.Ext(w.base)
		stem = strings.TrimSuffix(w.base, ext)
	}
	if w.rot.MaxFiles > 0 {
		return fmt.Sprintf("%s%0*d%s", stem, len(fmt.Sprint(w.rot.MaxFiles)), n, ext)
	}
	if n == 0 {
		return w.base
	}
	return fmt.Sprintf("%s%d%s", stem, n, ext)
}

// size is the current file's size, header and buffered packets included.
func (w *fileWriter) size() int64 { return w.cw.n + int64(w.bw.Buffered()) }

func (w *fileWriter) open(now time.Time) error {
	name := w.name(w.counter)
	f, err := os.Create(name)
	if err != nil {
		if pe := (*os.PathError)(nil); errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("write file %s: %w", name, err)
	}
	w.f, w.cw = f, &countWriter{w: f}
	w.bw = bufio.NewWriterSize(w.cw, writeBuffer)
	if w.ng {
		w.ngw, err = newNgWriter(w.bw, w.snaplen, int(w.linkType), w.meta)
		w.w = w.ngw
	} else {
		pw := pcapgo.NewWriterNanos(w.bw)
		err = pw.WriteFileHeader(w.snaplen, w.linkType)
		w.w = pw
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("write file %s: %w", name, err)
	}
	w.started, w.lastFlush = now, now
	w.opened = append(w.opened, name)
	return nil
}

// Files returns the names of the files written, in order of opening.
func (w *fileWriter) Files() []string { return w.opened }

// WritePacket saves one packet, first rotating if the Rotation says so.
func (w *fileWriter) WritePacket(ci gopacket.CaptureInfo, data []byte) {
	if w.err != nil || w.closed {
		return
	}
	if w.rot.enabled() && (w.rot.FileSize > 0 && w.size() > w.rot.FileSize ||
		w.rot.Every > 0 && ci.Timestamp.Sub(w.started) >= w.rot.Every) {
		w.rotate(ci.Timestamp)
		if w.err != nil {
			return
		}
	}
	// libpcap's InterfaceIndex is the kernel's ifindex (lo: 1); in pcapng
	// it is the IDB number, and the file has one interface.
	ci.InterfaceIndex = 0
	if err := w.w.WritePacket(ci, data); err != nil {
		w.fail(err)
		return
	}
	if ci.Timestamp.Sub(w.lastFlush) >= flushEvery {
		w.Flush(ci.Timestamp)
	}
}

func (w *fileWriter) rotate(now time.Time) {
	if err := w.closeFile(); err != nil {
		w.fail(err)
		return
	}
	w.counter++
	if w.rot.MaxFiles > 0 && w.counter >= w.rot.MaxFiles {
		w.counter = 0
	}
	if err := w.open(now); err != nil {
		w.err = err
	}
}

// Flush writes buffered packets out, so that evidence on disk is at most
// flushEvery old if connlint is killed.
func (w *fileWriter) Flush(now time.Time) {
	if w.err != nil || w.closed {
		return
	}
	w.lastFlush = now
	if err := w.flushBuffers(); err != nil {
		w.fail(err)
	}
}

// flushBuffers writes out NgWriter's buffer (bw itself, as it adopts bw:
// flushed again harmlessly) and bw.
func (w *fileWriter) flushBuffers() error {
	if w.ngw != nil {
		if err := w.ngw.Flush(); err != nil {
			return err
		}
	}
	return w.bw.Flush()
}

func (w *fileWriter) closeFile() error {
	err := w.flushBuffers()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fail stops saving; capturing goes on.
func (w *fileWriter) fail(err error) {
	w.err = fmt.Errorf("write file %s: %s", w.f.Name(), oneLine(err))
	w.f.Close()
}

// Close flushes and closes the current file and returns the first error met.
func (w *fileWriter) Close() error {
	if w.err != nil || w.closed {
		return w.err
	}
	w.closed = true
	if err := w.closeFile(); err != nil {
		w.err = fmt.Errorf("write file %s: %s", w.f.Name(), oneLine(err))
	}
	return w.err
}
