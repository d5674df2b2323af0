// Package sniff is the `connlint sniff` command: live capture with findings
// reported as they happen.
package sniff

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/gate"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/metrics"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly/tls"
)

// Options are the sniff command's dependencies and flag values.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	Flags   settings.Analysis
	// Output: -o, --baseline, --write-baseline (written when the capture
	// ends: Ctrl-C, SIGTERM, -c or --duration) and --verbose.
	Output settings.Output
	Config *analyze.Config
	Live   capture.LiveOptions
	// MetricsAddr, when set, is where Prometheus metrics are served (host:port).
	MetricsAddr string
	// Ready, when set, is called once the capture is open (tests).
	Ready func(src capture.LiveSource)
	// Keys: --keylog, followed as it grows (a browser writing its
	// SSLKEYLOGFILE while it is sniffed); nil for none.
	Keys *tls.KeyLog
	// Open opens the capture; nil is capture.OpenLive (tests feed files).
	Open func(capture.LiveOptions) (capture.LiveSource, error)
}

// LiveCloseLinger replaces reassembly.DefaultCloseLinger (2 s) for a live
// capture: a connection's end-of-connection findings come out when its
// linger has passed, and 500 ms still catches the last ACK and a
// retransmitted FIN or RST of any path with a round trip below that, while
// keeping findings within about a second of the connection's end (linger,
// plus up to a tick, 250 ms, plus the kernel's block timeout, 100-200 ms).
// A straggler after it is counted as stray, not analysed.
const LiveCloseLinger = 500 * time.Millisecond

// minSnaplen is the smallest snapshot length that holds an Ethernet, IPv4
// and TCP header without options (14+20+20): below it no packet can be
// analysed.
const minSnaplen = 54

