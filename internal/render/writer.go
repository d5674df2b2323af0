package render

import (
	"io"
	"sync/atomic"
)

// Writer remembers the first error its underlying writer returned and
// writes nothing after it (the sticky error of bufio.Writer), so renderers
// can print freely and a full disk is still reported once, at the end,
// instead of being lost.
//
// Err may be called from another goroutine than the one writing (the
// pipeline asks it to stop reading while the output is written by the
// aggregator goroutine): the error is published atomically.
type Writer struct {
	w   io.Writer
	err atomic.Pointer[error]
}

// NewWriter wraps w; a *Writer is returned as it is, so every layer shares
// one error.
func NewWriter(w io.Writer) *Writer {
	if ew, ok := w.(*Writer); ok {
		return ew
	}
	return &Writer{w: w}
}

func (w *Writer) Write(p []byte) (int, error) {
	if e := w.err.Load(); e != nil {
		return 0, *e
	}
	n, err := w.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err.Store(&err)
	}
	return n, err
}

// Err is the first write error, nil when none.
func (w *Writer) Err() error {
	if e := w.err.Load(); e != nil {
		return *e
	}
	return nil
}
