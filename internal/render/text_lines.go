package render

import (
	"fmt"
	"io"

	"github.com/connlint/connlint/analyze"
)

// liveRenderer prints each finding the moment it is reported, then the
// summary (sniff on a terminal).
type liveRenderer struct {
	w *Writer
	p palette
}

func (l *liveRenderer) Finding(f *analyze.Finding) {
	if l.w.Err() != nil {
		return
	}
	t := &textRenderer{w: l.w, p: l.p}
	conn := ""
	if f.Conn.ID != 0 {
		conn = fmt.Sprintf("conn %d %s → %s ", f.Conn.ID, f.Conn.Client, f.Conn.Server)
	}
	fmt.Fprintf(l.w, "%s %s\n", ts(f.Time), conn)
	t.finding(f, "  ")
}

func (l *liveRenderer) Connection(*analyze.ConnReport) {}

func (l *liveRenderer) Finish(res *Result) error {
	writeTextSummary(l.w, l.p, res)
	return l.w.Err()
}

// textBatch is lint's text: golangci-lint style lines, one per finding,
// file by file.
type textBatch struct {
	w *Writer
	p palette
}

func newTextBatch(w io.Writer, o Options) Batch {
	return &textBatch{w: NewWriter(w), p: newPalette(o.Color)}
}

func (b *textBatch) File(path string, _ []string) Renderer {
	return &lintRenderer{w: b.w, p: b.p, path: path}
}

func (b *textBatch) Close() error { return b.w.Err() }

// lintRenderer prints one file's findings as file#frame severity rule: message.
type lintRenderer struct {
	w        *Writer
	p        palette
	path     string
	findings []*analyze.Finding
}

func (l *lintRenderer) Finding(f *analyze.Finding)     { l.findings = append(l.findings, f) }
func (l *lintRenderer) Connection(*analyze.ConnReport) {}

func (l *lintRenderer) Finish(*Result) error {
	sortFindings(l.findings)
	for _, f := range l.findings {
		loc := l.path
		if len(f.Frames) > 0 {
			loc = fmt.Sprintf("%s#%d", l.path, f.Frames[0].Frame)
		}
		where := ""
		if f.Conn.ID != 0 {
			where = fmt.Sprintf(" (conn %d %s → %s", f.Conn.ID, f.Conn.Client, f.Conn.Server)
			if f.Transaction > 0 {
				where += fmt.Sprintf(", tx %d", f.Transaction)
			}
			where += ")"
		}
		fmt.Fprintf(l.w, "%s: %s %s: %s%s\n", loc, l.p.sev(f.Severity), l.p.bold(f.Rule), f.Message, l.p.dim(where))
	}
	return l.w.Err()
}
