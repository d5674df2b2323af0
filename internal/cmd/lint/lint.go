// Package lint is the `connlint lint` command: a CI gate that analyses each
// file on its own and fails on findings at or above --fail-on.
package lint

import (
	"fmt"
	"strings"

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

// Options are the lint command's dependencies and flag values.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
	Flags   settings.Analysis
	Output  settings.Output
	Config  *analyze.Config
	Paths   []string
	// FailOn is the lowest severity that fails the run (from --fail-on, else
	// the config file, else error); 0 for none.
	FailOn analyze.Severity
	Keys   *tls.KeyLog // --keylog; nil for none
}

// NewCmdLint builds the command; runF, when not nil, replaces the run.
func NewCmdLint(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
	var failOn string
	cmd := &cobra.Command{
		Use:   "lint [flags] FILE... [-- BPF-FILTER]",
		Short: "Check captures for a CI gate: exit 1 if any finding is at or above --fail-on, 2 on bad input",
		Long: `lint analyzes each file on its own and prints one line per finding
(file#frame severity rule: message). Exit status: 0 no finding at or above
--fail-on, 1 at least one, 2 an input could not be read or the usage is wrong.
--fail-on none never fails on findings. The text report ends with one line:
files, findings by severity and what failed the gate.`,
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
			threshold, err := ParseFailOn(failOn)
			if err != nil {
				return cli.BadInput(err)
			}
			opts.Config, opts.Paths, opts.FailOn = cfg, args, threshold
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
	cmd.Flags().StringVar(&failOn, "fail-on", DefaultFailOn, FailOnHelp)
	return cmd
}

// DefaultFailOn is lint's (and run's) gate when neither --fail-on nor the
// config file sets one.
const DefaultFailOn = "error"

// FailOnHelp is the --fail-on flag's usage line.
const FailOnHelp = "lowest severity that fails the run: info, warning, error or none"

// ParseFailOn reads a --fail-on value; "none" is 0: no finding fails.
func ParseFailOn(s string) (analyze.Severity, error) {
	if s == "none" {
		return 0, nil
	}
	v, err := analyze.ParseSeverity(s)
	if err != nil {
		return 0, fmt.Errorf("--fail-on: %w (or none)", err)
	}
	return v, nil
}

// Run lints opts.Paths one by one into one output. Exit: 2 when an input
// could not be read or the output could not be written, else 1 when a
// finding reached opts.FailOn.
func Run(opts *Options) error {
	g, err := opts.Output.Gate(&opts.Flags)
	if err != nil {
		return cli.BadInput(err)
	}
	w, done, err := opts.Output.Open(opts.IO.Out)
	if err != nil {
		return cli.BadInput(err)
	}
	out := render.NewWriter(w)
	width := opts.IO.TerminalWidth()
	if opts.Output.File != "" {
		width = 0 // a file is no terminal: no wrapping
	}
	color := opts.IO.ColorEnabled(opts.Flags.Color)
	if opts.Output.File != "" && opts.Flags.Color != "always" {
		color = false
	}
	batch := render.Lookup(opts.Flags.Format).NewBatch(out, render.Options{
		Color: color, Version: opts.Version, Config: opts.Config, FailOn: opts.FailOn, Info: g.Info,
		Width: width,
	})
	bad := 0
	for _, path := range opts.Paths {
		src, err := capture.OpenFiles([]string{path}, capture.FileOptions{Filter: opts.Flags.Filter, Stdin: opts.IO.In})
		if err != nil {
			bad++
			fmt.Fprintln(opts.IO.ErrOut, "connlint:", cli.OneLine(err.Error()))
			if es, ok := batch.(render.ErrorSink); ok {
				es.Unreadable(path, err)
			}
			continue
		}
		r := g.Wrap(batch.File(path, src.Inputs()))
		res := pipeline.Run(src, pipeline.Options{
			Config: opts.Config, Assembler: opts.Flags.AssemblerOptions(), Sink: r, Workers: opts.Flags.Workers,
			Stop: func() bool { return out.Err() != nil },
			Keys: opts.Keys, Warn: func(err error) { settings.WarnKeyLog(opts.IO.ErrOut, err) },
		})
		src.Close()
		if err := r.Finish(res); err != nil {
			done()
			return cli.WriteFailed(err)
		}
		if res.ReadErr != nil {
			bad++
			fmt.Fprintln(opts.IO.ErrOut, "connlint:", cli.OneLine(res.ReadErr.Error()))
		}
	}
	if err := g.Finish(); err != nil {
		done()
		return cli.BadInput(err)
	}
	err = batch.Close()
	if err == nil && opts.Flags.Format == "text" {
		render.WriteInfoText(out, g.Info)
		fmt.Fprintln(out, ClosingLine(len(opts.Paths), bad, g, opts.FailOn))
		err = out.Err()
	}
	if cerr := done(); err == nil {
		err = cerr
	}
	if err != nil {
		return cli.WriteFailed(err)
	}
	switch {
	case bad > 0:
		return cli.BadInput(fmt.Errorf("%d of %d inputs could not be read completely", bad, len(opts.Paths)))
	case g.Failing(opts.FailOn) > 0:
		return &cli.ExitError{Code: cli.ExitFindings}
	}
	return nil
}

// ClosingLine is the last line of lint's text: the files, the findings by
// severity and the gate's verdict, e.g.
//
//	2 files (1 unreadable), 3 findings (1 error, 2 warnings): failed: 1 at or above error
func ClosingLine(files, bad int, g *gate.Gate, failOn analyze.Severity) string {
	s := plural(files, "file")
	if bad > 0 {
		s += fmt.Sprintf(" (%d unreadable)", bad)
	}
	total := 0
	var parts []string
	for _, sev := range []analyze.Severity{analyze.Error, analyze.Warning, analyze.Info} {
		if n := g.Shown(sev); n > 0 {
			total += n
			word := sev.String()
			if sev != analyze.Info {
				word = plural(n, word)
			} else {
				word = fmt.Sprintf("%d info", n)
			}
			parts = append(parts, word)
		}
	}
	s += ", " + plural(total, "finding")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	switch n := g.Failing(failOn); {
	case bad > 0:
		s += ": failed: unreadable input"
		if n > 0 {
			s += fmt.Sprintf(", and %d at or above %s", n, failOn)
		}
	case failOn == 0:
		s += ": passed (--fail-on none)"
	case n > 0:
		s += fmt.Sprintf(": failed: %d at or above %s", n, failOn)
	default:
		s += fmt.Sprintf(": passed (none at or above %s)", failOn)
	}
	return s
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
