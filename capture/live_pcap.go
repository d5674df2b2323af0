//go:build cgo

package capture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// liveTimeout is libpcap's packet buffer timeout. Outside immediate mode
// libpcap uses TPACKET_V3 on Linux: the kernel packs packets into blocks and
// hands a block over when it is full or when this timeout (the block's
// retire timer) expires, so a packet waits at most about twice this long in
// the kernel; tcpdump uses 1000 ms, too slow for ticks every 250 ms. The
// handle is non-blocking (gopacket polls the socket for up to this long per
// read), so a read also returns after this long on a quiet interface, and
// Interrupt, ticks and the periodic flush of the -w file happen then.
const liveTimeout = 100 * time.Millisecond

// statsEvery is how often the reader reads libpcap's counters, to report
// kernel drops (Loss.Kernel) close to where they happened.
const statsEvery = 250 * time.Millisecond

// OpenLive opens a libpcap handle on opts.Interface, applies the filter,
// opens opts.WriteFile, drops root (see LiveOptions.DropUser) and starts the
// reader goroutine (see the overview in live.go).
func OpenLive(opts LiveOptions) (LiveSource, error) {
	if opts.Snaplen <= 0 {
		opts.Snaplen = DefaultSnaplen
	}
	if opts.BufferKiB <= 0 {
		opts.BufferKiB = DefaultBufferKiB
		if ifi, err := net.InterfaceByName(opts.Interface); err == nil && ifi.MTU > 9000 && opts.Immediate {
			opts.BufferKiB = DefaultJumboBufferKiB
		}
	}
	if opts.QueuePackets <= 0 {
		opts.QueuePackets = DefaultQueuePackets
	}
	if opts.QueueBytes <= 0 {
		opts.QueueBytes = DefaultQueueBytes
	}
	// The ring must hold the largest packet with room to spare.
	opts.QueueBytes = max(opts.QueueBytes, 4*opts.Snaplen)
	iface := opts.Interface
	fail := func(err error) error { return fmt.Errorf("capture on %s: %w", iface, err) }
	if iface == "" {
		return nil, errors.New("capture: no interface given")
	}
	timeout := liveTimeout
	if opts.Tick > 0 {
		timeout = min(timeout, max(opts.Tick/2, 10*time.Millisecond))
	}
	inactive, err := pcap.NewInactiveHandle(iface)
	if err != nil {
		return nil, fail(activateCause(err))
	}
	defer inactive.CleanUp()
	for _, set := range []error{
		inactive.SetSnapLen(opts.Snaplen),
		inactive.SetPromisc(opts.Promisc),
		inactive.SetTimeout(timeout),
		inactive.SetImmediateMode(opts.Immediate),
		inactive.SetBufferSize(opts.BufferKiB << 10),
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
	s := &liveSource{
		iface:    iface,
		handle:   handle,
		linkType: int(handle.LinkType()) & linkTypeLowMask,
		opts:     opts,
		timeout:  timeout,
		done:     make(chan struct{}),
	}
	dlt := int(handle.LinkType())
	s.listening = listeningLine(iface, dlt, pcap.DatalinkValToName(dlt), pcap.DatalinkValToDescription(dlt), handle.SnapLen())
	if err := setFilter(handle, opts.Filter); err != nil {
		handle.Close()
		return nil, fail(err)
	}
	if opts.WriteFile != "" {
		w, err := newFileWriter(opts.WriteFile, opts.Rotate, opts.Snaplen, s.linkType, time.Now(),
			fileMeta{application: opts.Application, iface: iface, filter: opts.Filter})
		if err != nil {
			handle.Close()
			return nil, fail(err)
		}
		s.w = w
		s.publishFiles()
	}
	// Only now, with the handle and the output file open, is root no
	// longer needed.
	first := ""
	if s.w != nil {
		first = s.w.Files()[0]
	}
	if err := dropPrivileges(opts.DropUser, first); err != nil {
		handle.Close()
		if s.w != nil {
			s.w.Close()
		}
		return nil, fail(err)
	}
	s.q = newQueue(opts.QueuePackets, opts.QueueBytes)
	go s.run()
	return s, nil
}

// setFilter installs the user's filter.
//
// It adds nothing of its own, though a direction test ("inbound" on lo)
// would keep the kernel from queueing the outgoing copy of each loopback
// packet, which libpcap throws away in user space anyway (see StatsLines):
// on Linux, pcap_setfilter filters the ring blocks in use when the filter
// changes (at least the current, partly filled one) in user space, and
// libpcap's user-space BPF cannot evaluate the kernel's packet-type and
// interface-index loads, so it rejects every packet of that block: the
// first block's worth of packets after start would be lost, without a
// count. tcpdump installs the user's filter alone too.
func setFilter(h *pcap.Handle, filter string) error {
	if filter == "" {
		return nil
	}
	if err := h.SetBPFFilter(filter); err != nil {
		return fmt.Errorf("filter %q: %s", filter, oneLine(err))
	}
	return nil
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

// liveSource is a libpcap handle read by its own goroutine (run) into a
// queue; Next, Stats and Close belong to the consumer's goroutine.
type liveSource struct {
	iface     string
	handle    *pcap.Handle // read by the reader goroutine only, until done
	linkType  int
	listening string
	opts      LiveOptions
	timeout   time.Duration
	q         *queue
	w         *fileWriter // reader goroutine only, until done
	stop      atomic.Bool
	done      chan struct{} // closed when the reader has stopped and closed q

	// Counters the reader publishes for Stats.
	captured, queueDropped            atomic.Int64
	kernelRecv, kernelDrop, ifaceDrop atomic.Int64
	files                             atomic.Pointer[[]string]

	packets atomic.Int64 // handed out by Next
	readErr error        // written by the reader before done
	closed  bool
	err     error
}

// kernelCounters turns libpcap's 32-bit counters, which wrap, into totals.
type kernelCounters struct{ recv, drop, ifdrop uint32 }

// run is the reader goroutine: libpcap → -w file → queue, never waiting
// on the consumer.
func (s *liveSource) run() {
	var (
		pending  *Loss // loss not yet told to the consumer
		frame    int64
		prev     kernelCounters
		start    = time.Now()
		lastItem = start // time of the last item queued (capture time)
		lastPoll = start
		lastTS   time.Time
		deadline time.Time
	)
	if s.opts.Duration > 0 {
		deadline = start.Add(s.opts.Duration)
	}
	tick := s.opts.Tick
	addLoss := func() *Loss {
		if pending == nil {
			pending = &Loss{}
		}
		return pending
	}
	poll := func() {
		st, err := s.handle.Stats()
		if err != nil {
			return
		}
		cur := kernelCounters{uint32(st.PacketsReceived), uint32(st.PacketsDropped), uint32(st.PacketsIfDropped)}
		s.kernelRecv.Add(int64(cur.recv - prev.recv))
		dk, di := int64(cur.drop-prev.drop), int64(cur.ifdrop-prev.ifdrop)
		s.kernelDrop.Add(dk)
		s.ifaceDrop.Add(di)
		prev = cur
		if dk+di > 0 {
			l := addLoss()
			l.Kernel += dk + di
			l.Flows, l.AllFlows = nil, true
		}
	}
	for !s.stop.Load() {
		before := time.Now()
		data, ci, err := s.handle.ZeroCopyReadPacketData()
		if err == pcap.NextErrorTimeoutExpired {
			now := time.Now()
			if !deadline.IsZero() && !now.Before(deadline) {
				break
			}
			poll()
			lastPoll = now
			if s.w != nil {
				s.w.Flush(now)
			}
			// Every packet stamped before this read began has been read:
			// the read polled a whole timeout and got nothing, and during
			// it the kernel's block retire timer (same period) fired, which
			// hands over a block holding any packet.
			// Tick when the next read could end too late for the next tick
			// to be due within Tick.
			if tick > 0 && (now.Sub(lastItem)+s.timeout/2 >= tick || pending != nil) {
				if s.q.putTick(qitem{tick: true, ts: before.UnixNano(), loss: pending}) {
					pending, lastItem = nil, now
				}
			}
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			s.readErr = fmt.Errorf("capture on %s: %s", s.iface, oneLine(err))
			break
		}
		if !deadline.IsZero() && !ci.Timestamp.Before(deadline) {
			break
		}
		frame++
		s.captured.Add(1)
		if s.w != nil {
			n := len(s.w.opened)
			s.w.WritePacket(ci, data)
			if len(s.w.opened) != n {
				s.publishFiles()
			}
		}
		it := qitem{ts: ci.Timestamp.UnixNano(), length: int32(ci.Length), frame: frame, loss: pending}
		if s.q.put(it, data) {
			pending, lastItem = nil, ci.Timestamp
		} else {
			s.queueDropped.Add(1)
			h, ok := FlowHash(s.linkType, data)
			addLoss().add(1, h, ok)
		}
		lastTS = ci.Timestamp
		if ci.Timestamp.Sub(lastPoll) >= statsEvery {
			poll()
			lastPoll = ci.Timestamp
		}
		if s.opts.Count > 0 && frame >= s.opts.Count {
			break
		}
	}
	poll()
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			s.readErr = errors.Join(s.readErr, err)
		}
	}
	if pending != nil && tick > 0 {
		// The last loss must reach the consumer, which is draining: wait.
		last := lastItem
		if lastTS.After(last) {
			last = lastTS
		}
		s.q.putWait(qitem{tick: true, ts: last.UnixNano(), loss: pending})
	}
	s.q.close()
	close(s.done)
}

