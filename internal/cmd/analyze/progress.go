package analyze

import (
	"github.com/schollz/progressbar/v3"

	"github.com/connlint/connlint/capture"
)

type progress struct {
	bar *progressbar.ProgressBar
	src interface{ BytesRead() int64 }
}

func (p *progress) tick() { _ = p.bar.Set64(p.src.BytesRead()) }
func (p *progress) done() { _ = p.bar.Finish(); _ = p.bar.Clear() }

// progressFor shows a bar on stderr for inputs over 32 MB when stderr is a terminal.
func progressFor(opts *Options, src capture.Source) *progress {
	br, ok := src.(interface{ BytesRead() int64 })
	if !opts.Progress || !ok || !opts.IO.IsStderrTTY() {
		return nil
	}
	size := capture.SizeOf(opts.Paths)
	if size < 32<<20 {
		return nil
	}
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(opts.IO.ErrOut), progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("reading"), progressbar.OptionThrottle(200e6), progressbar.OptionClearOnFinish())
	return &progress{bar: bar, src: br}
}
