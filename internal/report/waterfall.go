package report

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/connlint/connlint/analyze"
)

// Waterfall geometry, in px.
const (
	wfLabelW = 260
	wfPlotW  = 560
	wfRowH   = 30
)

// phase is one slice of a transaction's bar.
type phase struct {
	name  string
	class string
	start time.Time
	d     time.Duration
}

// txPhases splits a transaction into connect, send, wait and receive (from
// its Timing when the breakdown ran, else one bar request → response).
func txPhases(c *analyze.ConnReport, tx *analyze.TxReport) []phase {
	start := tx.RequestStart.Time
	if start.IsZero() {
		start = tx.ResponseStart.Time
	}
	if tx.Timing == nil {
		end := tx.ResponseEnd.Time
		if end.IsZero() {
			end = tx.RequestEnd.Time
		}
		return []phase{{"request → response", "ph-wait", start, max(end.Sub(start), 0)}}
	}
	var ps []phase
	if tx.Timing.Connect > 0 {
		cs := c.Conn.SYN.Time
		if cs.IsZero() {
			cs = start.Add(-tx.Timing.Connect)
		}
		ps = append(ps, phase{"connect", "ph-connect", cs, tx.Timing.Connect})
	}
	t := start
	for _, p := range []struct {
		name, class string
		d           time.Duration
	}{{"send", "ph-send", tx.Timing.Send}, {"wait", "ph-wait", tx.Timing.Wait}, {"receive", "ph-recv", tx.Timing.Receive}} {
		ps = append(ps, phase{p.name, p.class, t, p.d})
		t = t.Add(p.d)
	}
	return ps
}

func txName(tx *analyze.TxReport) string {
	name := fmt.Sprintf("%d", tx.Index)
	if tx.HasRequest {
		target := tx.Target
		if r := []rune(target); len(r) > 28 {
			target = string(r[:27]) + "…"
		}
		name += " " + tx.Method + " " + target
	}
	if tx.HasResponse {
		name += fmt.Sprintf(" → %d", tx.Status)
	} else {
		name += " → (no response)"
	}
	return name
}

// waterfall draws a connection's transactions like a browser's network
// panel: one row each, on the connection's time scale.
func waterfall(id string, c *analyze.ConnReport, maxRows int) string {
	txs := c.Transactions
	more := 0
	if len(txs) > maxRows {
		more = len(txs) - maxRows + c.TransactionsDropped
		txs = txs[:maxRows]
	} else {
		more = c.TransactionsDropped
	}
	if len(txs) == 0 {
		return ""
	}
	t0, t1 := c.Conn.First.Time, c.Conn.Last.Time
	for _, tx := range txs {
		for _, p := range txPhases(c, tx) {
			if p.start.Before(t0) {
				t0 = p.start
			}
			if e := p.start.Add(p.d); e.After(t1) {
				t1 = e
			}
		}
	}
	span := max(t1.Sub(t0), time.Microsecond)
	x := func(t time.Time) float64 { return wfLabelW + wfPlotW*float64(t.Sub(t0))/float64(span) }
	w := func(d time.Duration) float64 { return wfPlotW * float64(d) / float64(span) }

	height := float64(34 + len(txs)*wfRowH + 36)
	if more > 0 {
		height += 18
	}
	var desc strings.Builder
	fmt.Fprintf(&desc, "Waterfall of connection %d: %d transaction(s) over %s. ", c.Conn.ID, len(txs), ms(span))
	for _, tx := range txs {
		fmt.Fprintf(&desc, "%s:", txName(tx))
		for _, p := range txPhases(c, tx) {
			fmt.Fprintf(&desc, " %s %s", p.name, ms(p.d))
		}
		if tx.Timing != nil {
			for _, r := range sortedKeys(tx.Timing.Attributed) {
				fmt.Fprintf(&desc, ", explained by %s %s", r, ms(tx.Timing.Attributed[r]))
			}
		}
		desc.WriteString(". ")
	}
	var s svg
	s.open(wfLabelW+wfPlotW+20, height, "waterfall", fmt.Sprintf("Waterfall of connection %d", c.Conn.ID), desc.String())
	s.arrowMarker(id)
	// Axis: start, middle, end.
	for _, f := range []float64{0, 0.5, 1} {
		xx := wfLabelW + wfPlotW*f
		s.line(xx, 22, xx, height-30, "grid")
		anchor := "middle"
		if f == 1 {
			anchor = "end"
		}
		s.text(xx, 16, anchor, "tick", "+"+ms(time.Duration(float64(span)*f)))
	}
	for i, tx := range txs {
		y := float64(30 + i*wfRowH)
		s.text(8, y+13, "start", "rowlabel", txName(tx))
		for _, p := range txPhases(c, tx) {
			s.rectTitled(x(p.start), y+2, w(p.d), 14, "ph "+p.class, fmt.Sprintf("%s %s", p.name, ms(p.d)))
		}
		if tx.Timing != nil {
			ax := x(tx.RequestStart.Time)
			for _, r := range sortedKeys(tx.Timing.Attributed) {
				d := tx.Timing.Attributed[r]
				s.raw(fmt.Sprintf(`<rect x="%s" y="%s" width="%s" height="7" class="attr" fill="url(#%s-hatch)"><title>%s</title></rect>`,
					n(ax), n(y+18), n(max(w(d), 1)), id, esc(r+" "+ms(d))))
				if lx := ax + max(w(d), 1) + 4; lx < wfLabelW+wfPlotW-120 {
					s.text(lx, y+25, "start", "attrlabel", r+" "+ms(d))
				} else {
					s.text(ax-4, y+25, "end", "attrlabel", r+" "+ms(d))
				}
				ax += max(w(d), 1)
			}
		}
	}
	ly := height - 14
	if more > 0 {
		s.text(8, ly-18, "start", "elided", fmt.Sprintf("and %d more transaction(s) not drawn", more))
	}
	// Legend: the phases are told apart by fill pattern and by name, not colour alone.
	lx := 8.0
	for _, p := range []struct{ name, class string }{{"connect", "ph-connect"}, {"send", "ph-send"}, {"wait", "ph-wait"}, {"receive", "ph-recv"}} {
		s.rect(lx, ly-9, 14, 10, "ph "+p.class)
		s.text(lx+18, ly, "start", "legend", p.name)
		lx += 90
	}
	s.raw(fmt.Sprintf(`<rect x="%s" y="%s" width="14" height="7" class="attr" fill="url(#%s-hatch)"/>`, n(lx), n(ly-7), id))
	s.text(lx+18, ly, "start", "legend", "time a finding explains")
	s.close()
	return s.String()
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
