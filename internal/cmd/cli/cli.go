// Package cli is the contract every connlint command shares: the Factory
// that hands a command its dependencies, and the exit codes with the one-line
// error that goes with them.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/connlint/connlint/internal/iostreams"
)

// Exit codes, in one place (like gh's internal/ghcmd).
const (
	ExitOK       = 0
	ExitFindings = 1 // lint: a finding at or above --fail-on
	ExitBadInput = 2 // unreadable/corrupt input, bad usage, output that could not be written
)

// Factory holds what commands need from the process, so tests can replace it.
type Factory struct {
	IO      *iostreams.IOStreams
	Version string // set by the Makefile through -ldflags
}

// ExitError carries an exit code through cobra; its message, when there is
// one, is printed as one line.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return ""
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// BadInput is exit 2 with err's message: unreadable input or bad usage.
func BadInput(err error) error { return &ExitError{Code: ExitBadInput, Err: err} }

// WriteFailed is exit 2 for output that could not be written (a full disk,
// a closed pipe): the output is incomplete, so the run must not look clean.
func WriteFailed(err error) error {
	return &ExitError{Code: ExitBadInput, Err: fmt.Errorf("writing output: %w", err)}
}

// Exit maps what the root command returned to an exit code, printing its
// message on errOut as one line.
func Exit(err error, errOut io.Writer) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(errOut, "connlint:", OneLine(ee.Err.Error()))
		}
		return ee.Code
	}
	// cobra usage errors (unknown command, bad args)
	fmt.Fprintln(errOut, "connlint:", OneLine(withSuggestions(err.Error())))
	return ExitBadInput
}

// withSuggestions folds cobra's "\n\nDid you mean this?\n\tanalyze\n"
// into the first line, which is the only one printed: the suggestion is the
// useful part of the message.
func withSuggestions(msg string) string {
	first, rest, ok := strings.Cut(msg, "\n\nDid you mean this?\n")
	if !ok {
		return msg
	}
	var names []string
	for _, l := range strings.Split(rest, "\n") {
		if n := strings.TrimSpace(l); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return first
	}
	return first + "; did you mean " + strings.Join(names, " or ") + "?"
}

// OneLine keeps the first line of a message, marking that more was cut.
func OneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
