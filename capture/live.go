package capture

import (
	"fmt"
	"strings"
	"time"
)

/*
Live capture, as OpenLive builds it:

	libpcap ring (kernel, -B) ──reader goroutine──▶ -w file (rotating)
	                                 │
	                                 └──▶ queue (bounded: packets, bytes) ──Next──▶ analysis

The reader goroutine only moves packets: it reads libpcap (zero copy), writes
each packet to the -w file, copies it once into the queue's byte ring and
queues it. It never waits for the consumer: when the queue is full the packet
is dropped from the queue (it is still in the -w file) and counted in
Stats.QueueDropped, and the next item handed out carries a Loss naming the
flows that lost packets. So a slow analysis costs analysis, never capture, and
the saved file is complete whatever the analysis does.

When nothing arrives the reader puts a tick in the queue (LiveOptions.Tick):
Next returns a Packet with Tick set and Time the capture time up to which
every packet has been read, so idle expiry and timeouts fire with the wall
clock. A consumer loop:

	for {
		p, err := src.Next()
		if err != nil {
			break // io.EOF: interrupted, -c or --duration reached
		}
		if p.Loss != nil {
			asm.Lost(p.Loss) // connections in p.Loss.Flows (all, if AllFlows) get a capture gap
		}
		if p.Tick {
			asm.Advance(p.Time) // expire idle connections, fire timeouts
			continue
		}
		asm.Packet(p.LinkType, p.Data, pos(p))
	}
*/

// LiveOptions configure OpenLive.
type LiveOptions struct {
	Interface string
	Filter    string // BPF expression, compiled by libpcap for the interface
	Snaplen   int    // default DefaultSnaplen
	Promisc   bool
	Immediate bool // deliver packets as they arrive instead of when a kernel buffer block fills
	// BufferKiB is the kernel capture buffer in KiB, as tcpdump -B. 0:
	// DefaultBufferKiB (DefaultJumboBufferKiB on lo in immediate mode).
	BufferKiB int
	// WriteFile also saves packets here, so evidence can be opened in
	// Wireshark: pcapng when the name ends in .pcapng (IsPcapngName), else
	// classic pcap with nanosecond timestamps.
	WriteFile string
	// Application names the writer in a pcapng file's Section Header
	// (shb_userappl), e.g. "connlint v1.4.0"; "" gives "connlint".
	Application string
	Rotate      Rotation // -C, -G, -W for WriteFile
	// Count stops the capture after this many packets (tcpdump -c): the
	// -w file then holds exactly Count packets. 0: no limit.
	Count int64
	// Duration stops the capture this long after it started. 0: no limit.
	Duration time.Duration
	// QueuePackets and QueueBytes bound the queue between the reader and
	// the analysis (0: DefaultQueuePackets, DefaultQueueBytes).
	QueuePackets int
	QueueBytes   int
	// Tick, when positive, makes Next return a tick (Packet.Tick) when no
	// packet has been handed out for this long; ticks then come at most
	// about Tick + Tick/4 apart. 0 keeps the old behaviour (no ticks) for
	// consumers that do not know Packet.Tick. DefaultTick suits sniff.
	Tick time.Duration
	// DropUser is the user to become once the handle (and WriteFile) is
	// open, as tcpdump -Z does: "" means SUDO_USER if set, else "nobody";
	// "-" keeps the current user. Only done when running as root. Files
	// opened later by rotation are created as that user.
	DropUser string
}

const (
	// DefaultBufferKiB is the kernel buffer (tcpdump -B) when none is given:
	// 32 MiB, 16 times tcpdump's 2 MiB. In immediate mode libpcap uses
	// TPACKET_V2, whose ring has fixed slots of min(snaplen, MTU+18) bytes
	// each: on lo (MTU 65536) 2 MiB is only 32 slots, which a scheduling
	// hiccup of a few hundred microseconds overflows at loopback rates.
	// 32 MiB gives 512 slots on lo and about 20 000 on a 1500-byte MTU
	// interface (~100 ms at 200 k packets/s). The memory is the kernel's,
	// for the life of the capture.
	DefaultBufferKiB = 32 << 10
	// DefaultJumboBufferKiB replaces DefaultBufferKiB in immediate mode on
	// an interface whose MTU exceeds 9000 bytes (lo: 65536), where each
	// slot is 64 KiB: 128 MiB is 2048 slots. Measured on lo beside tcpdump
	// (see TestLiveRateSearch), 32 MiB dropped 3-10% at 60-90 k packets/s
	// where tcpdump (TPACKET_V3, 2 MiB) dropped none; 128 MiB dropped none
	// in most runs at the same rates.
	DefaultJumboBufferKiB = 128 << 10
	// DefaultQueuePackets and DefaultQueueBytes bound what the analysis may
	// lag behind the capture: about half a second at 200 k packets/s of
	// small packets, or 64 MiB of large ones. Both limits are allocated at
	// start (the bytes as one ring), so memory stays flat.
	DefaultQueuePackets = 128 << 10
	DefaultQueueBytes   = 64 << 20
	// DefaultTick is how often an idle capture still advances time: with
	// it, idle expiry and end-of-connection findings fire within ~0.5 s.
	DefaultTick = 250 * time.Millisecond
)

