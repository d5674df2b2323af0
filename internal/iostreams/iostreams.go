// Package iostreams holds a command's standard streams and what is known
// about them (terminal or not, NO_COLOR), so that output defaults which
// depend on a terminal can be decided — and tested — without real TTYs
// (the shape of gh's pkg/iostreams).
package iostreams

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
	"golang.org/x/term"
)

// IOStreams are the streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdoutTTY, stderrTTY bool
	noColor              bool // NO_COLOR is set (https://no-color.org)
	// width is Out's terminal width when set by a test; 0 asks the terminal
	width int
}

// New wraps the given streams; a stream that is an *os.File on a terminal
// counts as a TTY, and NO_COLOR is read from the environment.
func New(in io.Reader, out, errOut io.Writer) *IOStreams {
	_, noColor := os.LookupEnv("NO_COLOR")
	return &IOStreams{In: in, Out: out, ErrOut: errOut, stdoutTTY: isTerminal(out), stderrTTY: isTerminal(errOut), noColor: noColor}
}

// System is the process's own standard streams.
func System() *IOStreams { return New(os.Stdin, os.Stdout, os.Stderr) }

// Test returns streams over buffers (stdin, stdout, stderr), none a TTY and
// NO_COLOR unset; tests flip them with the Set methods.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// IsStdoutTTY says whether Out is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY says whether ErrOut is a terminal (progress bars go there).
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// SetStdoutTTY overrides terminal detection of Out (tests).
func (s *IOStreams) SetStdoutTTY(tty bool) { s.stdoutTTY = tty }

// SetStderrTTY overrides terminal detection of ErrOut (tests).
func (s *IOStreams) SetStderrTTY(tty bool) { s.stderrTTY = tty }

// TerminalWidth is the width in columns of Out when it is a terminal, 0
// when it is not (output to pipes and files is never wrapped) or when the
// size cannot be read.
func (s *IOStreams) TerminalWidth() int {
	if !s.stdoutTTY {
		return 0
	}
	if s.width > 0 {
		return s.width
	}
	f, ok := s.Out.(*os.File)
	if !ok {
		return 0
	}
	w, _, err := term.GetSize(int(f.Fd()))
	if err != nil || w <= 0 {
		return 0
	}
	return w
}

// SetTerminalWidth sets Out's width as a terminal would report it (tests).
func (s *IOStreams) SetTerminalWidth(w int) { s.width = w }

// SetNoColor says whether NO_COLOR is set (tests).
func (s *IOStreams) SetNoColor(on bool) { s.noColor = on }

// ColorEnabled decides colour on Out for a --color mode the way users
// expect: "always" and "never" are obeyed; "auto" means colour only on a
// terminal and never when NO_COLOR is set.
func (s *IOStreams) ColorEnabled(mode string) bool {
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	return !s.noColor && s.stdoutTTY
}
