package report_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/connlint/connlint/internal/report"
)

// TestPageStructure parses the page and checks its structure: one diagram
// per drawn finding, the evidence frames labelled, every SVG with a text
// alternative, and no external address in any src or href (only in-page
// anchors, such as the rule page links).
func TestPageStructure(t *testing.T) {
	for _, name := range []string{"nagle-delayed-ack", "dumb-proxy-keepalive", "port-churn", "pipelined-unsafe-method"} {
		t.Run(name, func(t *testing.T) {
			in := buildInput(t, labPath(name))
			var buf bytes.Buffer
			if err := report.Write(&buf, in); err != nil {
				t.Fatal(err)
			}
			if buf.Len() > 3<<20 {
				t.Errorf("page is %d bytes, want under 3 MB", buf.Len())
			}
			doc, err := html.Parse(bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			var diagrams, svgs, svgAlt int
			var svgText strings.Builder
			ruleLinks := 0
			var walk func(n *html.Node, inSVG bool)
			walk = func(n *html.Node, inSVG bool) {
				if n.Type == html.ElementNode {
					for _, a := range n.Attr {
						if a.Key == "src" || a.Key == "href" {
							if !strings.HasPrefix(a.Val, "#") {
								t.Errorf("<%s %s=%q>: the page must not refer outside itself", n.Data, a.Key, a.Val)
							}
							if strings.HasPrefix(a.Val, "#rule-") {
								ruleLinks++
							}
						}
						if n.Data == "figure" && a.Key == "class" && a.Val == "diagram" {
							diagrams++
						}
					}
					if n.Data == "svg" {
						svgs++
						var title, desc bool
						for c := n.FirstChild; c != nil; c = c.NextSibling {
							title = title || c.Type == html.ElementNode && c.Data == "title"
							desc = desc || c.Type == html.ElementNode && c.Data == "desc"
						}
						if title && desc {
							svgAlt++
						}
						inSVG = true
					}
				}
				if n.Type == html.TextNode && inSVG {
					svgText.WriteString(n.Data + "\n")
				}
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c, inSVG)
				}
			}
			walk(doc, false)
			drawn := report.Drawn(in)
			if diagrams != len(drawn) {
				t.Errorf("%d diagrams, want one per drawn finding (%d)", diagrams, len(drawn))
			}
			if svgs == 0 || svgAlt != svgs {
				t.Errorf("%d of %d SVGs have <title> and <desc>", svgAlt, svgs)
			}
			if ruleLinks < len(drawn) {
				t.Errorf("%d rule page links, want at least one per drawn finding (%d)", ruleLinks, len(drawn))
			}
			for _, f := range drawn {
				if !report.IsLadder(f) {
					continue
				}
				for _, fr := range f.Frames {
					if !strings.Contains(svgText.String(), fmt.Sprintf("#%d ", fr.Frame)) {
						t.Errorf("%s: evidence frame %d not labelled on an arrow", f.Rule, fr.Frame)
					}
				}
			}
		})
	}
}

// TestDrawnIsBounded: at most MaxDiagramsPerRule diagrams per rule, worst
// first, and the rest counted.
func TestDrawnIsBounded(t *testing.T) {
	in := buildInput(t, labPath("nagle-delayed-ack"))
	in.Options.MaxDiagramsPerRule = 3
	drawn := report.Drawn(in)
	if len(drawn) != 3 {
		t.Fatalf("drawn %d, want 3", len(drawn))
	}
	for i := 1; i < len(drawn); i++ {
		if drawn[i].Duration > drawn[i-1].Duration {
			t.Errorf("not worst first: %v then %v", drawn[i-1].Duration, drawn[i].Duration)
		}
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, in); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("and %d more nagle-delayed-ack finding(s)", len(in.Findings)-3); !strings.Contains(buf.String(), want) {
		t.Errorf("page lacks %q", want)
	}
}