// Loss describes packets that passed the filter but that the consumer will
// not see, lost since the previous item Next returned. It rides on the next
// item (packet or tick) so the analysis learns of a loss in order, before
// the packets that follow it, and can treat the connections concerned as
// having a capture gap — never as misbehaving endpoints.
type Loss struct {
	// Queue packets were captured (and saved to the -w file) but dropped
	// by the queue because the analysis fell behind.
	Queue int64
	// Kernel packets were dropped by the kernel (buffer full) or the
	// interface, as newly reported by libpcap's counters. Which flows they
	// belonged to is unknown, so AllFlows is set.
	Kernel int64
	// Flows are the FlowHash values of the queue-dropped packets, distinct
	// and at most MaxLossFlows; nil when AllFlows.
	Flows []uint64
	// AllFlows: which flows lost packets is unknown (kernel drops, or more
	// than MaxLossFlows flows): treat every open connection as affected.
	AllFlows bool
}

// MaxLossFlows bounds Loss.Flows: past it the flows are not worth listing.
const MaxLossFlows = 64

// LiveSource is what OpenLive returns: a Source that also stops on
// request and describes itself as tcpdump does.
type LiveSource interface {
	Source
	// Interrupt stops the capture (for Ctrl-C), from any goroutine. Packets
	// already queued are still handed out, then Next returns io.EOF; so
	// the final Stats hold Captured = Packets + QueueDropped.
	Interrupt()
	// Listening is tcpdump's start line, without newline:
	// "listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes".
	Listening() string
	// Files names the -w files written so far, in order of opening.
	Files() []string
}

// StatsLines returns a live capture's end-of-run counts as tcpdump prints
// them (one per line, without newline), plus connlint's queue drops:
//
//	1000 packets captured                 read from libpcap (and saved with -w)
//	1000 packets received by filter       passed the BPF filter in the kernel (libpcap ps_recv)
//	0 packets dropped by kernel           no room in the kernel buffer (ps_drop; raise -B)
//	0 packets dropped by interface        by the driver (ps_ifdrop; printed only when not 0, as tcpdump)
//	0 packets dropped by queue            captured, but the analysis fell behind (saved with -w, not analysed)
//
// "received by filter" also counts packets still in the kernel buffer when
// the counters were read, and those dropped by the kernel, so it can exceed
// captured + dropped by kernel by a few.
//
// On lo, "received by filter" is about twice "captured", for connlint as
// for tcpdump: the kernel hands the capture socket every loopback packet
// twice, once as it leaves (PACKET_OUTGOING) and once as it comes back in,
// and counts both in tp_packets; libpcap then throws the outgoing copy away
// in user space (linux_check_direction), so it is neither captured nor
// dropped, while the counters still include it (and an outgoing copy can be
// dropped for lack of room while its incoming twin is kept). A kernel-side
// "inbound" test would avoid the copies but loses packets at start (see
// setFilter).
func StatsLines(s Stats) []string {
	plural := func(n int64, what string) string {
		if n == 1 {
			return fmt.Sprintf("1 packet %s", what)
		}
		return fmt.Sprintf("%d packets %s", n, what)
	}
	lines := []string{
		plural(s.Captured, "captured"),
		plural(s.KernelReceived, "received by filter"),
		plural(s.KernelDropped, "dropped by kernel"),
	}
	if s.IfaceDropped != 0 {
		lines = append(lines, plural(s.IfaceDropped, "dropped by interface"))
	}
	lines = append(lines, plural(s.QueueDropped, "dropped by queue (analysis fell behind)"))
	return lines
}

// oneLine makes a multi-line libpcap or system message one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

// flushEvery is how often the -w file is flushed: evidence on disk stays at
// most this old if connlint is killed.
const flushEvery = time.Second
