// Package sniff is the `connlint sniff` command: live capture with findings
// reported as they happen.
package sniff

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
)

// Options are the sniff command's dependencies and flag values.
type Options struct {
	IO     *iostreams.IOStreams
	Flags  settings.Analysis
	Config *analyze.Config
	Live   capture.LiveOptions
}

// NewCmdSniff builds the command; runF, when not nil, replaces the run.
func NewCmdSniff(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	var noPromisc bool
	cmd := &cobra.Command{
		Use:   "sniff -i IFACE [flags] [BPF expression]",
		Short: "Capture live and report findings as they happen; Ctrl-C prints a summary",
		Long: `sniff captures on an interface (needs root or CAP_NET_RAW), reports findings
as they happen (text on a terminal, NDJSON otherwise) and, on Ctrl-C, a
summary with the packets received and dropped. After the capture handle is
open it drops root to the invoking sudo user (else nobody), like tcpdump.`,
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
			opts.Live.Filter = settings.BPFFromArgs(opts.Flags.Filter, args)
			opts.Live.Promisc = !noPromisc
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	cmd.Flags().StringVarP(&opts.Live.Interface, "interface", "i", "", "interface to capture on")
	cmd.Flags().IntVarP(&opts.Live.Snaplen, "snaplen", "s", capture.DefaultSnaplen, "bytes captured per packet")
	cmd.Flags().BoolVarP(&noPromisc, "no-promiscuous-mode", "p", false, "do not put the interface into promiscuous mode")
	cmd.Flags().BoolVar(&opts.Live.Immediate, "immediate", true, "deliver packets as they arrive (libpcap immediate mode)")
	cmd.Flags().StringVarP(&opts.Live.WriteFile, "write", "w", "", "also save the captured packets to this pcap file")
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

// Run captures until the source ends or SIGINT/SIGTERM, then prints the
// capture statistics on stderr.
func Run(opts *Options) error {
	src, err := capture.OpenLive(opts.Live)
	if err != nil {
		return cli.BadInput(err)
	}
	defer src.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		if _, ok := <-sig; ok {
			if in, ok := src.(interface{ Interrupt() }); ok {
				in.Interrupt()
			}
		}
	}()
	out := render.NewWriter(opts.IO.Out)
	ro := render.Options{Inputs: src.Inputs(), Live: true}
	if opts.Flags.Format == "text" {
		ro.Color = opts.IO.ColorEnabled(opts.Flags.Color)
	}
	r := render.Lookup(opts.Flags.Format).New(out, ro)
	res := pipeline.Run(src, pipeline.Options{
		Config: opts.Config, Assembler: opts.Flags.AssemblerOptions(), Sink: r,
		Stop: func() bool { return out.Err() != nil },
	})
	werr := r.Finish(res)
	s := res.Summary
	fmt.Fprintf(opts.IO.ErrOut, "%d packets received by filter, %d dropped by kernel, %d dropped by interface\n", s.KernelReceived, s.KernelDropped, s.IfaceDropped)
	if werr != nil {
		return cli.WriteFailed(werr)
	}
	if res.ReadErr != nil {
		return cli.BadInput(res.ReadErr)
	}
	return nil
}
