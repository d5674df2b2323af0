// Package rules is the `connlint rules` command: the rule catalogue.
package rules

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/iostreams"
	"github.com/connlint/connlint/internal/render"
)

// Options are the rules command's dependencies and flag values.
type Options struct {
	IO     *iostreams.IOStreams
	Format string // text or json
}

// NewCmdRules builds the command; runF, when not nil, replaces the run.
func NewCmdRules(f *cli.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rule catalogue: id, severity, one-line description",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Format != "text" && opts.Format != "json" {
				return cli.BadInput(fmt.Errorf("unknown --format %q (want text or json)", opts.Format))
			}
			if runF != nil {
				return runF(opts)
			}
			return Run(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "text", "text or json")
	return cmd
}

// Run prints the catalogue.
func Run(opts *Options) error {
	out := render.NewWriter(opts.IO.Out)
	if opts.Format == "json" {
		type row struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
			Title    string `json:"title"`
		}
		rows := []row{}
		for _, r := range suite.Rules {
			rows = append(rows, row{r.ID, r.Severity.String(), r.Title})
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(rows)
	} else {
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSEVERITY\tDESCRIPTION")
		for _, r := range suite.Rules {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Severity, r.Title)
		}
		tw.Flush()
	}
	if err := out.Err(); err != nil {
		return cli.WriteFailed(err)
	}
	return nil
}
