// Package root assembles connlint's command tree.
package root

import (
	"github.com/spf13/cobra"

	"github.com/connlint/connlint/internal/cmd/analyze"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/explain"
	"github.com/connlint/connlint/internal/cmd/lint"
	reportcmd "github.com/connlint/connlint/internal/cmd/report"
	"github.com/connlint/connlint/internal/cmd/rules"
	runcmd "github.com/connlint/connlint/internal/cmd/run"
	"github.com/connlint/connlint/internal/cmd/sniff"
	"github.com/connlint/connlint/internal/cmd/version"
)

// NewCmdRoot builds the root command with every subcommand.
func NewCmdRoot(f *cli.Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "connlint",
		Short: "Find HTTP/1.x connection-management mistakes in packet captures",
		Long: `connlint rebuilds every TCP connection in a capture (or on a live interface),
parses the HTTP/1.x conversation in it and reports connection-management
mistakes — delayed-ACK stalls, Nagle interactions, unsafe pipelining,
Content-Length truncation, dumb proxies forwarding Keep-Alive, RST data loss,
port churn — each with the Wireshark frame numbers that prove it.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `connlint version` prints
		Version: f.Version,
	}
	root.SetVersionTemplate("connlint {{.Version}} (" + version.LibpcapStatus() + ")\n")
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.AddCommand(
		analyze.NewCmdAnalyze(f, nil),
		lint.NewCmdLint(f, nil),
		sniff.NewCmdSniff(f, nil),
		runcmd.NewCmdRun(f, nil),
		reportcmd.NewCmdReport(f, nil),
		rules.NewCmdRules(f, nil),
		explain.NewCmdExplain(f, nil),
		version.NewCmdVersion(f, nil),
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return cli.BadInput(err) })
	registerCompletions(root)
	strictCompletion(root)
	return root
}
