//go:build cgo

package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	"github.com/gopacket/gopacket/pcapgo"
)

// liveTimeout bounds how long a read waits for packets, so that Interrupt
// and the periodic flush of WriteFile happen even on a quiet interface.
const liveTimeout = 100 * time.Millisecond

// flushEvery is how often WriteFile is flushed: evidence on disk stays at
// most this old if connlint is killed.
const flushEvery = time.Second

// OpenLive opens a libpcap handle on opts.Interface, applies the filter,
// opens opts.WriteFile, and then drops root (see LiveOptions.DropUser).
// The Source also implements interface{ Interrupt() }.
func OpenLive(opts LiveOptions) (Source, error) {
	if opts.Snaplen <= 0 {
		opts.Snaplen = DefaultSnaplen
	}
	iface := opts.Interface
	fail := func(err error) error { return fmt.Errorf("capture on %s: %w", iface, err) }
	if iface == "" {
		return nil, errors.New("capture: no interface given")
	}
	inactive, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fail(activateCause(err))
	}
	defer inactive.CleanUp()
	for _, set := range []error{
		inactive.SetSnapLen(opts.Snaplen),
		inactive.SetPromisc(opts.Promisc),
		inactive.SetTimeout(liveTimeout),
		inactive.SetImmediateMode(opts.Immediate),
	} {
		if set != nil {
			return nil, fail(activateCause(set))
		}
	}
	handle, err := inactive.Activate()
	if err != nil {
		cause := activateCause(err)
		if errors.Is(cause, errNeedPrivileges) && !deviceExists(iface) {
			// libpcap checks permission before the name: without root, a
			// typo would otherwise read as a permission problem.
			cause = errNoSuchInterface
		}
		return nil, fail(cause)
	}
	s := &liveSource{iface: iface, handle: handle, linkType: int(handle.LinkType()) & linkTypeLowMask}
	if opts.Filter != "" {
		if err := handle.SetBPFFilter(opts.Filter); err != nil {
			handle.Close()
			return nil, fail(fmt.Errorf("filter %q: %s", opts.Filter, oneLine(err)))
		}
	}
	if opts.WriteFile != "" {
		if err := s.openWriter(opts.WriteFile, opts.Snaplen); err != nil {
			handle.Close()
			return nil, fail(err)
		}
	}
	// Only now, with the handle and the output file open, is root no
	// longer needed.
	if err := dropPrivileges(opts.DropUser, opts.WriteFile); err != nil {
		s.Close()
		return nil, fail(err)
	}
	return s, nil
}

var (
	errNoSuchInterface = errors.New("no such interface")
	errNeedPrivileges  = errors.New("need root or CAP_NET_RAW")
)

// activateCause turns libpcap's activation errors into the advice a user needs.
func activateCause(err error) error {
	msg := oneLine(err)
	low := strings.ToLower(msg)
	switch {
	case strings.Contains(low, "no such device"):
		return errNoSuchInterface
	case strings.Contains(low, "permission") || strings.Contains(low, "not permitted"):
		return fmt.Errorf("%w (%s)", errNeedPrivileges, msg)
	}
	return errors.New(msg)
}

// deviceExists reports whether the kernel or libpcap knows the device;
// libpcap also captures on devices that are no network interface (usbmon0,
// nflog, "any").
func deviceExists(name string) bool {
	if _, err := net.InterfaceByName(name); err == nil {
		return true
	}
	devs, err := pcap.FindAllDevs()
	if err != nil {
		return true // cannot tell: keep the permission message
	}
	for _, d := range devs {
		if d.Name == name {
			return true
		}
	}
	return false
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// liveSource reads one libpcap handle.
type liveSource struct {
	iface    string
	handle   *pcap.Handle
	linkType int
	frame    int64
	stop     atomic.Bool // set by Interrupt, from another goroutine

	out       *os.File
	outBuf    *bufio.Writer
	writer    *pcapgo.Writer
	lastFlush time.Time

	stats  Stats
	err    error
	closed bool
}

func (s *liveSource) openWriter(path string, snaplen int) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write file: %w", errors.Unwrap(err))
	}
	s.out = f
	s.outBuf = bufio.NewWriterSize(f, 64<<10)
	s.writer = pcapgo.NewWriterNanos(s.outBuf)
	if err := s.writer.WriteFileHeader(uint32(snaplen), layers.LinkType(s.linkType)); err != nil {
		f.Close()
		return fmt.Errorf("write file %s: %w", path, err)
	}
	s.lastFlush = time.Now()
	return s.outBuf.Flush()
}

func (s *liveSource) Next() (Packet, error) {
	for !s.closed && !s.stop.Load() {
		data, ci, err := s.handle.ZeroCopyReadPacketData()
		if err == pcap.NextErrorTimeoutExpired {
			s.flush(false)
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.err = fmt.Errorf("capture on %s: %s", s.iface, oneLine(err))
			break
		}
		s.frame++
		s.stats.Packets++
		if s.writer != nil {
			if err := s.writer.WritePacket(ci, data); err != nil {
				s.writeFailed(err)
			}
			s.flush(false)
		}
		return Packet{Frame: s.frame, Time: ci.Timestamp, LinkType: s.linkType, Data: data, Length: ci.Length}, nil
	}
	s.flush(true)
	return Packet{}, io.EOF
}

// flush writes buffered packets to WriteFile once a second, or now if forced.
func (s *liveSource) flush(force bool) {
	if s.writer == nil || (!force && time.Since(s.lastFlush) < flushEvery) {
		return
	}
	s.lastFlush = time.Now()
	if err := s.outBuf.Flush(); err != nil {
		s.writeFailed(err)
	}
}

// writeFailed stops saving but keeps capturing: the analysis is still worth having.
func (s *liveSource) writeFailed(err error) {
	s.err = errors.Join(s.err, fmt.Errorf("write file %s: %s", s.out.Name(), oneLine(err)))
	s.out.Close()
	s.writer, s.outBuf = nil, nil
}

// Interrupt makes Next return io.EOF within liveTimeout. Safe from any goroutine.
func (s *liveSource) Interrupt() { s.stop.Store(true) }

func (s *liveSource) Err() error { return s.err }

func (s *liveSource) Inputs() []string { return []string{s.iface} }

func (s *liveSource) Stats() Stats {
	if !s.closed {
		s.readStats()
	}
	return s.stats
}

func (s *liveSource) readStats() {
	st, err := s.handle.Stats()
	if err != nil {
		return
	}
	s.stats.KernelReceived = int64(st.PacketsReceived)
	s.stats.KernelDropped = int64(st.PacketsDropped)
	s.stats.IfaceDropped = int64(st.PacketsIfDropped)
	s.stats.Live = true
}

func (s *liveSource) Close() error {
	if s.closed {
		return nil
	}
	s.readStats()
	s.stats.Live = true
	s.closed = true
	s.handle.Close()
	if s.writer == nil {
		return nil
	}
	err := s.outBuf.Flush()
	if cerr := s.out.Close(); err == nil {
		err = cerr
	}
	s.writer = nil
	return err
}
