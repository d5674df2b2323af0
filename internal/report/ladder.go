package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// Ladder geometry, in px.
const (
	ladderTop    = 58  // below the column headers
	breakHeight  = 34  // a broken-axis (or elided segments) row
	maxStepPx    = 220 // the longest step drawn to scale
	minStepPx    = 27  // room for an arrow's label
	msgExtraPx   = 14  // room for a message name under an arrow
	stallBreakPx = 72  // a broken step inside a long stall: tall enough to see the shading
	maxScalePx   = 640 // the unbroken time of a diagram spans at most this much (before label spreading)
	slantMin     = 4   // a zero one-way delay still shows a direction
	breakFactor  = 5   // a step over 5× the median step (and over breakFloor) breaks the axis
	breakFloor   = time.Millisecond
	stallNoBreak = time.Second // a stall up to this long is drawn to scale, not broken
)

// ladderLayout maps each segment to its columns.
type ladderLayout struct {
	x     []float64 // column x
	names []string  // column roles
	addrs []string
	// colOf[conn][dir] is the sender's column of a segment of conn going dir.
	colOf [][2]int
	width float64
}

func layoutFor(ev *evidence.Evidence) ladderLayout {
	cs := ev.Conns
	if len(cs) == 2 {
		a, b := cs[0].Key, cs[1].Key
		sameEnds := a.Server == b.Server || a.Client.Addr() == b.Client.Addr() && a.Server.Addr() == b.Server.Addr()
		if !sameEnds {
			// Two legs of a proxy: client → proxy, proxy → origin.
			return ladderLayout{
				x:     []float64{200, 520, 840},
				names: []string{"client", "proxy", "origin"},
				addrs: []string{a.Client.String(), a.Server.String() + " / " + b.Client.String(), b.Server.String()},
				colOf: [][2]int{{0, 1}, {1, 2}},
				width: 1040,
			}
		}
	}
	l := ladderLayout{
		x:     []float64{210, 620},
		names: []string{"client", "server"},
		width: 800,
	}
	for range cs {
		l.colOf = append(l.colOf, [2]int{0, 1})
	}
	if len(cs) > 0 {
		l.addrs = []string{cs[0].Key.Client.String(), cs[0].Key.Server.String()}
		if len(cs) == 2 && cs[0].Key.Client != cs[1].Key.Client {
			l.addrs[0] += " / :" + fmt.Sprint(cs[1].Key.Client.Port())
		}
	}
	return l
}

// vantage estimates the one-way delay of a connection and where the capture
// was taken, from its handshake: at the client the SYN-ACK comes one RTT
// after the SYN and the ACK at once; at the server the reverse.
func vantage(ci evidence.ConnInfo) (ow time.Duration, at string) {
	if ci.SYN.IsZero() || ci.SYNACK.IsZero() || ci.HandshakeACK.IsZero() {
		return 0, "?"
	}
	a, b := ci.SYNACK.Sub(ci.SYN), ci.HandshakeACK.Sub(ci.SYNACK)
	ow = (a + b) / 2
	switch {
	case b < a/4:
		return ow, "client"
	case a < b/4:
		return ow, "server"
	}
	return ow, "middle"
}

// stallSpan locates a finding's Duration between its evidence frames: the
// closest pair of evidence times at least 90 % of Duration apart, shaded
// over the last Duration before the later one.
func stallSpan(f *analyze.Finding, segs []evidence.Segment) (a, b time.Time, ok bool) {
	if f.Duration <= 0 {
		return
	}
	var ts []time.Time
	for _, s := range segs {
		if s.Evidence {
			ts = append(ts, s.Time)
		}
	}
	best := time.Duration(-1)
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			d := ts[j].Sub(ts[i])
			if d < 0 {
				d = -d
			}
			if float64(d) >= 0.9*float64(f.Duration) && (best < 0 || d < best) {
				best = d
				a, b = ts[i], ts[j]
				if b.Before(a) {
					a, b = b, a
				}
			}
		}
	}
	if best < 0 {
		return
	}
	if s := b.Add(-f.Duration); s.After(a) {
		a = s
	}
	return a, b, true
}

var stallWord = map[string]string{
	"delayed-ack-stall":            "stall",
	"nagle-delayed-ack":            "stall",
	"dumb-proxy-keepalive":         "hang",
	"handshake-overhead":           "handshake",
	"slow-start-fresh-connection":  "slow start",
	"keepalive-race":               "idle",
	"keepalive-misuse":             "idle",
	"unframed-persistent-response": "wait",
	"unsafe-retry":                 "until retry",
	"request-after-close":          "after close",
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.3f ms", v)
}

