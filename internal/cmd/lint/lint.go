// Package lint is the `connlint lint` command: a CI gate that analyses each
// file on its own and fails on findings at or above --fail-on.
package lint

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/pipeline"
	"github.com/connlint/connlint/internal/render"
)

// Options are the lint command's dependencies and flag values.
type Options struct {
	IO     *iostreams.IOStreams
	Flags  settings.Analysis
	Config *analyze.Config
	Paths  []string
	// FailOn is the lowest severity that fails the run (from --fail-on, else
	// the config file, else error).
	FailOn analyze.Severity
}

// NewCmdLint builds the command; runF, when not nil, replaces the run.
func NewCmdLint(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	var failOn string
	cmd := &cobra.Command{
		Use:   "lint [flags] FILE... [-- BPF-FILTER]",
		Short: "Check captures for a CI gate: exit 1 if any finding is at or above --fail-on, 2 on bad input",
		Long: `lint analyzes each file on its own and prints one line per finding
(file#frame severity rule: message). Exit status: 0 no finding at or above
--fail-on, 1 at least one, 2 an input could not be read or the usage is wrong.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			args, opts.Flags.Filter = settings.FilesAndFilter(cmd, args, opts.Flags.Filter)
			if err := settings.CheckDistinctFiles(args); err != nil {
				return cli.BadInput(err)
			}
			cfg, err := opts.Flags.Config()
			if err != nil {
				return cli.BadInput(err)
			}
			if !cmd.Flags().Changed("fail-on") && opts.Flags.FileFailOn != "" {
				failOn = opts.Flags.FileFailOn
			}
			threshold, err := analyze.ParseSeverity(failOn)
			if err != nil {
				return cli.BadInput(fmt.Errorf("--fail-on: %w", err))
			}
			opts.Config, opts.Paths, opts.FailOn = cfg, args, threshold
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	opts.Flags.Register(cmd.Flags(), "text")
	cmd.Flags().StringVar(&failOn, "fail-on", "error", "lowest severity that fails the run: info, warning or error")
	return cmd
}

// Run lints opts.Paths one by one into one output. Exit: 2 when an input
// could not be read or the output could not be written, else 1 when a
// finding reached opts.FailOn.
func Run(opts *Options) error {
	out := render.NewWriter(opts.IO.Out)
	batch := render.Lookup(opts.Flags.Format).NewBatch(out, render.Options{Color: opts.IO.ColorEnabled(opts.Flags.Color), Width: opts.IO.TerminalWidth()})
	failed, bad := 0, 0
	for _, path := range opts.Paths {
		src, err := capture.OpenFiles([]string{path}, capture.FileOptions{Filter: opts.Flags.Filter, Stdin: opts.IO.In})
		if err != nil {
			bad++
			fmt.Fprintln(opts.IO.ErrOut, "connlint:", cli.OneLine(err.Error()))
			continue
		}
		r := batch.File(path, src.Inputs())
		counter := &severityCounter{next: r, threshold: opts.FailOn}
		res := pipeline.Run(src, pipeline.Options{
			Config: opts.Config, Assembler: opts.Flags.AssemblerOptions(), Sink: counter,
			Stop: func() bool { return out.Err() != nil },
		})
		src.Close()
		if err := r.Finish(res); err != nil {
			return cli.WriteFailed(err)
		}
		failed += counter.n
		if res.ReadErr != nil {
			bad++
			fmt.Fprintln(opts.IO.ErrOut, "connlint:", cli.OneLine(res.ReadErr.Error()))
		}
	}
	if err := batch.Close(); err != nil {
		return cli.WriteFailed(err)
	}
	switch {
	case bad > 0:
		return cli.BadInput(fmt.Errorf("%d of %d inputs could not be read completely", bad, len(opts.Paths)))
	case failed > 0:
		return &cli.ExitError{Code: cli.ExitFindings}
	}
	return nil
}

// severityCounter passes everything on and counts findings at or above threshold.
type severityCounter struct {
	next      analyze.Sink
	threshold analyze.Severity
	n         int
}

func (s *severityCounter) Finding(f *analyze.Finding) {
	if f.Severity >= s.threshold {
		s.n++
	}
	s.next.Finding(f)
}

func (s *severityCounter) Connection(c *analyze.ConnReport) { s.next.Connection(c) }
