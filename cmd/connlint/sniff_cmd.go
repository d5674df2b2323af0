package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
)

func libpcapStatus() string {
	if haveLibpcap {
		return "with libpcap"
	}
	return "built without libpcap: sniff and BPF filters are unavailable"
}

func newSniffCmd(stdout, stderr io.Writer) *cobra.Command {
	var fl analysisFlags
	var lo capture.LiveOptions
	var noPromisc bool
	var user string
	cmd := &cobra.Command{
		Use:   "sniff -i IFACE [flags] [BPF expression]",
		Short: "Capture live and report findings as they happen; Ctrl-C prints a summary",
		Long: `sniff captures on an interface (needs root or CAP_NET_RAW), reports findings
as they happen (text on a terminal, NDJSON otherwise) and, on Ctrl-C, a
summary with the packets received and dropped. After the capture handle is
open it drops root to the invoking sudo user (else nobody), like tcpdump.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if lo.Interface == "" {
				return &exitError{code: exitBadInput, err: errors.New("sniff needs an interface: -i IFACE")}
			}
			if !cmd.Flags().Changed("format") && !isTerminal(stdout) {
				fl.format = "ndjson"
			}
			cfg, err := fl.config()
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
			}
			lo.Filter = bpfFromArgs(fl.filter, args)
			lo.Promisc = !noPromisc
			lo.DropUser = user
			src, err := capture.OpenLive(lo)
			if err != nil {
				return &exitError{code: exitBadInput, err: err}
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
			var r renderer
			if fl.format == "text" {
				r = &liveRenderer{w: stdout, p: newPalette(colorEnabled(fl.color, stdout))}
			} else {
				r = newRenderer(fl.format, stdout, src.Inputs(), false, false)
			}
			res := pipeline(src, analyze.NewEngine(cfg, suite.Rules, r), fl.assemblerOptions(), nil)
			r.finish(res)
			s := res.summary
			fmt.Fprintf(stderr, "%d packets received by filter, %d dropped by kernel, %d dropped by interface\n", s.KernelReceived, s.KernelDropped, s.IfaceDropped)
			if res.readErr != nil {
				return &exitError{code: exitBadInput, err: res.readErr}
			}
			return nil
		},
	}
	fl.register(cmd.Flags(), "text")
	cmd.Flags().StringVarP(&lo.Interface, "interface", "i", "", "interface to capture on")
	cmd.Flags().IntVarP(&lo.Snaplen, "snaplen", "s", 262144, "bytes captured per packet")
	cmd.Flags().BoolVarP(&noPromisc, "no-promiscuous-mode", "p", false, "do not put the interface into promiscuous mode")
	cmd.Flags().BoolVar(&lo.Immediate, "immediate", true, "deliver packets as they arrive (libpcap immediate mode)")
	cmd.Flags().StringVarP(&lo.WriteFile, "write", "w", "", "also save the captured packets to this pcap file")
	cmd.Flags().StringVarP(&user, "user", "Z", "", `drop privileges to this user after opening ("-" keeps root; default: sudo user, else nobody)`)
	return cmd
}

// liveRenderer prints each finding the moment it is reported, then the summary.
type liveRenderer struct {
	w io.Writer
	p palette
}

func (l *liveRenderer) Finding(f *analyze.Finding) {
	t := &textRenderer{w: l.w, p: l.p}
	conn := ""
	if f.Conn.ID != 0 {
		conn = fmt.Sprintf("conn %d %s → %s ", f.Conn.ID, f.Conn.Client, f.Conn.Server)
	}
	fmt.Fprintf(l.w, "%s %s%s\n", ts(f.Time), conn, "")
	t.finding(f, "  ")
}
func (l *liveRenderer) Connection(*analyze.ConnReport) {}
func (l *liveRenderer) finish(res *result)             { writeTextSummary(l.w, l.p, res) }
