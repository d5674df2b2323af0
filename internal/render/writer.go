package render

import "io"

// Writer remembers the first error its underlying writer returned and
// writes nothing after it (the sticky error of bufio.Writer), so renderers
// can print freely and a full disk is still reported once, at the end,
// instead of being lost.
type Writer struct {
	w   io.Writer
	err error
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
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return n, err
}

// Err is the first write error, nil when none.
func (w *Writer) Err() error { return w.err }
