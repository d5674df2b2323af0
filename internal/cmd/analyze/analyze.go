// Package analyze is the `connlint analyze` command: one report over one or
// more capture files merged in time order.
package analyze

import (
	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/gate"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
	"github.com/connlint/connlint/reassembly/tls"
)

// Options are the analyze command's dependencies and flag values.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	Flags   settings.Analysis
	Output  settings.Output
	Config  *analyze.Config // from Flags, checked before the run
	Paths   []string
	All     bool // text: every TCP connection and every finding
	// Keys are the TLS secrets to decrypt with (--keylog; run: the command's
	// SSLKEYLOGFILE); nil for none.
	Keys     *tls.KeyLog
	Progress bool // a progress bar on a terminal for large inputs
}

// NewCmdAnalyze builds the command; runF, when not nil, replaces the run
// (tests check flag handling with it).
func NewCmdAnalyze(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
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
			if opts.Keys, err = opts.Flags.KeyLog(opts.IO.ErrOut); err != nil {
				return cli.BadInput(err)
			}
			opts.Output.Announce(opts.IO.ErrOut, &opts.Flags)
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	opts.Output.RegisterOutput(cmd.Flags())
	cmd.Flags().BoolVar(&opts.All, "all", false, "text: show every TCP connection, not only HTTP ones and those with findings, and every finding in full")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar on stderr")
	return cmd
}

// Run analyses opts.Paths (merged in time order) and renders one report to
// opts.IO.Out or the -o file. A write error stops the run and is reported
// (exit 2), as is an input that could not be read to its end.
func Run(opts *Options) error {
	src, err := capture.OpenFiles(opts.Paths, capture.FileOptions{Filter: opts.Flags.Filter, Stdin: opts.IO.In})
	if err != nil {
		return cli.BadInput(err)
	}
	defer src.Close()
	var tick func()
	if bar := progressFor(opts, src); bar != nil {
		tick = bar.tick
		defer bar.done()
	}
	res, err := Report(opts, src, src.Inputs(), 0, tick)
	if err != nil {
		return err
	}
	if res.ReadErr != nil {
		return cli.BadInput(res.ReadErr)
	}
	return nil
}

// Reported is what Report found: the analysis result and the gate that
// filtered it (counts by severity, what suppressions and the baseline hid).
type Reported struct {
	*render.Result
	Gate *gate.Gate
}

// Report analyses src through the gate (suppressions, baseline) and
// renders one report naming inputs; failOn is the gate the CI formats
// report (0: none). analyze and run share it. The error is already an exit
// error (bad baseline, a report that could not be written).
func Report(opts *Options, src capture.Source, inputs []string, failOn analyze.Severity, tick func()) (*Reported, error) {
	g, err := opts.Output.Gate(&opts.Flags)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	w, done, err := opts.Output.Open(opts.IO.Out)
	if err != nil {
		return nil, cli.BadInput(err)
	}
	out := render.NewWriter(w)
	color := opts.IO.ColorEnabled(opts.Flags.Color)
	if opts.Output.File != "" && opts.Flags.Color != "always" {
		color = false // a file is no terminal
	}
	width := opts.IO.TerminalWidth()
	if opts.Output.File != "" {
		width = 0 // a file is no terminal: no wrapping
	}
	r := g.Wrap(render.Lookup(opts.Flags.Format).New(out, render.Options{
		Inputs: inputs, Color: color, All: opts.All, Verbose: opts.Output.Verbose, Width: width,
		Version: opts.Version, Config: opts.Config, FailOn: failOn, Info: g.Info,
	}))
	res := pipeline.Run(src, pipeline.Options{
		Config: opts.Config, Assembler: opts.Flags.AssemblerOptions(), Sink: r, Workers: opts.Flags.Workers,
		Stop: func() bool { return out.Err() != nil }, Tick: tick,
		Keys: opts.Keys, Warn: func(err error) { settings.WarnKeyLog(opts.IO.ErrOut, err) },
	})
	res.Inputs = inputs
	if err := g.Finish(); err != nil {
		done()
		return nil, cli.BadInput(err)
	}
	werr := r.Finish(res)
	if werr == nil && opts.Flags.Format == "text" {
		render.WriteInfoText(out, g.Info)
		werr = out.Err()
	}
	if cerr := done(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, cli.WriteFailed(werr)
	}
	return &Reported{Result: res, Gate: g}, nil
}
