package settings

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/connlint/connlint/reassembly/tls"
)

// maxKeyLogWarnings bounds the warnings about one key log: a file that is
// not a key log at all would otherwise print a line per line.
const maxKeyLogWarnings = 10

// KeyLog reads the --keylog file: nil, nil when none was given. Its
// malformed lines are reported on warn, one line each naming file:line
// (never the line's content, which may hold key material); every other
// line is still used. A file that cannot be read is an error.
func (f *Analysis) KeyLog(warn io.Writer) (*tls.KeyLog, error) {
	if f.keylog == "" {
		return nil, nil
	}
	k, err := tls.ReadKeyLogFile(f.keylog)
	if k == nil {
		return nil, fmt.Errorf("--keylog: %w", err)
	}
	WarnKeyLog(warn, err)
	return k, nil
}

// KeyLogPath is the --keylog file, "" when none.
func (f *Analysis) KeyLogPath() string { return f.keylog }

// WarnKeyLog writes the problems of a key log (tls.KeyLog.Read's joined
// error) to w, one "connlint: warning:" line each, at most
// maxKeyLogWarnings and then how many more.
func WarnKeyLog(w io.Writer, err error) {
	if err == nil {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for i, e := range errs {
		if i == maxKeyLogWarnings {
			fmt.Fprintf(w, "connlint: warning: %d more unusable key log lines\n", len(errs)-i)
			return
		}
		msg := strings.ReplaceAll(e.Error(), "\n", " ")
		if errors.Is(e, tls.ErrKeyLogLine) {
			msg += " (line skipped)"
		}
		fmt.Fprintf(w, "connlint: warning: %s\n", msg)
	}
}
