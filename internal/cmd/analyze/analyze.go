// Package analyze is the `connlint analyze` command: one report over one or
// more capture files merged in time order.
package analyze

import (
	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
)

// Options are the analyze command's dependencies and flag values.
type Options struct {
	IO       *iostreams.IOStreams
	Flags    settings.Analysis
	Config   *analyze.Config // from Flags, checked before the run
	Paths    []string
	All      bool // text: every TCP connection and every finding
	Verbose  bool // text: every finding in full, repeated ones not grouped
	Progress bool // a progress bar on a terminal for large inputs
}

// NewCmdAnalyze builds the command; runF, when not nil, replaces the run
// (tests check flag handling with it).
func NewCmdAnalyze(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "analyze [flags] FILE... [-- BPF-FILTER]",
		Short: "Analyze pcap/pcapng files (several are merged in time order; - is stdin; .gz is read transparently)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, opts.Flags.Filter = settings.FilesAndFilter(cmd, args, opts.Flags.Filter)
			if err := settings.CheckDistinctFiles(args); err != nil {
				return cli.BadInput(err)
			}
			cfg, err := opts.Flags.Config()
			if err != nil {
				return cli.BadInput(err)
			}
			opts.Config, opts.Paths, opts.Progress = cfg, args, !noProgress
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	cmd.Flags().BoolVar(&opts.All, "all", false, "text: show every TCP connection, not only HTTP ones and those with findings, and every finding in full")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "text: print every finding in full instead of grouping those repeated across connections")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar on stderr")
	return cmd
}

// Run analyses opts.Paths (merged in time order) and renders one report to
// opts.IO.Out. A write error stops the run and is reported (exit 2), as is
// an input that could not be read to its end.
func Run(opts *Options) error {
	src, err := capture.OpenFiles(opts.Paths, capture.FileOptions{Filter: opts.Flags.Filter, Stdin: opts.IO.In})
	if err != nil {
		return cli.BadInput(err)
	}
	defer src.Close()
	out := render.NewWriter(opts.IO.Out)
	r := render.Lookup(opts.Flags.Format).New(out, render.Options{
		Inputs: src.Inputs(), Color: opts.IO.ColorEnabled(opts.Flags.Color), All: opts.All, Verbose: opts.Verbose,
		Width: opts.IO.TerminalWidth(),
	})
	po := pipeline.Options{
		Config: opts.Config, Assembler: opts.Flags.AssemblerOptions(), Sink: r,
		Stop: func() bool { return out.Err() != nil },
	}
	if bar := progressFor(opts, src); bar != nil {
		po.Tick = bar.tick
		defer bar.done()
	}
	res := pipeline.Run(src, po)
	if err := r.Finish(res); err != nil {
		return cli.WriteFailed(err)
	}
	if res.ReadErr != nil {
		return cli.BadInput(res.ReadErr)
	}
	return nil
}
