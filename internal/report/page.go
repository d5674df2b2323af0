package report

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
)

// maxFramesShown bounds the frame list in a finding's heading.
const maxFramesShown = 12

// sevBadge shows a severity by shape and word, not by colour alone.
func sevBadge(s analyze.Severity) string {
	shape := map[analyze.Severity]string{analyze.Error: "■", analyze.Warning: "▲", analyze.Info: "●"}[s]
	return fmt.Sprintf(`<span class="sev sev-%s"><span aria-hidden="true">%s</span> %s</span>`, s, shape, s)
}

func frameList(fs []analyze.Frame, inputs int) string {
	var parts []string
	for i, f := range fs {
		if i == maxFramesShown {
			parts = append(parts, fmt.Sprintf("… (%d more)", len(fs)-i))
			break
		}
		if inputs > 1 {
			parts = append(parts, fmt.Sprintf("%d#%d", f.Input+1, f.Frame))
		} else {
			parts = append(parts, fmt.Sprint(f.Frame))
		}
	}
	return strings.Join(parts, ", ")
}

func connLabel(c analyze.ConnRef) string {
	return fmt.Sprintf("connection %d (%s → %s)", c.ID, c.Client, c.Server)
}

// Write writes the page.
func Write(w io.Writer, in *Input) error {
	bw := bufio.NewWriter(w)
	p := &page{in: in, o: in.Options.withDefaults(), w: bw}
	p.write()
	return bw.Flush()
}

type page struct {
	in   *Input
	o    Options
	w    *bufio.Writer
	nSVG int
}

func (p *page) pf(format string, a ...any) { fmt.Fprintf(p.w, format, a...) }
func (p *page) ps(s string)                { p.w.WriteString(s) }

func (p *page) id() string {
	p.nSVG++
	return fmt.Sprintf("d%d", p.nSVG)
}

