package render

import (
	"fmt"
	"io"

	"github.com/connlint/connlint/analyze"
)

// liveRenderer prints each finding the moment it is reported, then the
// summary (sniff on a terminal). Findings come in the order they are found,
// which for most rules is the order connections end: the first line says so.
type liveRenderer struct {
	w       *Writer
	wrap    *wrapWriter
	p       palette
	names   []string
	started bool
}

func (l *liveRenderer) Finding(f *analyze.Finding) {
	if l.w.Err() != nil {
		return
	}
	l.start()
	t := &textRenderer{w: l.w, p: l.p, names: l.names}
	conn := ""
	if f.Conn.ID != 0 {
		conn = fmt.Sprintf("conn %d %s → %s ", f.Conn.ID, f.Conn.Client, f.Conn.Server)
	}
	fmt.Fprintf(l.w, "%s %s\n", ts(f.Time), conn)
	t.finding(f, "  ")
}

func (l *liveRenderer) Connection(*analyze.ConnReport) {}

func (l *liveRenderer) start() {
	if !l.started {
		l.started = true
		fmt.Fprintln(l.w, l.p.dim("findings as they are found, in the order connections end"))
	}
}

func (l *liveRenderer) Finish(res *Result) error {
	l.start()
	writeTextSummary(l.w, l.p, res)
	l.wrap.flush()
	return l.w.Err()
}

// textBatch is lint's text: golangci-lint style lines, one per finding,
// file by file.
type textBatch struct {
	w    *Writer
	wrap *wrapWriter
	p    palette
}

func newTextBatch(w io.Writer, o Options) Batch {
	out, wrap := wrapped(w, o.Width)
	return &textBatch{w: out, wrap: wrap, p: newPalette(o.Color)}
}

func (b *textBatch) File(path string, _ []string) Renderer {
	return &lintRenderer{w: b.w, p: b.p, path: path}
}

func (b *textBatch) Close() error {
	b.wrap.flush()
	return b.w.Err()
}

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
	analyze.SortFindings(l.findings)
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
