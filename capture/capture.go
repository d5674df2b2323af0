// Package capture opens packet sources — pcap/pcapng files (optionally
// gzip-compressed, or stdin) read with the pure-Go pcapgo readers and merged
// in timestamp order, or a live libpcap handle — and hands out packets with
// Wireshark's 1-based frame numbers. It knows nothing about TCP or HTTP.
package capture

import (
	"fmt"
	"time"
)

// Packet is one captured frame, or for a live source with ticks a tick.
// Data is valid until the next call to Next.
type Packet struct {
	Input    int       // index of the input (file) in the order given; 0 for live
	Frame    int64     // 1-based frame number within that input, as Wireshark numbers it (live: in the -w output before rotation; 0 for a tick)
	Time     time.Time // capture timestamp (tick: see Tick)
	LinkType int       // pcap LINKTYPE_ number of the packet's interface
	Data     []byte    // captured bytes (nil for a tick)
	Length   int       // original length on the wire

	// Tick marks an item that is no packet (live sources with
	// LiveOptions.Tick only): capture time has reached Time and no packet
	// stamped before Time is still to come, so the consumer can expire idle
	// connections and fire timeouts up to Time. Files never tick.
	Tick bool
	// Loss, live only, is non-nil when packets that passed the filter were
	// lost between the previous item and this one (see Loss).
	Loss *Loss
	// Secrets is TLS key log text (NSS key log format) from the pcapng
	// Decryption Secrets Blocks of this packet's input read since its
	// previous packet; nil for most packets. It is key material: never
	// print it.
	Secrets []byte
}

// Source yields packets in capture (timestamp) order.
type Source interface {
	// Next returns the next packet, or io.EOF when every input is exhausted.
	// A damaged input does not stop the others: its error is kept and returned
	// by Err after io.EOF.
	Next() (Packet, error)
	// Err returns the errors of inputs that ended early (one *InputError each), joined, or nil.
	Err() error
	// Inputs names the inputs, in order (file paths; "-" for stdin; the interface for live).
	Inputs() []string
	Stats() Stats
	Close() error
}

// Stats are capture statistics.
type Stats struct {
	Packets        int64 // packets handed out by Next
	Filtered       int64 // packets rejected by the BPF filter (files)
	KernelReceived int64 // live only: received by the filter (libpcap ps_recv)
	KernelDropped  int64 // live only: dropped for lack of buffer space (ps_drop)
	IfaceDropped   int64 // live only: dropped by the interface/driver (ps_ifdrop)
	Live           bool
	// Captured, live only, counts packets read from libpcap (and saved to
	// the -w file): tcpdump's "packets captured". Once the queue is drained
	// (after io.EOF) Captured = Packets + QueueDropped.
	Captured int64
	// QueueDropped, live only, counts packets captured but dropped because
	// the analysis fell behind and the queue was full. They are in the -w
	// file; the analysis never saw them.
	QueueDropped int64
}

// InputError is a damaged or unreadable input: which file, how far it got,
// and what is wrong. Its Error() is a single line.
type InputError struct {
	Path   string
	Frame  int64 // last frame read successfully (0 if none)
	Offset int64 // byte offset in the (decompressed) file where reading failed, -1 if unknown
	Err    error
}

func (e *InputError) Error() string {
	if e.Frame == 0 && e.Offset < 0 {
		// Failed before reading anything: "after frame 0" would only confuse.
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("%s: after frame %d (offset %d): %v", e.Path, e.Frame, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: after frame %d: %v", e.Path, e.Frame, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

/*
API (implementation in files.go, live_pcap.go (cgo) and live_nocgo.go):

	type FileOptions struct {
		Filter string // BPF expression; needs libpcap (cgo build) — else OpenFiles fails with ErrNoLibpcap
		Snaplen int   // for compiling the filter (default 262144)
	}
	// OpenFiles opens every path ("-" = stdin; ".gz" or gzip magic = gunzip) and
	// merges them by timestamp (stable: ties keep input order). Opening errors
	// (missing file, not a capture) are returned at once as *InputError.
	func OpenFiles(paths []string, opts FileOptions) (Source, error)

	type LiveOptions struct {
		Interface string
		Filter    string
		Snaplen   int  // default 262144
		Promisc   bool // default true at the flag level
		Immediate bool
		WriteFile string // also save packets here (pcap), so evidence can be opened in Wireshark
		DropUser  string // after opening: setuid to this user ("" = SUDO_USER, else "nobody"; "-" = keep root)
	}
	// OpenLive opens a libpcap handle. Without cgo it returns ErrNoLibpcap.
	func OpenLive(opts LiveOptions) (Source, error)
	var ErrNoLibpcap = errors.New("this connlint was built without libpcap (CGO_ENABLED=0): live capture and BPF filters are unavailable")
	// Interrupt makes a live Source's Next return io.EOF soon (for Ctrl-C).
	Live sources also implement interface{ Interrupt() }.
*/