func (s *liveSource) publishFiles() {
	f := append([]string(nil), s.w.Files()...)
	s.files.Store(&f)
}

func (s *liveSource) Next() (Packet, error) {
	if s.closed {
		return Packet{}, io.EOF
	}
	it, data, ok := s.q.take()
	if !ok {
		return Packet{}, io.EOF
	}
	if it.tick {
		return Packet{Time: it.time(), LinkType: s.linkType, Tick: true, Loss: it.loss}, nil
	}
	s.packets.Add(1)
	return Packet{Frame: it.frame, Time: it.time(), LinkType: s.linkType, Data: data, Length: int(it.length), Loss: it.loss}, nil
}

// Interrupt stops the reader within the read timeout. Safe from any goroutine.
func (s *liveSource) Interrupt() { s.stop.Store(true) }

func (s *liveSource) Listening() string { return s.listening }

func (s *liveSource) Files() []string {
	if f := s.files.Load(); f != nil {
		return *f
	}
	return nil
}

// Err returns the read error or the -w file's error, once Next has
// returned io.EOF (or after Close).
func (s *liveSource) Err() error {
	select {
	case <-s.done:
		return errors.Join(s.readErr, s.err)
	default:
		return s.err
	}
}

func (s *liveSource) Inputs() []string { return []string{s.iface} }

// Stats may be called from any goroutine (a metrics endpoint, say). The
// kernel's counters are at most statsEvery old while packets flow, and
// final after io.EOF or Close.
func (s *liveSource) Stats() Stats {
	return Stats{
		Packets:        s.packets.Load(),
		KernelReceived: s.kernelRecv.Load(),
		KernelDropped:  s.kernelDrop.Load(),
		IfaceDropped:   s.ifaceDrop.Load(),
		Live:           true,
		Captured:       s.captured.Load(),
		QueueDropped:   s.queueDropped.Load(),
	}
}

// Close stops the reader, discards what is still queued, and closes the
// handle and the -w file. Call it from the goroutine that calls Next.
func (s *liveSource) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.stop.Store(true)
	for {
		// Drain so that a reader waiting to queue its last item can finish.
		if _, _, ok := s.q.take(); !ok {
			break
		}
	}
	<-s.done
	s.handle.Close()
	return s.readErr
}