// NewCmdSniff builds the command; runF, when not nil, replaces the run.
func NewCmdSniff(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
	opts.Live.Application = strings.TrimSpace("connlint " + f.Version) // pcapng shb_userappl
	var (
		noPromisc bool
		rotateSec int
		rotateMB  int64
	)
	cmd := &cobra.Command{
		Use:   "sniff -i IFACE [flags] [BPF expression]",
		Short: "Capture live and report findings as they happen; Ctrl-C prints a summary",
		Long: `sniff captures on an interface (needs root or CAP_NET_RAW), reports findings
as they happen (text on a terminal, NDJSON otherwise) and, on Ctrl-C or
SIGTERM (or after -c packets or --duration), a summary. After the capture
handle is open it drops root to the invoking sudo user (else nobody), like
tcpdump. It prints tcpdump's "listening on" line at start and its counts on
stderr at exit:

  packets captured            read from the kernel (and saved with -w)
  packets received by filter  passed the filter in the kernel; on lo every packet
                              counts twice (outgoing and incoming copy), as in tcpdump
  packets dropped by kernel   no room in the kernel buffer: raise -B
  packets dropped by queue    captured (and saved with -w) but not analysed: the
                              analysis fell behind; findings about connections that
                              lost packets are withheld, never invented

--format json keeps findings until exit (the document is written then): it
is for short runs; a long-running sniff wants ndjson (the default off a
terminal) and --metrics-addr.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Live.Interface == "" {
				return cli.BadInput(errors.New("sniff needs an interface: -i IFACE"))
			}
			if !cmd.Flags().Changed("format") {
				opts.Flags.Format = DefaultFormat(opts.IO)
			}
			cfg, err := opts.Flags.Config()
			if err != nil {
				return cli.BadInput(err)
			}
			opts.Config = cfg
			opts.Output.Announce(opts.IO.ErrOut, &opts.Flags)
			if opts.Keys, err = opts.Flags.KeyLog(opts.IO.ErrOut); err != nil {
				return cli.BadInput(err)
			}
			if opts.Keys != nil {
				opts.Keys.Follow(opts.Flags.KeyLogPath())
			}
			opts.Live.Filter = settings.BPFFromArgs(opts.Flags.Filter, args)
			opts.Live.Promisc = !noPromisc
			if opts.Live.Count < 0 || opts.Live.Duration < 0 || rotateSec < 0 || rotateMB < 0 || opts.Live.Rotate.MaxFiles < 0 || opts.Live.BufferKiB < 0 {
				return cli.BadInput(errors.New("-c, --duration, -G, -C, -W and -B must not be negative"))
			}
			opts.Live.Rotate.Every = time.Duration(rotateSec) * time.Second
			opts.Live.Rotate.FileSize = rotateMB * 1_000_000 // tcpdump's -C unit
			if opts.Live.WriteFile == "" && (rotateSec > 0 || rotateMB > 0 || opts.Live.Rotate.MaxFiles > 0) {
				return cli.BadInput(errors.New("-G, -C and -W rotate the -w file: give -w FILE"))
			}
			if opts.Live.Snaplen > 0 && opts.Live.Snaplen < minSnaplen {
				fmt.Fprintf(opts.IO.ErrOut, "connlint: warning: snaplen %d is shorter than the Ethernet, IP and TCP headers (%d bytes or more): packets are cut before their payload and cannot be analysed\n", opts.Live.Snaplen, minSnaplen)
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	opts.Output.RegisterOutput(cmd.Flags())
	cmd.Flags().StringVarP(&opts.Live.Interface, "interface", "i", "", "interface to capture on")
	cmd.Flags().IntVarP(&opts.Live.Snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes captured per packet")
	cmd.Flags().BoolVarP(&noPromisc, "no-promiscuous-mode", "p", false, "do not put the interface into promiscuous mode")
	cmd.Flags().BoolVar(&opts.Live.Immediate, "immediate", false, "deliver each packet as it arrives (libpcap immediate mode) instead of in kernel blocks every 100 ms; drops packets at lower rates")
	cmd.Flags().IntVarP(&opts.Live.BufferKiB, "buffer-size", "B", 0, fmt.Sprintf("kernel capture buffer in KiB, as tcpdump -B (default %d)", capture.DefaultBufferKiB))
	cmd.Flags().Int64VarP(&opts.Live.Count, "count", "c", 0, "stop after this many packets, as tcpdump -c (0: no limit)")
	cmd.Flags().DurationVar(&opts.Live.Duration, "duration", 0, "stop after this long, e.g. 30s or 1h (0: no limit)")
	cmd.Flags().StringVarP(&opts.Live.WriteFile, "write", "w", "", "also save the captured packets to this file: pcapng when FILE ends in .pcapng, else classic pcap")
	cmd.Flags().IntVarP(&rotateSec, "rotate-seconds", "G", 0, "with -w: start a new file every this many seconds (names FILE, FILE1, FILE2 …, or x.pcapng, x1.pcapng …; tcpdump -G)")
	cmd.Flags().Int64VarP(&rotateMB, "file-size", "C", 0, "with -w: start a new file when the current one exceeds this many million bytes (tcpdump -C)")
	cmd.Flags().IntVarP(&opts.Live.Rotate.MaxFiles, "file-count", "W", 0, "with -G/-C: keep at most this many files, reusing their names in a ring (FILE0 … FILE9 for -W 10; tcpdump -W)")
	cmd.Flags().StringVar(&opts.MetricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address, e.g. :9464 (path /metrics)")
	cmd.Flags().StringVarP(&opts.Live.DropUser, "user", "Z", "", `drop privileges to this user after opening ("-" keeps root; default: sudo user, else nobody)`)
	return cmd
}

// DefaultFormat is sniff's format when --format is not given: text for a
// person at a terminal, NDJSON (one finding per line, as found) for a pipe.
func DefaultFormat(io *iostreams.IOStreams) string {
	if io.IsStdoutTTY() {
		return "text"
	}
	return "ndjson"
}

// Run captures until the source ends (-c, --duration) or SIGINT/SIGTERM,
// reporting findings as they are found (through the gate: config
// suppressions and --baseline hide findings as they arrive), then writes
// the summary, what the gate hid, and tcpdump's counts on stderr.
func Run(opts *Options) error {
	// The gate first: a bad baseline is an error before any capture.
	g, err := opts.Output.Gate(&opts.Flags)
	if err != nil {
		return cli.BadInput(err)
	}
	live := opts.Live
	if live.Tick == 0 {
		live.Tick = capture.DefaultTick
	}
	open := opts.Open
	if open == nil {
		open = capture.OpenLive
	}
	src, err := open(live)
	if err != nil {
		return cli.BadInput(err)
	}
	defer src.Close()
	// -o is created after the capture dropped root, as tcpdump opens its
	// savefiles after -Z: the report belongs to the user who asked for it.
	w, done, err := opts.Output.Open(opts.IO.Out)
	if err != nil {
		return cli.BadInput(err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "connlint: %s\n", src.Listening())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			src.Interrupt()
		}
	}()
	var mx *metrics.Metrics
	if opts.MetricsAddr != "" {
		mx = metrics.New(src.Stats)
		stop, err := serveMetrics(opts.MetricsAddr, mx)
		if err != nil {
			done()
			return cli.BadInput(err)
		}
		defer stop()
	}
	if opts.Ready != nil {
		opts.Ready(src)
	}
	out := render.NewWriter(w)
	ro := render.Options{Inputs: src.Inputs(), Live: true, Verbose: opts.Output.Verbose,
		Version: opts.Version, Config: opts.Config, Info: g.Info}
	if opts.Flags.Format == "text" {
		ro.Color = opts.IO.ColorEnabled(opts.Flags.Color)
		if opts.Output.File != "" && opts.Flags.Color != "always" {
			ro.Color = false // a file is no terminal
		}
	}
	r := g.Wrap(render.Lookup(opts.Flags.Format).New(out, ro))
	asm := opts.Flags.AssemblerOptions()
	if asm.CloseLinger == 0 {
		asm.CloseLinger = LiveCloseLinger
	}
	po := pipeline.Options{
		Config: opts.Config, Assembler: asm, Sink: r,
		Stop: func() bool { return out.Err() != nil },
		Keys: opts.Keys,
	}
	if mx != nil {
		po.Observer = mx
	}
	res := pipeline.Run(src, po)
	gerr := finish(g, r, res, out, opts.Flags.Format)
	if cerr := done(); gerr == nil && cerr != nil {
		gerr = cli.WriteFailed(cerr)
	}
	for _, line := range capture.StatsLines(src.Stats()) {
		fmt.Fprintln(opts.IO.ErrOut, line)
	}
	if l := res.Live; l != nil && l.Withheld > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "%d findings withheld (their connections lost packets)\n", l.Withheld)
	}
	if gerr != nil {
		return gerr
	}
	if res.ReadErr != nil {
		return cli.BadInput(res.ReadErr)
	}
	return nil
}

// finish ends the report as analyze does: the gate completes its Info
// (unused suppressions, baseline entries not seen) and writes
// --write-baseline before the renderer's summary reports it; text then
// says what the gate hid. A baseline that could not be written still
// leaves the summary of a capture that may have run for hours. The error
// is an exit error.
func finish(g *gate.Gate, r render.Renderer, res *render.Result, out *render.Writer, format string) error {
	gerr := g.Finish()
	werr := r.Finish(res)
	if werr == nil && format == "text" {
		render.WriteInfoText(out, g.Info)
		werr = out.Err()
	}
	if werr != nil {
		return cli.WriteFailed(werr)
	}
	if gerr != nil {
		return cli.BadInput(gerr)
	}
	return nil
}

// serveMetrics listens on addr (at once, so a busy port is an error at
// start) and serves m on /metrics until stop is called.
func serveMetrics(addr string, m *metrics.Metrics) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return func() { srv.Close() }, nil
}
