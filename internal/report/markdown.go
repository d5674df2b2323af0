package report

import (
	"regexp"
	"strings"
)

// markdown renders the subset of Markdown the rule pages use (headings,
// paragraphs, lists, pipe tables, fenced and indented code, `code`,
// **bold**, *emphasis*, links) to simple HTML. Links to other rule pages
// (other-rule.md) become in-page anchors when that page is embedded
// (known), else plain text; other links are shown as text with their
// address, never as live links: the page makes no network request, not
// even on a click.
func markdown(src string, known map[string]bool) string {
	var b strings.Builder
	lines := strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n")
	var para []string
	flushPara := func() {
		if len(para) > 0 {
			b.WriteString("<p>" + inline(strings.Join(para, " "), known) + "</p>\n")
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trim := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trim, "```"):
			flushPara()
			var code []string
			for i++; i < len(lines) && !strings.HasPrefix(strings.TrimSpace(lines[i]), "```"); i++ {
				code = append(code, lines[i])
			}
			b.WriteString("<pre>" + esc(strings.Join(code, "\n")) + "</pre>\n")
		case strings.HasPrefix(line, "    ") && len(para) == 0:
			var code []string
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "    ") || strings.TrimSpace(lines[i]) == ""); i++ {
				code = append(code, strings.TrimPrefix(lines[i], "    "))
			}
			i--
			b.WriteString("<pre>" + esc(strings.TrimRight(strings.Join(code, "\n"), "\n ")) + "</pre>\n")
		case trim == "":
			flushPara()
		case strings.HasPrefix(trim, "#"):
			flushPara()
			level := len(trim) - len(strings.TrimLeft(trim, "#"))
			h := min(level+2, 6) // the page's own h1/h2 come first
			b.WriteString("<h" + string(rune('0'+h)) + ">" + inline(strings.TrimSpace(trim[level:]), known) + "</h" + string(rune('0'+h)) + ">\n")
		case strings.HasPrefix(trim, "|"):
			flushPara()
			b.WriteString("<table>")
			row := 0
			for ; i < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i]), "|"); i++ {
				cells := strings.Split(strings.Trim(strings.TrimSpace(lines[i]), "|"), "|")
				if isRule(cells) {
					continue
				}
				tag := "td"
				if row == 0 {
					tag = "th"
				}
				b.WriteString("<tr>")
				for _, c := range cells {
					b.WriteString("<" + tag + ">" + inline(strings.TrimSpace(c), known) + "</" + tag + ">")
				}
				b.WriteString("</tr>")
				row++
			}
			i--
			b.WriteString("</table>\n")
		case listItem.MatchString(line):
			flushPara()
			ordered := orderedItem.MatchString(line)
			tag := "ul"
			if ordered {
				tag = "ol"
			}
			b.WriteString("<" + tag + ">")
			var item []string
			flushItem := func() {
				if len(item) > 0 {
					b.WriteString("<li>" + inline(strings.Join(item, " "), known) + "</li>")
					item = nil
				}
			}
			for ; i < len(lines); i++ {
				l := lines[i]
				if m := listItem.FindStringSubmatch(l); m != nil {
					flushItem()
					item = append(item, m[2])
				} else if strings.TrimSpace(l) != "" && strings.HasPrefix(l, "  ") {
					item = append(item, strings.TrimSpace(l))
				} else {
					break
				}
			}
			flushItem()
			i--
			b.WriteString("</" + tag + ">\n")
		default:
			para = append(para, trim)
		}
	}
	flushPara()
	return b.String()
}

var (
	listItem    = regexp.MustCompile(`^\s{0,3}([-*+]|\d+\.)\s+(.*)$`)
	orderedItem = regexp.MustCompile(`^\s{0,3}\d+\.\s`)
	codeSpan    = regexp.MustCompile("`([^`]+)`")
	bold        = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	emph        = regexp.MustCompile(`(^|[\s(])\*([^*\s][^*]*)\*`)
	link        = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
)

func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(strings.TrimSpace(c), ":-") != "" {
			return false
		}
	}
	return true
}

// inline renders code spans, bold, emphasis and links of one escaped line.
// Code spans are cut out first so their content stays literal.
func inline(s string, known map[string]bool) string {
	var spans []string
	s = codeSpan.ReplaceAllStringFunc(s, func(m string) string {
		spans = append(spans, "<code>"+esc(m[1:len(m)-1])+"</code>")
		return "\x00" + string(rune('A'+len(spans)-1)) + "\x00"
	})
	s = esc(s)
	s = link.ReplaceAllStringFunc(s, func(m string) string {
		p := link.FindStringSubmatch(m)
		text, url := p[1], p[2]
		if id, ok := strings.CutSuffix(url, ".md"); ok && !strings.Contains(id, "/") && !strings.Contains(id, ":") {
			if known[id] {
				return `<a href="#rule-` + id + `">` + text + `</a>`
			}
			return text
		}
		if strings.HasPrefix(url, "#") {
			return text
		}
		return text + ` <span class="url">(` + url + `)</span>`
	})
	s = bold.ReplaceAllString(s, "<strong>$1</strong>")
	s = emph.ReplaceAllString(s, "$1<em>$2</em>")
	for i, sp := range spans {
		s = strings.Replace(s, "\x00"+string(rune('A'+i))+"\x00", sp, 1)
	}
	return s
}