// ladder draws one finding's evidence. id makes the SVG's ids unique.
func ladder(id string, f *analyze.Finding, ev *evidence.Evidence) string {
	segs := ev.Segments
	l := layoutFor(ev)
	if len(segs) == 0 {
		return ""
	}
	t0 := segs[0].Time
	sa, sb, hasStall := stallSpan(f, segs)

	// Each segment leaves its sender and reaches its receiver one one-way
	// delay apart; the capture saw it at one of those ends (or between).
	type flight struct{ send, recv, mid time.Time }
	fl := make([]flight, len(segs))
	var owMax time.Duration
	for i, seg := range segs {
		ow, at := vantage(ev.Conns[seg.Conn])
		owMax = max(owMax, ow)
		fromClient := seg.Dir == flow.ClientToServer
		var f flight
		switch {
		case at == "client" && fromClient, at == "server" && !fromClient:
			f = flight{seg.Time, seg.Time.Add(ow), time.Time{}}
		case at == "client" || at == "server":
			f = flight{seg.Time.Add(-ow), seg.Time, time.Time{}}
		default:
			f = flight{seg.Time.Add(-ow / 2), seg.Time.Add(ow / 2), time.Time{}}
		}
		f.mid = f.send.Add(f.recv.Sub(f.send) / 2)
		fl[i] = f
	}
	// Labels sit at the arrows' midpoints; in midpoint order, distinct
	// midpoints (a nanosecond apart) keep two arrows of the same instant
	// apart when labels need room.
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return fl[a].mid.Compare(fl[b].mid) })
	for k := 1; k < len(order); k++ {
		if prev, cur := fl[order[k-1]].mid, &fl[order[k]].mid; !cur.After(prev) {
			*cur = prev.Add(1)
		}
	}
	// The time axis: every send, receive and label time is a key.
	var keys []time.Time
	for _, f := range fl {
		keys = append(keys, f.send, f.recv, f.mid)
	}
	if hasStall {
		keys = append(keys, sa, sb)
	}
	slices.SortFunc(keys, func(a, b time.Time) int { return a.Compare(b) })
	keys = slices.CompactFunc(keys, func(a, b time.Time) bool { return a.Equal(b) })
	keyIdx := func(t time.Time) int {
		i, _ := slices.BinarySearchFunc(keys, t, func(k, t time.Time) int { return k.Compare(t) })
		return i
	}

	// Which steps break the axis: idle periods over 5× the median gap
	// between captured segments (and over a few one-way delays, so that an
	// arrow's own flight is never cut), and where segments were elided.
	var segSteps []time.Duration
	for i := 1; i < len(segs); i++ {
		if d := segs[i].Time.Sub(segs[i-1].Time); d > 0 {
			segSteps = append(segSteps, d)
		}
	}
	var median time.Duration
	if len(segSteps) > 0 {
		slices.Sort(segSteps)
		median = segSteps[len(segSteps)/2]
	}
	threshold := max(breakFactor*median, breakFloor, 3*owMax)
	broken := make([]bool, len(keys))
	elidedAt := make([]int, len(keys))
	inStall := make([]bool, len(keys))
	for i, seg := range segs {
		if seg.ElidedBefore > 0 && i > 0 {
			j := keyIdx(minTime(fl[i].send, fl[i].recv))
			if j > 0 {
				elidedAt[j] += seg.ElidedBefore
				broken[j] = true
			}
		}
	}
	var longest, unbrokenTotal time.Duration
	for j := 1; j < len(keys); j++ {
		step := keys[j].Sub(keys[j-1])
		inStall[j] = hasStall && keys[j].After(sa) && !keys[j-1].Before(sa) && !keys[j].After(sb)
		if step > threshold && !(inStall[j] && f.Duration <= stallNoBreak) {
			broken[j] = true
		}
		if !broken[j] {
			longest = max(longest, step)
			unbrokenTotal += step
		}
	}
	scale := 0.0 // px per ms
	if longest > 0 {
		msf := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		scale = math.Min(maxStepPx/msf(longest), maxScalePx/msf(unbrokenTotal))
	}

	// Rows.
	top := float64(ladderTop)
	if segs[0].ElidedBefore > 0 {
		top += 26
	}
	Y := make([]float64, len(keys))
	Y[0] = top + 10
	for j := 1; j < len(keys); j++ {
		switch {
		case broken[j] && inStall[j]:
			Y[j] = Y[j-1] + stallBreakPx
		case broken[j]:
			Y[j] = Y[j-1] + breakHeight
		default:
			Y[j] = Y[j-1] + float64(keys[j].Sub(keys[j-1]))/float64(time.Millisecond)*scale
		}
	}
	// Spread the rows where labels would collide: the label of each arrow
	// sits at its midpoint, and consecutive ones need minStepPx (more under
	// a message name); the extra room is added right before the later one.
	for k := 1; k < len(order); k++ {
		prev, cur := order[k-1], order[k]
		gap := float64(minStepPx)
		if len(segs[prev].Messages) > 0 {
			gap += msgExtraPx
		}
		j0, j1 := keyIdx(fl[prev].mid), keyIdx(fl[cur].mid)
		if d := Y[j1] - Y[j0]; d < gap {
			k := j0 + 1
			for x := k; x < len(Y); x++ {
				Y[x] += gap - d
			}
		}
	}
	yAt := func(t time.Time) float64 {
		j := keyIdx(t)
		switch {
		case j >= len(keys):
			return Y[len(Y)-1]
		case keys[j].Equal(t) || j == 0:
			return Y[j]
		}
		span := keys[j].Sub(keys[j-1])
		return Y[j-1] + (Y[j]-Y[j-1])*float64(t.Sub(keys[j-1]))/float64(span)
	}
	bottom := Y[len(Y)-1] + 30
	if len(segs[len(segs)-1].Messages) > 0 {
		bottom += msgExtraPx
	}
	elidedAfter := 0
	for _, c := range ev.Conns {
		elidedAfter += c.ElidedAfter
	}
	if elidedAfter > 0 {
		bottom += 22
	}
	height := bottom + 10

	var s svg
	s.open(l.width, height, "ladder", ladderTitle(f), ladderDesc(f, ev, l, hasStall, sa, sb))
	s.arrowMarker(id)
	left, right := l.x[0]-40, l.x[len(l.x)-1]+40

	// The stall, behind everything.
	if hasStall {
		y1, y2 := yAt(sa), yAt(sb)
		s.raw(fmt.Sprintf(`<rect x="%s" y="%s" width="%s" height="%s" class="stall" fill="url(#%s-hatch)"/>`, n(left), n(y1), n(right-left), n(math.Max(y2-y1, 2)), id))
		s.line(left, y1, right, y1, "stalledge")
		s.line(left, y2, right, y2, "stalledge")
		word := stallWord[f.Rule]
		if word == "" {
			word = "duration"
		}
		s.text(right+6, (y1+y2)/2-2, "start", "stalllabel", word)
		s.text(right+6, (y1+y2)/2+13, "start", "stalllabel", ms(f.Duration))
	}

	// Columns.
	for i, x := range l.x {
		s.text(x, 18, "middle", "colname", l.names[i])
		if i < len(l.addrs) {
			s.text(x, 34, "middle", "coladdr", l.addrs[i])
		}
		s.line(x, 42, x, bottom, "lifeline")
	}
	s.text(8, 18, "start", "colname", "time")
	s.text(8, 34, "start", "coladdr", "since #"+fmt.Sprint(segs[0].Frame))
	if segs[0].ElidedBefore > 0 {
		s.text((left+right)/2, ladderTop+6, "middle", "elided", fmt.Sprintf("⋯ %d earlier segment(s) of the connection not shown ⋯", segs[0].ElidedBefore))
	}

	// Breaks: a zig-zag across the columns and the length of the idle time.
	for j := 1; j < len(keys); j++ {
		if !broken[j] {
			continue
		}
		y1, y2 := Y[j-1]+4, Y[j]-4
		for _, x := range l.x {
			s.rect(x-6, y1, 12, y2-y1, "gapbg")
		}
		s.zigzag(l.x[0]-14, l.x[len(l.x)-1]+14, y1, y2)
		label := ms(keys[j].Sub(keys[j-1])) + " (axis broken)"
		if elidedAt[j] > 0 {
			label = fmt.Sprintf("⋯ %d segment(s) not shown, %s", elidedAt[j], ms(keys[j].Sub(keys[j-1])))
		} else if inStall[j] {
			continue // the stall's own label gives its length
		}
		// On the right, clear of the time column.
		s.text(right+6, (y1+y2)/2+4, "start", "breaklabel", label)
	}

	// Arrows.
	lastTick := -100.0
	for i, seg := range segs {
		ci := ev.Conns[seg.Conn]
		from := l.colOf[seg.Conn][0]
		to := l.colOf[seg.Conn][1]
		if seg.Dir == flow.ServerToClient {
			from, to = to, from
		}
		y1, y2 := yAt(fl[i].send), yAt(fl[i].recv)
		if y2-y1 < slantMin {
			y2 = y1 + slantMin
		}
		x1, x2 := l.x[from], l.x[to]
		dx := 3.0
		if x2 < x1 {
			dx = -3
		}
		class := "seg"
		if seg.Evidence {
			class += " ev"
		}
		if seg.Len == 0 && seg.Flags&(reassembly.SYN|reassembly.FIN|reassembly.RST) == 0 {
			class += " ack"
		}
		if seg.Flags.Has(reassembly.RST) {
			class += " rst"
		}
		s.arrow(x1+dx, y1, x2-dx, y2, class, id)
		// The label at the midpoint the rows were spread for, on the line.
		my := yAt(fl[i].mid)
		mx := (x1 + x2) / 2
		if y2 > y1 {
			mx = x1 + (x2-x1)*(my-y1)/(y2-y1)
		}
		mx = (mx + (x1+x2)/2) / 2 // pulled to the middle: labels stay between the columns
		label := seg.String()
		if len(ev.Conns) > 1 && len(l.x) == 2 {
			label = fmt.Sprintf("c%d %s", ci.Key.ID, label)
		}
		if seg.Kind != reassembly.SegNew {
			label += " (" + seg.Kind.String() + ")"
		}
		lc := "seglabel"
		if seg.Evidence {
			label = "★ " + label
			lc += " evlabel"
		}
		s.text(mx, my-5, "middle", lc+" halo", label)
		if len(seg.Messages) > 0 {
			s.text(mx, my+12, "middle", "msglabel halo", strings.Join(seg.Messages, " · "))
		}
		// The capture time, where the capture saw it; ticks closer than a
		// line are skipped (the table below lists every time).
		ty := yAt(seg.Time)
		if ty-lastTick >= 12 {
			s.text(8, ty+4, "start", "tick", "+"+ms(seg.Time.Sub(t0)))
			lastTick = ty
		}
	}
	if elidedAfter > 0 {
		s.text((left+right)/2, bottom-8, "middle", "elided", fmt.Sprintf("⋯ %d later segment(s) not shown ⋯", elidedAfter))
	}
	s.close()
	return s.String()
}

