// Package version is the `connlint version` command.
package version

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
)

// Options are the version command's dependencies.
type Options struct {
	IO      *iostreams.IOStreams
	Version string
}

// NewCmdVersion builds the command; runF, when not nil, replaces the run.
func NewCmdVersion(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Version: f.Version}
	return &cobra.Command{
		Use:   "version",
		Short: "Print connlint's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
}

// Run prints the version and whether live capture is available.
func Run(opts *Options) error {
	if _, err := fmt.Fprintf(opts.IO.Out, "connlint %s (%s)\n", opts.Version, LibpcapStatus()); err != nil {
		return cli.WriteFailed(err)
	}
	return nil
}

// LibpcapStatus says whether this binary can capture live.
func LibpcapStatus() string {
	if haveLibpcap {
		return "with libpcap"
	}
	return "built without libpcap: sniff and BPF filters are unavailable"
}
