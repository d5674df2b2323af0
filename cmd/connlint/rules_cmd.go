package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/docs"
)

func newRulesCmd(stdout io.Writer) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "List the rule catalogue: id, severity, one-line description",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format {
			case "json":
				type row struct {
					ID       string `json:"id"`
					Severity string `json:"severity"`
					Title    string `json:"title"`
				}
				rows := []row{}
				for _, r := range suite.Rules {
					rows = append(rows, row{r.ID, r.Severity.String(), r.Title})
				}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "text":
				tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSEVERITY\tDESCRIPTION")
				for _, r := range suite.Rules {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Severity, r.Title)
				}
				return tw.Flush()
			}
			return &exitError{code: exitBadInput, err: fmt.Errorf("unknown --format %q (want text or json)", format)}
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}

func newExplainCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "explain RULE",
		Short: "Print a rule's page: what it means, why it matters, an example, how to fix and silence it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if suite.Lookup(args[0]) == nil {
				return &exitError{code: exitBadInput, err: fmt.Errorf("unknown rule %q (connlint rules lists them)", args[0])}
			}
			page, err := docs.RulePage(args[0])
			if err != nil {
				return &exitError{code: exitBadInput, err: fmt.Errorf("rule %s has no page", args[0])}
			}
			_, err = io.WriteString(stdout, page)
			return err
		},
	}
}