func ladderTitle(f *analyze.Finding) string {
	return fmt.Sprintf("Ladder diagram: %s (%s)", f.Rule, f.Severity)
}

func ladderDesc(f *analyze.Finding, ev *evidence.Evidence, l ladderLayout, hasStall bool, sa, sb time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Columns: %s. ", strings.Join(l.names, ", "))
	segs := ev.Segments
	fmt.Fprintf(&b, "%d segments, frames %d to %d. ", len(segs), segs[0].Frame, segs[len(segs)-1].Frame)
	var evf []string
	for _, s := range segs {
		if s.Evidence {
			evf = append(evf, fmt.Sprint(s.Frame))
		}
	}
	if len(evf) > 0 {
		fmt.Fprintf(&b, "Evidence frames (marked with a star and a thick arrow): %s. ", strings.Join(evf, ", "))
	}
	if hasStall {
		fmt.Fprintf(&b, "Shaded: %s of %s ending at +%s. ", stallWord[f.Rule], ms(f.Duration), ms(sb.Sub(segs[0].Time)))
	}
	_ = sa
	b.WriteString("The segments are listed as a table below the diagram.")
	return b.String()
}

// segmentTable is the diagram's text alternative: the same segments as rows.
func segmentTable(ev *evidence.Evidence) string {
	var b strings.Builder
	b.WriteString(`<details class="segtable"><summary>Segments as a table</summary><table><thead><tr><th>frame</th><th>time</th><th>conn</th><th>direction</th><th>flags</th><th>seq</th><th>ack</th><th>len</th><th>HTTP</th><th>note</th></tr></thead><tbody>`)
	t0 := ev.Segments[0].Time
	for _, s := range ev.Segments {
		note := ""
		if s.ElidedBefore > 0 {
			note = fmt.Sprintf("%d segment(s) before not shown; ", s.ElidedBefore)
		}
		if s.Evidence {
			note += "evidence"
		}
		if s.Kind != reassembly.SegNew {
			note += " " + s.Kind.String()
		}
		fmt.Fprintf(&b, "<tr><td>%d</td><td>+%s</td><td>%d</td><td>%s</td><td>%s</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td></tr>",
			s.Frame, esc(ms(s.Time.Sub(t0))), ev.Conns[s.Conn].Key.ID, esc(s.Dir.String()), evidence.FlagString(s.Flags), s.Seq, s.Ack, s.Len,
			esc(strings.Join(s.Messages, "; ")), esc(strings.TrimSpace(note)))
	}
	b.WriteString("</tbody></table></details>")
	return b.String()
}
