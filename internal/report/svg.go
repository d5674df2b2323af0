package report

import (
	"fmt"
	"html"
	"strings"
)

// svg is a tiny SVG writer: just enough elements for the diagrams, every
// text escaped, numbers rounded to 0.1 px so pages stay small.
type svg struct {
	b strings.Builder
}

func esc(s string) string { return html.EscapeString(s) }

// n formats a coordinate.
func n(f float64) string {
	s := fmt.Sprintf("%.1f", f)
	s = strings.TrimSuffix(s, ".0")
	if s == "-0" {
		return "0"
	}
	return s
}

// open starts an <svg> with its text alternative: title (a name) and desc
// (what the picture shows, for screen readers and text browsers).
func (s *svg) open(w, h float64, class, title, desc string) {
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" class="%s" width="%s" height="%s" viewBox="0 0 %s %s" role="img">`,
		class, n(w), n(h), n(w), n(h))
	fmt.Fprintf(&s.b, "<title>%s</title><desc>%s</desc>", esc(title), esc(desc))
}

func (s *svg) close() { s.b.WriteString("</svg>") }

func (s *svg) raw(str string) { s.b.WriteString(str) }

func (s *svg) line(x1, y1, x2, y2 float64, class string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s"/>`, n(x1), n(y1), n(x2), n(y2), class)
}

func (s *svg) arrow(x1, y1, x2, y2 float64, class, marker string) {
	fmt.Fprintf(&s.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" class="%s" marker-end="url(#%s)"/>`, n(x1), n(y1), n(x2), n(y2), class, marker)
}

func (s *svg) rect(x, y, w, h float64, class string) {
	if w < 0.5 {
		w = 0.5
	}
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" class="%s"/>`, n(x), n(y), n(w), n(h), class)
}

// rectTitled is a rect with a tooltip (and an accessible name).
func (s *svg) rectTitled(x, y, w, h float64, class, title string) {
	if w < 0.5 {
		w = 0.5
	}
	fmt.Fprintf(&s.b, `<rect x="%s" y="%s" width="%s" height="%s" class="%s"><title>%s</title></rect>`, n(x), n(y), n(w), n(h), class, esc(title))
}

func (s *svg) text(x, y float64, anchor, class, str string) {
	fmt.Fprintf(&s.b, `<text x="%s" y="%s" text-anchor="%s" class="%s">%s</text>`, n(x), n(y), anchor, class, esc(str))
}

func (s *svg) path(d, class string) {
	fmt.Fprintf(&s.b, `<path d="%s" class="%s"/>`, d, class)
}

// zigzag draws the broken-axis mark across [x1, x2] between y1 and y2.
func (s *svg) zigzag(x1, x2, y1, y2 float64) {
	var d strings.Builder
	mid := (y1 + y2) / 2
	fmt.Fprintf(&d, "M%s %s", n(x1), n(mid))
	up := true
	for x := x1 + 6; x <= x2; x += 6 {
		y := mid - 3
		if !up {
			y = mid + 3
		}
		fmt.Fprintf(&d, " L%s %s", n(x), n(y))
		up = !up
	}
	s.path(d.String(), "zig")
}

// arrowMarker defines the arrowhead of one diagram (ids are per diagram:
// several SVGs share one document).
func (s *svg) arrowMarker(id string) {
	fmt.Fprintf(&s.b, `<defs><marker id="%s" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" class="head"/></marker>`+
		`<pattern id="%s-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" class="hatchbg"/><line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>`, id, id)
}

func (s *svg) String() string { return s.b.String() }
