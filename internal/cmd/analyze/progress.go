package analyze

import (
	"fmt"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/connlint/connlint/capture"
)

// progress drives a bar on stderr from the bytes the source has read. The
// rate is computed here, over the whole run and only after a second: the
// bar's own first sample divides the first buffered read by a few
// microseconds and showed "(188 GB/s)".
type progress struct {
	bar   *progressbar.ProgressBar
	src   interface{ BytesRead() int64 }
	size  int64
	start time.Time
	now   func() time.Time
}

// rateAfter is how long the bar runs before it shows a rate.
const rateAfter = time.Second

func (p *progress) tick() {
	n := p.src.BytesRead()
	p.bar.Describe(describe(n, p.size, p.now().Sub(p.start)))
	_ = p.bar.Set64(n)
}

func (p *progress) done() { _ = p.bar.Finish(); _ = p.bar.Clear() }

// describe is the bar's label: "reading 120.0 MB of 2.10 GB", with the
// rate ("(85.3 MB/s)") once there is a second of samples to divide by.
func describe(bytes, size int64, elapsed time.Duration) string {
	s := fmt.Sprintf("reading %s of %s", humanBytes(float64(bytes)), humanBytes(float64(size)))
	if elapsed < rateAfter || bytes <= 0 {
		return s
	}
	return fmt.Sprintf("%s (%s/s)", s, humanBytes(float64(bytes)/elapsed.Seconds()))
}

func humanBytes(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", n/1e6)
	}
	return fmt.Sprintf("%.0f kB", n/1e3)
}

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
	// no OptionShowBytes: it prints the bar's own rate; describe says the
	// bytes and a sane rate instead
	bar := progressbar.NewOptions64(size, progressbar.OptionSetWriter(opts.IO.ErrOut),
		progressbar.OptionSetDescription(describe(0, size, 0)), progressbar.OptionThrottle(200e6), progressbar.OptionClearOnFinish())
	return &progress{bar: bar, src: br, size: size, start: time.Now(), now: time.Now}
}
