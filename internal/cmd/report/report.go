// Package report is the `connlint report` command: the HTML page that draws
// each finding as a ladder diagram (internal/report), from one or more
// capture files.
//
// It reads the files twice: the analysis (the same as analyze's, with the
// same flags and config file) feeds a report.Collector, which keeps only
// what the page draws (bounded, see report.Collector); then a second pass
// (internal/evidence) collects the segments of the drawn findings. Standard
// input cannot be read twice: its page has no ladder diagrams and says so.
package report

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/internal/gate"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/internal/report"
)

// Options are the report command's dependencies and flag values.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	Flags   settings.Analysis
	Config  *analyze.Config // from Flags, checked before the run
	Paths   []string
	// File is where the page goes; "-" is stdout.
	File string
	// Page bounds the page (and what the analysis keeps for it).
	Page report.Options
	// Names, when set, name the inputs on the page instead of their paths
	// (run's temporary capture file).
	Names []string
	// Stats, when set, receives what the run kept and read (tests).
	Stats func(Stats)
}

// Stats describe a run: what the Collector held at the end and the second pass.
type Stats struct {
	Retained report.Retained
	Evidence evidence.Stats
	Drawn    int
	Input    *report.Input // what the page was written from
}

// NewCmdReport builds the command; runF, when not nil, replaces the run.
func NewCmdReport(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
	cmd := &cobra.Command{
		Use:   "report -o FILE.html [flags] FILE... [-- BPF-FILTER]",
		Short: "Write a self-contained HTML page that draws every finding as a ladder diagram",
		Long: `report analyses the capture files as analyze does (same flags, same config
file and suppressions) and writes one self-contained HTML page (no script, no
network fetch): a summary (findings by rule, time lost, gaps and drops), one
ladder diagram per finding drawn from the capture's segments (the worst
--max-diagrams per rule), a waterfall per connection with findings, timelines
of connections per client→server pair, proxy chains and the rule pages.

The files are read twice: once for the analysis, once for the segments of the
drawn findings. Standard input (-) can be read only once: its page has no
ladder diagrams and says so.

-o is required ("-o -" writes to stdout): an HTML page is not for a terminal,
and no default name silently overwrites a file.

Exit status: 0 when the page was written (findings do not fail the run: use
lint for a gate); 2 when an input could not be read to its end (the page is
still written, up to the damage, and says where it stopped), when the page
could not be written, or on bad usage.`,
		Example: `  connlint report -o report.html capture.pcapng
  connlint report -o report.html client.pcap proxy.pcap -- tcp port 8080
  connlint report --max-diagrams 20 -o - capture.pcap > report.html`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, opts.Flags.Filter = settings.FilesAndFilter(cmd, args, opts.Flags.Filter)
			if opts.File == "" {
				return cli.BadInput(errors.New("report: -o FILE is required (-o - writes the page to stdout)"))
			}
			if err := settings.CheckDistinctFiles(args); err != nil {
				return cli.BadInput(err)
			}
			if opts.Page.MaxDiagramsPerRule < 1 {
				return cli.BadInput(fmt.Errorf("--max-diagrams must be at least 1, not %d", opts.Page.MaxDiagramsPerRule))
			}
			cfg, err := opts.Flags.Config()
			if err != nil {
				return cli.BadInput(err)
			}
			opts.Config, opts.Paths = cfg, args
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	// The page is the format, and it has its own colours.
	_ = cmd.Flags().MarkHidden("format")
	_ = cmd.Flags().MarkHidden("color")
	cmd.Flags().StringVarP(&opts.File, "output", "o", "", `write the page to this file ("-": stdout); required`)
	cmd.Flags().IntVar(&opts.Page.MaxDiagramsPerRule, "max-diagrams", 5, "diagrams per rule, the worst first (the rest are counted)")
	return cmd
}

// Run analyses opts.Paths and writes the page.
func Run(opts *Options) error {
	src, err := capture.OpenFiles(opts.Paths, capture.FileOptions{Filter: opts.Flags.Filter, Stdin: opts.IO.In})
	if err != nil {
		return cli.BadInput(err)
	}
	defer src.Close()
	return Write(opts, src, opts.Paths)
}

// Write analyses src, reads paths a second time for the diagrams (paths
// must be the files src reads, with the same filter) and writes the page.
// connlint run uses it over its capture file.
func Write(opts *Options, src capture.Source, paths []string) error {
	g, err := gate.New(gate.Options{ConfigFile: opts.Flags.ConfigFile, Suppress: opts.Flags.Suppress})
	if err != nil {
		return cli.BadInput(err)
	}
	w, done, err := openOutput(opts.File, opts.IO.Out)
	if err != nil {
		return cli.BadInput(err)
	}
	col := report.NewCollector(opts.Page)
	sink := &finisher{Collector: col}
	r := g.Wrap(sink)
	aopts := opts.Flags.AssemblerOptions()
	res := pipeline.Run(src, pipeline.Options{Config: opts.Config, Assembler: aopts, Sink: r, Workers: opts.Flags.Workers})
	res.Inputs = src.Inputs()
	if opts.Names != nil {
		res.Inputs = opts.Names
	}
	if err := g.Finish(); err != nil {
		done()
		return cli.BadInput(err)
	}
	if err := r.Finish(res); err != nil {
		done()
		return cli.WriteFailed(err)
	}
	in := col.Input()
	in.Inputs, in.Summary, in.ReadErr = res.Inputs, sink.res.Summary, res.ReadErr
	st, eerr := report.CollectEvidence(in, paths, capture.FileOptions{Filter: opts.Flags.Filter}, aopts, evidence.Limits{})
	switch {
	case errors.Is(eerr, evidence.ErrStdin):
		fmt.Fprintln(opts.IO.ErrOut, "connlint: standard input cannot be read a second time: the page has no ladder diagrams")
	case eerr != nil && res.ReadErr == nil:
		fmt.Fprintf(opts.IO.ErrOut, "connlint: second read for the diagrams: %v\n", eerr)
	}
	werr := report.Write(w, in)
	if cerr := done(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return cli.WriteFailed(werr)
	}
	drawn := len(report.Drawn(in))
	if opts.Stats != nil {
		opts.Stats(Stats{Retained: col.Retained(), Evidence: st, Drawn: drawn, Input: in})
	}
	if opts.File != "-" {
		total := 0
		for _, n := range in.Summary.FindingsBySeverity {
			total += n
		}
		fmt.Fprintf(opts.IO.ErrOut, "connlint: report written to %s (%d finding(s), %d drawn)\n", opts.File, total, drawn)
	}
	if res.ReadErr != nil {
		return cli.BadInput(res.ReadErr)
	}
	return nil
}

// openOutput opens the page's file ("-": stdout); done closes it.
func openOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("-o: %w", err)
	}
	return f, f.Close, nil
}

// finisher makes the Collector a render.Renderer for the gate, and keeps
// the result the gate passes on (its summary counts only what it shows).
type finisher struct {
	*report.Collector
	res *render.Result
}

func (f *finisher) Finish(res *render.Result) error {
	f.res = res
	return nil
}
