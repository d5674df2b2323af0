package root

import (
	"fmt"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/settings"
	"github.com/connlint/connlint/internal/render"
)

// registerCompletions teaches the shells connlint's values: rule IDs for
// --enable, --disable, --set and explain, the formats of the render
// registry for --format, interface names for -i. It is done here, over the
// whole tree, so each command keeps only its own flags.
func registerCompletions(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		fs := cmd.Flags()
		if fs.Lookup("enable") != nil {
			formats := make([]string, 0, len(render.Formats))
			for _, f := range render.Formats {
				formats = append(formats, f.Name+"\t"+f.Help)
			}
			_ = cmd.RegisterFlagCompletionFunc("format", fixed(formats))
			_ = cmd.RegisterFlagCompletionFunc("enable", ruleList)
			_ = cmd.RegisterFlagCompletionFunc("disable", ruleList)
			_ = cmd.RegisterFlagCompletionFunc("set", ruleSeverity)
			_ = cmd.RegisterFlagCompletionFunc("color", fixed([]string{"auto", "always", "never"}))
		} else if fs.Lookup("format") != nil {
			_ = cmd.RegisterFlagCompletionFunc("format", fixed([]string{"text", "json"}))
		}
		if fs.Lookup("fail-on") != nil {
			_ = cmd.RegisterFlagCompletionFunc("fail-on", fixed([]string{"info", "warning", "error"}))
		}
		if fs.Lookup("interface") != nil {
			_ = cmd.RegisterFlagCompletionFunc("interface", interfaceNames)
		}
	}
}

func fixed(values []string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// ruleList completes the last ID of a comma-separated list.
func ruleList(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	head := ""
	if i := strings.LastIndexByte(toComplete, ','); i >= 0 {
		head = toComplete[:i+1]
	}
	var out []string
	for _, c := range settings.RuleCompletions() {
		out = append(out, head+c)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// ruleSeverity completes RULE=SEVERITY: the rule, then the severity.
func ruleSeverity(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if id, _, ok := strings.Cut(toComplete, "="); ok {
		return []string{id + "=info", id + "=warning", id + "=error"}, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, c := range settings.RuleCompletions() {
		id, _, _ := strings.Cut(c, "\t")
		out = append(out, id+"=")
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}

// interfaceNames lists the machine's network interfaces (net.Interfaces
// needs no privileges, unlike opening a capture).
func interfaceNames(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	out := []string{"any"}
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// strictCompletion makes `completion SHELL` refuse a shell cobra cannot
// write a script for (completion tcsh printed the help and exited 0).
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, s := range c.Commands() {
			shells = append(shells, s.Name())
		}
		c.Args = func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cli.BadInput(fmt.Errorf("completion: name a shell (%s)", strings.Join(shells, ", ")))
			}
			return cli.BadInput(fmt.Errorf("completion: unknown shell %q (want %s)", args[0], strings.Join(shells, ", ")))
		}
		c.RunE = func(*cobra.Command, []string) error { return nil }
	}
}
