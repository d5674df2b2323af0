package report

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/flow"
)

// timeWait is 2×MSL as port-churn assumes by default (Linux: 60 s).
const timeWait = 60 * time.Second

// Timeline geometry, in px.
const (
	tlLeft   = 70
	tlWidth  = 780
	tlCurveH = 90
	tlLanesH = 240
)

// bar is what a timeline draws of one connection: a compact copy, so that
// a Collector can keep many without their reports.
type bar struct {
	id          uint64
	port        uint16 // the client's
	start, end  time.Time
	first, last int64 // frames
	tx          int
	closer      int8 // who sent the first FIN: closerClient, closerServer, or 0 (unknown)
	hasF        bool
}

const (
	closerClient = 1
	closerServer = 2
)

func barOf(c *analyze.ConnReport) bar {
	b := bar{id: c.Conn.ID, port: c.Conn.Client.Port(), start: c.Conn.First.Time, end: c.Conn.Last.Time,
		first: c.Conn.First.Frame, last: c.Conn.Last.Frame, tx: c.TransactionCount, hasF: len(c.Findings) > 0}
	if cl, ok := clientClosedFirst(c); ok {
		b.closer = closerServer
		if cl {
			b.closer = closerClient
		}
	}
	return b
}

// pairBars is a Collector's sample of one pair's connections: every
// stride-th connection in the order they ended; when the sample outgrows
// its budget, every other one is dropped and the stride doubles.
type pairBars struct {
	bars   []bar
	stride int
	seen   int // connections of the pair seen while it was tracked
	pinned bool
}

func (pb *pairBars) add(b bar, budget int) {
	if pb.stride == 0 {
		pb.stride = 1
	}
	pb.seen++
	if (pb.seen-1)%pb.stride != 0 {
		return
	}
	pb.bars = append(pb.bars, b)
	if len(pb.bars) > budget {
		k := 0
		for i := 0; i < len(pb.bars); i += 2 {
			pb.bars[k] = pb.bars[i]
			k++
		}
		pb.bars = pb.bars[:k]
		pb.stride *= 2
	}
}

