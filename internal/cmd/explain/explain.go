// Package explain is the `connlint explain RULE` command: a rule's page.
package explain

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/docs"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/iostreams"
)

// Options are the explain command's dependencies and arguments.
type Options struct {
	IO   *iostreams.IOStreams
	Rule string
}

// NewCmdExplain builds the command; runF, when not nil, replaces the run.
func NewCmdExplain(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	return &cobra.Command{
		Use:   "explain RULE",
		Short: "Print a rule's page: what it means, why it matters, an example, how to fix and silence it",
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return settings.RuleCompletions(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := settings.ResolveRule(args[0])
			if err != nil {
				return cli.BadInput(err)
			}
			opts.Rule = id
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
}

// Run prints the page of opts.Rule.
func Run(opts *Options) error {
	page, err := docs.RulePage(opts.Rule)
	if err != nil {
		return cli.BadInput(fmt.Errorf("rule %s has no page", opts.Rule))
	}
	if _, err := io.WriteString(opts.IO.Out, page); err != nil {
		return cli.WriteFailed(err)
	}
	return nil
}
