package render

import (
	"io"
	"regexp"
	"strings"
	"unicode/utf8"
)

// wrapWriter breaks the text report's lines at spaces to fit a terminal
// Width columns wide; a broken line continues indented four columns more
// than it started. Off a terminal (Width 0) nothing is wrapped, so pipes
// and files keep one finding line per line for grep.
type wrapWriter struct {
	w     io.Writer
	width int
	buf   []byte
}

// wrapped returns the renderer's writer: w itself, or a wrapWriter under
// it when width > 0 (the *wrapWriter is returned for flushing).
func wrapped(w io.Writer, width int) (*Writer, *wrapWriter) {
	if width <= 0 {
		return NewWriter(w), nil
	}
	ww := &wrapWriter{w: w, width: width}
	return NewWriter(ww), ww
}

func (ww *wrapWriter) Write(p []byte) (int, error) {
	ww.buf = append(ww.buf, p...)
	for {
		i := strings.IndexByte(string(ww.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(ww.buf[:i])
		ww.buf = ww.buf[i+1:]
		if _, err := io.WriteString(ww.w, strings.Join(wrapLine(line, ww.width), "\n")+"\n"); err != nil {
			return 0, err
		}
	}
}

// flush writes a last line without a newline (nil-safe).
func (ww *wrapWriter) flush() {
	if ww == nil || len(ww.buf) == 0 {
		return
	}
	line := string(ww.buf)
	ww.buf = nil
	io.WriteString(ww.w, strings.Join(wrapLine(line, ww.width), "\n"))
}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// visible is the number of columns s takes: runes, colour codes left out.
func visible(s string) int { return utf8.RuneCountInString(ansi.ReplaceAllString(s, "")) }

// wrapLine breaks line at spaces so that each piece fits width columns. A
// word too long for a line is broken after its commas (frame lists);
// anything still too long is left to overflow rather than cut.
func wrapLine(line string, width int) []string {
	if width <= 0 || visible(line) <= width {
		return []string{line}
	}
	indent := len(line) - len(strings.TrimLeft(line, " "))
	cont := strings.Repeat(" ", min(indent+4, width/2))
	type word struct {
		sep  int // spaces before it
		text string
	}
	var words []word
	sep := 0
	for _, t := range strings.Split(line[indent:], " ") {
		if t == "" {
			sep++
			continue
		}
		if visible(t) > width-len(cont) && strings.Contains(t, ",") {
			parts := strings.SplitAfter(t, ",")
			for i, part := range parts {
				if part == "" {
					continue
				}
				if i == 0 {
					words = append(words, word{sep + 1, part})
				} else {
					words = append(words, word{0, part})
				}
			}
		} else {
			words = append(words, word{sep + 1, t})
		}
		sep = 0
	}
	var out []string
	cur, curLen, empty := line[:indent], indent, true
	for _, wd := range words {
		l := visible(wd.text)
		switch {
		case empty:
			cur, curLen, empty = cur+wd.text, curLen+l, false
		case curLen+wd.sep+l <= width:
			cur += strings.Repeat(" ", wd.sep) + wd.text
			curLen += wd.sep + l
		default:
			out = append(out, cur)
			cur, curLen = cont+wd.text, len(cont)+l
		}
	}
	return append(out, cur)
}
