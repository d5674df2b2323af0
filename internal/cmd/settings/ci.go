package settings

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/pflag"

	"github.com/connlint/connlint/internal/gate"
)

// Output are the flags of the commands that report a run (analyze, lint,
// run, sniff): where the report goes, baselines, and --verbose.
type Output struct {
	File          string // -o: the report goes here instead of stdout
	Baseline      string
	WriteBaseline string
	Verbose       bool
}

// RegisterOutput adds the output flags to fs.
func (o *Output) RegisterOutput(fs *pflag.FlagSet) {
	fs.StringVarP(&o.File, "output", "o", "", "write the report to this file instead of stdout (any --format)")
	fs.StringVar(&o.Baseline, "baseline", "", "report only findings not recorded in this baseline file (see --write-baseline)")
	fs.StringVar(&o.WriteBaseline, "write-baseline", "", "record this run's findings (after suppressions) in this file, for --baseline")
	fs.BoolVarP(&o.Verbose, "verbose", "v", false, "text: print every finding in full instead of grouping those repeated across connections; say which config file was used (stderr)")
}

// Open returns where the report goes: stdout, or the -o file, created (and
// truncated) now so that a bad path fails before any analysis. done closes
// the file; its error is a write error.
func (o *Output) Open(stdout io.Writer) (w io.Writer, done func() error, err error) {
	if o.File == "" || o.File == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(o.File)
	if err != nil {
		return nil, nil, fmt.Errorf("-o: %w", err)
	}
	return f, f.Close, nil
}

// Gate builds the run's gate from the analysis settings (config file,
// suppressions; Config must have run) and the baseline flags.
func (o *Output) Gate(a *Analysis) (*gate.Gate, error) {
	return gate.New(gate.Options{ConfigFile: a.ConfigFile, Suppress: a.Suppress, Baseline: o.Baseline, WriteBaseline: o.WriteBaseline})
}

// Announce prints, with --verbose, which config file the run uses.
func (o *Output) Announce(errOut io.Writer, a *Analysis) {
	if !o.Verbose {
		return
	}
	if a.ConfigFile == "" {
		fmt.Fprintln(errOut, "connlint: config: none")
		return
	}
	fmt.Fprintln(errOut, "connlint: config:", a.ConfigFile)
}