func (p *page) write() {
	in := p.in
	gs := groups(in)
	title := "connlint report"
	if len(in.Inputs) > 0 {
		title += ": " + strings.Join(in.Inputs, ", ")
	}
	p.pf(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>%s</title><style>%s</style></head><body>`, esc(title), css)
	p.pf(`<header><h1>connlint report</h1><p class="inputs">Analysed: %s</p></header>`, esc(strings.Join(in.Inputs, ", ")))
	p.ps(`<nav aria-label="contents"><a href="#summary">Summary</a> <a href="#findings">Findings</a> <a href="#connections">Connections</a> <a href="#across">Across connections</a> <a href="#rules">Rule pages</a></nav>`)
	p.summary(gs)
	p.findings(gs)
	p.connections()
	p.across()
	p.rules(gs)
	p.ps(`<footer>Made by connlint. Frame numbers are 1-based, as Wireshark numbers them. Diagrams are drawn from a second read of the capture: time runs down, to scale except where the axis is broken (zig-zag) and where rows are spread to keep labels readable; the left column gives each segment's exact time.</footer></body></html>`)
}

func (p *page) summary(gs []*ruleGroup) {
	in, s := p.in, p.in.Summary
	if s == nil {
		s = &analyze.Summary{}
	}
	p.ps(`<section id="summary"><h2>Summary</h2><div class="cards">`)
	card := func(k, v string) {
		p.pf(`<div class="card"><div class="k">%s</div><div class="v">%s</div></div>`, esc(k), esc(v))
	}
	span := "—"
	if !s.Start.IsZero() {
		span = fmt.Sprintf("%s, %s", s.Start.UTC().Format(time.RFC3339), ms(s.End.Sub(s.Start)))
	}
	card("capture", span)
	card("packets", fmt.Sprint(s.Packets))
	card("connections", fmt.Sprintf("%d (%d HTTP, %d reused, %d reset, %d open at end)", s.Connections, s.HTTPConnections, s.Reused, s.Reset, s.OpenAtEnd))
	card("transactions", fmt.Sprintf("%d (per HTTP connection: min %d, median %d, max %d)", s.Transactions, s.TxPerConnMin, s.TxPerConnMedian, s.TxPerConnMax))
	total := 0
	for _, g := range gs {
		total += g.Count
	}
	card("findings", fmt.Sprintf("%d (error %d, warning %d, info %d)", total, s.FindingsBySeverity["error"], s.FindingsBySeverity["warning"], s.FindingsBySeverity["info"]))
	p.ps(`</div>`)

	// Capture gaps and drops: facts about the capture, not the endpoints.
	var notes []string
	add := func(v int64, format string) {
		if v > 0 {
			notes = append(notes, fmt.Sprintf(format, v))
		}
	}
	add(s.Gaps, "%d capture gap(s)")
	if s.GapBytes > 0 {
		notes = append(notes, fmt.Sprintf("%d byte(s) missing in gaps", s.GapBytes))
	}
	add(s.KernelDropped, "%d packet(s) dropped by the kernel")
	add(s.IfaceDropped, "%d packet(s) dropped by the interface")
	add(s.MidStream, "%d connection(s) started before the capture")
	add(s.EvictedFull, "%d connection(s) evicted (table full)")
	add(s.EvictedIdle, "%d connection(s) evicted (idle)")
	add(s.OutOfOrderDropped, "%d out-of-order byte(s) dropped (buffer cap)")
	add(s.Inconsistencies, "%d inconsistent retransmission(s)")
	add(s.Undecodable, "%d undecodable packet(s)")
	add(s.Suppressed, "%d finding(s) suppressed beyond the per-rule, per-connection cap")
	p.ps(`<h3>Capture gaps and drops</h3>`)
	if len(notes) == 0 {
		p.ps(`<p class="ok">None: every connection's bytes were captured, nothing was dropped.</p>`)
	} else {
		p.ps(`<ul class="notes">`)
		for _, n := range notes {
			p.pf(`<li>%s</li>`, esc(n))
		}
		p.ps(`</ul>`)
	}
	if in.ReadErr != nil {
		p.pf(`<p class="warn">Reading the inputs stopped early: %s</p>`, esc(in.ReadErr.Error()))
	}
	if in.EvidenceErr != nil {
		p.pf(`<p class="warn">The second read for the diagrams failed: %s</p>`, esc(in.EvidenceErr.Error()))
	}

	p.ps(`<h3>Findings by rule</h3>`)
	if len(gs) == 0 {
		p.ps(`<p class="ok">No findings.</p>`)
	} else {
		p.ps(`<table class="byrule"><thead><tr><th>severity</th><th>rule</th><th>findings</th><th>time lost</th><th>drawn</th></tr></thead><tbody>`)
		for _, g := range gs {
			lost := "—"
			if timeLostRules[g.Rule] {
				lost = ms(g.Lost)
			}
			p.pf(`<tr><td>%s</td><td><a href="#findings-%s">%s</a></td><td class="num">%d</td><td class="num">%s</td><td class="num">%d</td></tr>`,
				sevBadge(g.Severity), g.Rule, g.Rule, g.Count, lost, len(g.Drawn))
		}
		p.ps(`</tbody></table><p class="note">Time lost: the sum of the stalls, hangs and handshakes the timing findings measured, per rule (rules measure overlapping things, so the rows are not added up).</p>`)
	}
	p.ps(`</section>`)
}

func (p *page) findings(gs []*ruleGroup) {
	p.ps(`<section id="findings"><h2>Findings</h2>`)
	if len(gs) == 0 {
		p.ps(`<p class="ok">No findings.</p>`)
	}
	for _, g := range gs {
		p.pf(`<section class="rule" id="findings-%s"><h3>%s %s <span class="count">%d finding(s)</span></h3>`, g.Rule, sevBadge(g.Severity), g.Rule, g.Count)
		for _, f := range g.Drawn {
			p.finding(f)
		}
		if g.More > 0 {
			p.pf(`<p class="more">and %d more %s finding(s), not drawn (the %d drawn are the worst: by severity, then duration).</p>`, g.More, g.Rule, len(g.Drawn))
		}
		p.ps(`</section>`)
	}
	p.ps(`</section>`)
}

func (p *page) finding(f *analyze.Finding) {
	in := p.in
	p.pf(`<article class="finding sev-%s">`, f.Severity)
	p.pf(`<h4>%s <span class="rid">%s</span>`, sevBadge(f.Severity), f.Rule)
	if f.Conn.ID != 0 {
		p.pf(` · %s`, esc(connLabel(f.Conn)))
	} else if len(f.Related) > 0 {
		p.pf(` · %d connection(s)`, len(f.Related))
	}
	if f.Transaction > 0 {
		p.pf(` · transaction %d`, f.Transaction)
	}
	if len(f.Frames) > 0 {
		p.pf(` · frames <span class="frames">%s</span>`, frameList(f.Frames, len(in.Inputs)))
	}
	if f.Duration > 0 {
		p.pf(` · %s`, ms(f.Duration))
	}
	p.ps(`</h4>`)
	if IsLadder(f) {
		ev := in.Evidence[f]
		if ev != nil && len(ev.Segments) > 0 {
			id := p.id()
			p.pf(`<figure class="diagram" id="fig-%s" data-kind="ladder" data-rule="%s">%s<figcaption>`, id, f.Rule, ladder(id, f, ev))
			var legs []string
			for _, c := range ev.Conns {
				ow, at := vantage(c)
				if at == "?" {
					legs = append(legs, fmt.Sprintf("connection %d: handshake not captured, one-way delay unknown", c.Key.ID))
				} else {
					legs = append(legs, fmt.Sprintf("connection %d: captured at the %s side, one-way delay ≈ %s", c.Key.ID, at, ms(ow)))
				}
			}
			p.pf(`%s.`, esc(strings.Join(legs, "; ")))
			if len(ev.Missing) > 0 {
				p.pf(` Evidence frame(s) not found in the second read: %s.`, esc(fmt.Sprint(ev.Missing)))
			}
			p.ps(`</figcaption></figure>`)
			p.ps(segmentTable(ev))
		} else {
			p.ps(`<p class="noevidence">No diagram: the segments of this finding were not collected (the capture could not be read a second time).</p>`)
		}
	} else if cs := conns(f); len(cs) > 0 {
		pk := pairKey{cs[0].Client.Addr(), cs[0].Server}
		list, total, sampled := in.pairBarsFor(pk)
		hl := map[uint64]bool{}
		for _, c := range cs {
			hl[c.ID] = true
		}
		id := p.id()
		if svg := timeline(id, pk, list, total, sampled, p.o.MaxTimelineConns, hl); svg != "" {
			p.pf(`<figure class="diagram" id="fig-%s" data-kind="timeline" data-rule="%s">%s<figcaption>Connections %s → %s.</figcaption></figure>`, id, f.Rule, svg, pk.client, pk.server)
		}
	}
	p.pf(`<p class="message">%s</p>`, esc(f.Message))
	if f.Hint != "" {
		p.pf(`<p class="hint"><strong>Hint:</strong> %s</p>`, esc(f.Hint))
	}
	p.pf(`<p class="rulelink"><a href="#rule-%s">What %s means and how to fix it</a></p>`, f.Rule, f.Rule)
	p.ps(`</article>`)
}

// connWorst orders connections with findings: worst severity, then the
// most time found, then ID.
func connWorst(a, b *analyze.ConnReport) int {
	sev := func(c *analyze.ConnReport) (analyze.Severity, time.Duration) {
		var s analyze.Severity
		var d time.Duration
		for _, f := range c.Findings {
			s = max(s, f.Severity)
			d += f.Duration
		}
		return s, d
	}
	sa, da := sev(a)
	sb, db := sev(b)
	if c := cmp.Compare(sb, sa); c != 0 {
		return c
	}
	if c := cmp.Compare(db, da); c != 0 {
		return c
	}
	return cmp.Compare(a.Conn.ID, b.Conn.ID)
}

func (p *page) connections() {
	var with, without []*analyze.ConnReport
	for _, c := range p.in.Conns {
		if len(c.Findings) > 0 {
			with = append(with, c)
		} else {
			without = append(without, c)
		}
	}
	slices.SortFunc(with, connWorst)
	slices.SortFunc(without, func(a, b *analyze.ConnReport) int { return cmp.Compare(a.Conn.ID, b.Conn.ID) })
	p.ps(`<section id="connections"><h2>Connections</h2>`)
	shown := with[:min(len(with), p.o.MaxConnSections)]
	for _, c := range shown {
		p.pf(`<section class="conn" id="conn-%d"><h3>Connection %d <span class="addr">%s → %s</span></h3>`, c.Conn.ID, c.Conn.ID, c.Conn.Client, c.Conn.Server)
		p.pf(`<p class="connfacts">frames %d–%d · %s · ended: %s · %d transaction(s) · findings: `, c.Conn.First.Frame, c.Conn.Last.Frame, ms(c.Conn.Duration()), c.Conn.End, c.TransactionCount)
		counts := map[string]int{}
		for _, f := range c.Findings {
			counts[f.Rule]++
		}
		var parts []string
		for _, r := range sortedKeys(counts) {
			parts = append(parts, fmt.Sprintf(`<a href="#findings-%s">%s</a> ×%d`, r, r, counts[r]))
		}
		p.ps(strings.Join(parts, ", ") + `</p>`)
		if svg := waterfall(p.id(), c, p.o.MaxTxRows); svg != "" {
			p.pf(`<figure class="waterfall">%s</figure>`, svg)
		}
		p.ps(`</section>`)
	}
	// A Collector's sample: the totals are counted apart.
	nWith, nWithout := max(len(with), p.in.ConnsWithFindings), max(len(without), p.in.CleanConns)
	if nWith > len(shown) {
		p.pf(`<p class="more">and %d more connection(s) with findings, not drawn.</p>`, nWith-len(shown))
	}
	if nWithout > 0 {
		p.pf(`<details class="clean"><summary>%d connection(s) without findings</summary><table><thead><tr><th>id</th><th>client</th><th>server</th><th>frames</th><th>duration</th><th>transactions</th><th>ended</th></tr></thead><tbody>`, nWithout)
		for _, c := range without[:min(len(without), p.o.MaxCleanConns)] {
			p.pf(`<tr><td>%d</td><td>%s</td><td>%s</td><td>%d–%d</td><td class="num">%s</td><td class="num">%d</td><td>%s</td></tr>`,
				c.Conn.ID, c.Conn.Client, c.Conn.Server, c.Conn.First.Frame, c.Conn.Last.Frame, ms(c.Conn.Duration()), c.TransactionCount, c.Conn.End)
		}
		p.ps(`</tbody></table>`)
		if shownClean := min(len(without), p.o.MaxCleanConns); nWithout > shownClean {
			p.pf(`<p class="more">and %d more.</p>`, nWithout-shownClean)
		}
		p.ps(`</details>`)
	}
	if nWith+nWithout == 0 {
		p.ps(`<p>No connections.</p>`)
	}
	p.ps(`</section>`)
}

func (p *page) across() {
	s := p.in.Summary
	p.ps(`<section id="across"><h2>Across connections</h2>`)
	var pairs []analyze.PairCount
	if s != nil {
		pairs = slices.Clone(s.Pairs)
	}
	slices.SortStableFunc(pairs, func(a, b analyze.PairCount) int { return cmp.Compare(b.Connections, a.Connections) })
	drawn := 0
	for _, pc := range pairs {
		if drawn == p.o.MaxTimelinePairs {
			break
		}
		ip, err1 := netip.ParseAddr(pc.Client)
		sv, err2 := netip.ParseAddrPort(pc.Server)
		if err1 != nil || err2 != nil {
			continue
		}
		pk := pairKey{ip, sv}
		list, total, sampled := p.in.pairBarsFor(pk)
		if svg := timeline(p.id(), pk, list, total, sampled, p.o.MaxTimelineConns, nil); svg != "" {
			p.pf(`<figure class="pairline"><figcaption>%s → %s: %d connection(s)</figcaption>%s</figure>`, esc(pc.Client), esc(pc.Server), pc.Connections, svg)
			drawn++
		}
	}
	if len(pairs) > drawn {
		p.pf(`<p class="more">and %d more client→server pair(s), not drawn.</p>`, len(pairs)-drawn)
	}
	if s != nil && len(s.ProxyChains) > 0 {
		p.ps(`<h3>Proxy chains</h3><table class="chains"><thead><tr><th>client</th><th>proxy</th><th>origin</th><th>request</th><th>status</th><th>proxy in</th><th>origin</th><th>proxy out</th><th>total</th><th>frames</th></tr></thead><tbody>`)
		for _, ch := range s.ProxyChains {
			status := "no response"
			if ch.Answered {
				status = fmt.Sprint(ch.Status)
			}
			p.pf(`<tr><td>%s<br><small>conn %d</small></td><td>%s<br><small>%s</small></td><td>%s<br><small>conn %d</small></td><td>%s %s</td><td>%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td class="num">%s</td><td>%s</td></tr>`,
				ch.Client, ch.ClientConn, ch.Proxy, ch.ProxyOut, ch.Origin, ch.OriginConn, esc(ch.Method), esc(ch.Target), status,
				ms(ch.ProxyInDelay), ms(ch.OriginDelay), ms(ch.ProxyOutDelay), ms(ch.Total), frameList(ch.Frames, len(p.in.Inputs)))
		}
		p.ps(`</tbody></table>`)
		if s.ProxyChainsDropped > 0 {
			p.pf(`<p class="more">and %d more chain(s).</p>`, s.ProxyChainsDropped)
		}
	}
	if drawn == 0 && (s == nil || len(s.ProxyChains) == 0) {
		p.ps(`<p>No client→server pairs.</p>`)
	}
	p.ps(`</section>`)
}

func (p *page) rules(gs []*ruleGroup) {
	known := map[string]bool{}
	for _, g := range gs {
		known[g.Rule] = true
	}
	p.ps(`<section id="rules"><h2>Rule pages</h2>`)
	for _, g := range gs {
		page, err := p.in.rulePage(g.Rule)
		p.pf(`<section class="rulepage" id="rule-%s">`, g.Rule)
		if err != nil {
			p.pf(`<h3>%s</h3><p>No rule page.</p>`, g.Rule)
		} else {
			p.ps(markdown(page, known))
		}
		p.pf(`<p><a href="#findings-%s">Back to the findings</a></p></section>`, g.Rule)
	}
	p.ps(`</section>`)
}