// pairBarsFor returns one client IP → server pair's bars by start, how
// many connections they stand for, and the sampling stride (1: all).
func (in *Input) pairBarsFor(p pairKey) (bars []bar, total, stride int) {
	if in.pairs != nil {
		pb := in.pairs[p]
		if pb == nil {
			return nil, 0, 1
		}
		bars, total, stride = slices.Clone(pb.bars), pb.seen, pb.stride
	} else {
		for _, c := range in.Conns {
			if c.Conn.Client.Addr() == p.client && c.Conn.Server == p.server {
				bars = append(bars, barOf(c))
			}
		}
		total, stride = len(bars), 1
	}
	slices.SortFunc(bars, func(a, b bar) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return bars, total, stride
}

// sampleBars picks at most limit connections to draw as bars, evenly over
// the pair's time (every k-th), always with the highlighted ones; the
// curves still count every connection given.
func sampleBars(cs []bar, limit int, highlight map[uint64]bool) (bars []bar, stride int) {
	stride = (len(cs) + limit - 1) / max(limit, 1)
	if stride <= 1 {
		return cs, 1
	}
	for i, c := range cs {
		if i%stride == 0 || highlight[c.id] {
			bars = append(bars, c)
		}
	}
	return bars, stride
}

// clientClosedFirst: the side that sends the first FIN holds TIME_WAIT.
func clientClosedFirst(c *analyze.ConnReport) (client, known bool) {
	cf, sf := c.Conn.Halves[flow.ClientToServer].FIN, c.Conn.Halves[flow.ServerToClient].FIN
	switch {
	case cf != nil && (sf == nil || cf.Ord < sf.Ord):
		return true, true
	case sf != nil:
		return false, true
	}
	return false, false
}

// timeline draws a pair's connections as bars in lanes (a lane holds
// connections that did not overlap, so the number of lanes in use at a
// moment is the concurrency then), with each TIME_WAIT tail, and above them
// the number of open connections and of 4-tuples in TIME_WAIT over time.
//
// cs are the pair's connections by start; when they are a 1-in-sampled
// sample of total connections, the curves count each one sampled times.
func timeline(id string, p pairKey, cs []bar, total, sampled, limit int, highlight map[uint64]bool) string {
	if len(cs) == 0 {
		return ""
	}
	bars, stride := sampleBars(cs, limit, highlight)
	t0, t1 := cs[0].start, cs[0].end
	for _, c := range cs {
		t0 = minTime(t0, c.start)
		if c.end.After(t1) {
			t1 = c.end
		}
	}
	span := max(t1.Sub(t0), time.Millisecond)
	x := func(t time.Time) float64 {
		return tlLeft + tlWidth*math.Min(float64(t.Sub(t0))/float64(span), 1)
	}

	// Lanes.
	var laneEnd []time.Time
	lane := make([]int, len(bars))
	for i, c := range bars {
		l := slices.IndexFunc(laneEnd, func(e time.Time) bool { return e.Before(c.start) })
		if l < 0 {
			l = len(laneEnd)
			laneEnd = append(laneEnd, time.Time{})
		}
		laneEnd[l] = c.end
		lane[i] = l
	}
	laneH := math.Min(math.Max(tlLanesH/float64(len(laneEnd)), 2.5), 14)
	lanesTop := float64(30 + tlCurveH + 20)
	height := lanesTop + laneH*float64(len(laneEnd)) + 50

	// Curves: open connections and TIME_WAIT holders, from start/end events.
	type ev struct {
		t        time.Time
		open, tw int
	}
	var evs []ev
	twClient := 0
	sampled = max(sampled, 1)
	for _, c := range cs {
		evs = append(evs, ev{c.start, sampled, 0}, ev{c.end, -sampled, 0})
		if c.closer != 0 {
			evs = append(evs, ev{c.end, 0, sampled}, ev{c.end.Add(timeWait), 0, -sampled})
			if c.closer == closerClient {
				twClient += sampled
			}
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.t.Compare(b.t) })
	open, tw, maxOpen, maxTW := 0, 0, 0, 0
	type pt struct {
		x        float64
		open, tw int
	}
	pts := []pt{{tlLeft, 0, 0}}
	for _, e := range evs {
		if e.t.After(t1) {
			break
		}
		open += e.open
		tw += e.tw
		maxOpen, maxTW = max(maxOpen, open), max(maxTW, tw)
		pts = append(pts, pt{x(e.t), open, tw})
	}
	peak := max(maxOpen, maxTW, 1)
	cy := func(v int) float64 { return 30 + tlCurveH - tlCurveH*float64(v)/float64(peak) }
	step := func(get func(pt) int) string {
		var d strings.Builder
		fmt.Fprintf(&d, "M%s %s", n(pts[0].x), n(cy(get(pts[0]))))
		for i := 1; i < len(pts); i++ {
			fmt.Fprintf(&d, " H%s V%s", n(pts[i].x), n(cy(get(pts[i]))))
		}
		fmt.Fprintf(&d, " H%s", n(tlLeft+tlWidth))
		return d.String()
	}

	title := fmt.Sprintf("Connections %s → %s", p.client, p.server)
	desc := fmt.Sprintf("%d connection(s) from %s to %s over %s, drawn as bars in %d lane(s) (lanes in use at a moment = connections open then); at most %d open at once; %d closed first by the client (TIME_WAIT at the client, shown as a thin tail of 2×MSL = 60 s), at most %d 4-tuples in TIME_WAIT at once within the capture.",
		max(total, len(cs)), p.client, p.server, ms(span), len(laneEnd), maxOpen, twClient, maxTW)
	if sampled > 1 {
		desc += fmt.Sprintf(" The counts are estimated from a sample of every %d. connection (%d kept).", sampled, len(cs))
	}
	// The bars stand for every (stride × sampled)-th connection of all.
	every, all := stride*sampled, max(total, len(cs))
	if stride > 1 && sampled == 1 {
		desc += fmt.Sprintf(" Bars: every %d. connection (%d of %d); the curves count all.", every, len(bars), all)
	} else if every > 1 {
		desc += fmt.Sprintf(" Bars: about every %d. connection (%d of %d).", every, len(bars), all)
	}
	if len(highlight) > 0 {
		desc += fmt.Sprintf(" The %d connection(s) the finding names are outlined.", len(highlight))
	}
	var s svg
	s.open(tlLeft+tlWidth+30, height, "timeline", title, desc)
	s.arrowMarker(id)
	// Curve area.
	s.line(tlLeft, 30+tlCurveH, tlLeft+tlWidth, 30+tlCurveH, "axis")
	s.text(tlLeft-6, 30+4, "end", "tick", fmt.Sprint(peak))
	s.text(tlLeft-6, 30+tlCurveH+4, "end", "tick", "0")
	s.path(step(func(p pt) int { return p.open }), "curve-open")
	s.path(step(func(p pt) int { return p.tw }), "curve-tw")
	s.text(tlLeft+6, 24, "start", "legend", fmt.Sprintf("— open connections (peak %d)    - - - in TIME_WAIT (peak %d)", maxOpen, maxTW))
	// Bars.
	for i, c := range bars {
		y := lanesTop + laneH*float64(lane[i])
		x1, x2 := x(c.start), x(c.end)
		if c.closer != 0 {
			s.line(x2, y+laneH/2, x(c.end.Add(timeWait)), y+laneH/2, "twtail")
		}
		class := "bar"
		if c.hasF {
			class += " hasf"
		}
		if highlight[c.id] {
			class += " hl"
		}
		s.rectTitled(x1, y+0.5, math.Max(x2-x1, 1), math.Max(laneH-1, 1.5), class,
			fmt.Sprintf("connection %d, client port %d, frames %d–%d, %s, %d transaction(s)", c.id, c.port, c.first, c.last, ms(c.end.Sub(c.start)), c.tx))
	}
	by := lanesTop + laneH*float64(len(laneEnd)) + 16
	for _, f := range []float64{0, 0.25, 0.5, 0.75, 1} {
		xx := tlLeft + tlWidth*f
		s.line(xx, 30, xx, by-10, "grid")
		anchor := "middle"
		if f == 1 {
			anchor = "end"
		}
		s.text(xx, by+4, anchor, "tick", "+"+ms(time.Duration(float64(span)*f)))
	}
	s.text(tlLeft, by+22, "start", "legend", "bars: lifetimes (red: named by the finding; dark: has findings); thin line: TIME_WAIT (2×MSL, clipped)")
	if every > 1 {
		s.text(tlLeft+tlWidth, 24, "end", "elided", fmt.Sprintf("bars: every %d. connection (%d of %d)", every, len(bars), all))
	}
	s.close()
	return s.String()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
