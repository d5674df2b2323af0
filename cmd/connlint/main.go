// Command connlint reads packets (a live interface or pcap/pcapng files),
// rebuilds every TCP connection, parses the HTTP/1.x conversation in it and
// reports the connection-management mistakes that make HTTP slow or wrong.
//
// Data flows one way: capture → reassembly → analyze → this package, which
// owns flags, rendering and exit codes.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes, in one place (like gh's internal/ghcmd).
const (
	exitOK       = 0
	exitFindings = 1 // lint: a finding at or above --fail-on
	exitBadInput = 2 // unreadable/corrupt input, bad usage
)

// exitError carries an exit code through cobra; its message is printed as
// one line.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// version is set by the Makefile through -ldflags.
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is main without os.Exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "connlint:", oneLine(ee.err.Error()))
		}
		return ee.code
	}
	// cobra usage errors (unknown flag, bad args)
	fmt.Fprintln(stderr, "connlint:", oneLine(err.Error()))
	return exitBadInput
}

func oneLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i] + " …"
		}
	}
	return s
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
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
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newAnalyzeCmd(stdin, stdout, stderr),
		newLintCmd(stdin, stdout, stderr),
		newSniffCmd(stdout, stderr),
		newRulesCmd(stdout),
		newExplainCmd(stdout),
		&cobra.Command{
			Use:   "version",
			Short: "Print connlint's version",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				fmt.Fprintf(stdout, "connlint %s (%s)\n", version, libpcapStatus())
				return nil
			},
		},
	)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{code: exitBadInput, err: err}
	})
	return root
}
