package render

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fatih/color"

	"github.com/connlint/connlint/analyze"
)

// palette holds the colours of the text output; every function is a no-op
// formatter when colour is off.
type palette struct {
	err, warn, info, dim, bold, head func(a ...any) string
}

func newPalette(on bool) palette {
	mk := func(attrs ...color.Attribute) func(a ...any) string {
		c := color.New(attrs...)
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
		return c.SprintFunc()
	}
	return palette{
		err: mk(color.FgRed, color.Bold), warn: mk(color.FgYellow, color.Bold), info: mk(color.FgCyan),
		dim: mk(color.Faint), bold: mk(color.Bold), head: mk(color.Bold, color.Underline),
	}
}

func (p palette) sev(s analyze.Severity) string {
	switch s {
	case analyze.Error:
		return p.err("error")
	case analyze.Warning:
		return p.warn("warning")
	}
	return p.info("info")
}

// textRenderer prints each HTTP connection (or any connection with
// findings) in connection-id order, then the findings repeated across many
// connections (grouped), the cross-connection findings and a summary.
// Connections are rendered when they end and kept as text until Finish, so
// the report's order does not depend on the order connections ended.
type textRenderer struct {
	w       *Writer
	wrap    *wrapWriter // nil: no wrapping (not a terminal)
	p       palette
	inputs  []string
	names   []string // how frames name their input: base names, paths when those collide
	cross   []*analyze.Finding
	all     bool // every connection, every finding
	verbose bool // every finding in full: no grouping, no "(same as above)"
	conns   []shownConn
}

// shownConn is a connection's rendered header and transaction table and
// its findings, printed at Finish.
type shownConn struct {
	id       uint64
	head     string
	findings []*analyze.Finding
}

func newText(w io.Writer, o Options) Renderer {
	out, wrap := wrapped(w, o.Width)
	if o.Live {
		return &liveRenderer{w: out, wrap: wrap, p: newPalette(o.Color), names: inputNames(o.Inputs)}
	}
	return &textRenderer{w: out, wrap: wrap, p: newPalette(o.Color), inputs: o.Inputs, names: inputNames(o.Inputs),
		all: o.All, verbose: o.All || o.Verbose}
}

func (r *textRenderer) Finding(f *analyze.Finding) {
	// per-connection findings are printed with their connection; the rest
	// (cross-connection rules) come after all connections
	if f.Conn.ID == 0 || f.Across {
		r.cross = append(r.cross, f)
	}
}

func (r *textRenderer) Connection(c *analyze.ConnReport) {
	if !c.HTTP && c.TLS == nil && len(c.Findings) == 0 && !r.all || r.w.Err() != nil {
		return
	}
	var b strings.Builder
	p := r.p
	fmt.Fprintf(&b, "\n%s %s → %s  %s  %s  %s ↑ %s ↓%s\n",
		p.bold(fmt.Sprintf("conn %d", c.ID)), c.Client, c.Server,
		fmtDur(c.Duration()), endedBy(c.EndedBy), fmtBytes(c.BytesC2S), fmtBytes(c.BytesS2C), r.connNotes(c))
	fmt.Fprintf(&b, "  %s\n", p.dim(fmt.Sprintf("frames %s–%s, %s", r.frameRef(c.First.Input, c.First.Frame), r.frameRef(c.Last.Input, c.Last.Frame), ts(c.First.Time))))
	if c.TLS != nil {
		fmt.Fprintf(&b, "  %s\n", tlsLine(c.TLS))
	}
	for _, g := range c.Gaps {
		fmt.Fprintf(&b, "  %s %s %s missing at stream offset %d (before frame %s)\n", p.warn("gap"), g.Direction, fmtBytes(g.Bytes), g.Offset, r.frameRef(g.After.Input, g.After.Frame))
	}
	if c.GapsDropped > 0 {
		fmt.Fprintf(&b, "  %s %s more not listed\n", p.warn("gap"), nof(c.GapsDropped, "gap"))
	}
	if len(c.Transactions) > 0 {
		r.txTable(&b, c)
	}
	r.conns = append(r.conns, shownConn{id: c.ID, head: b.String(), findings: c.Findings})
}

// fullPerRule: findings of one rule on one connection printed in full; the
// rest are listed one short line each (JSON always has them all).
const fullPerRule = 3

func (r *textRenderer) findings(fs []*analyze.Finding, groups map[*analyze.Finding]*group) {
	seen := map[string]int{}
	var rest []*analyze.Finding
	for _, f := range fs {
		if g := groups[f]; g != nil {
			fmt.Fprintln(r.w, r.head(f, "  ")+"  "+r.p.dim(fmt.Sprintf("(one of %d alike, see %q below)", len(g.findings), repeatedTitle)))
			continue
		}
		seen[f.Rule]++
		if seen[f.Rule] <= fullPerRule || r.verbose {
			r.finding(f, "  ")
		} else {
			rest = append(rest, f)
		}
	}
	for _, f := range rest {
		fmt.Fprintln(r.w, r.head(f, "  ")+"  "+r.p.dim("(same as above)"))
	}
}

func (r *textRenderer) connNotes(c *analyze.ConnReport) string {
	var n []string
	if c.MidStream {
		n = append(n, "mid-stream")
	}
	if c.RolesGuessed {
		n = append(n, "roles guessed")
	}
	if c.OneSided {
		// a fact about the capture, not the endpoints: say it so that the
		// silence of the rules that need both sides is understood
		if c.Missing == "client_to_server" {
			n = append(n, "one-sided capture: no client→server packet")
		} else {
			n = append(n, "one-sided capture: no server→client packet")
		}
	}
	if c.Tunnel {
		n = append(n, "tunnel")
	}
	if c.NotHTTP {
		n = append(n, "not HTTP")
	}
	if len(n) == 0 {
		return ""
	}
	return "  " + r.p.dim("("+strings.Join(n, ", ")+")")
}

// tlsLine is a TLS connection's one line: "tls TLS 1.3, sni example.com,
// alpn http/1.1, TLS_AES_128_GCM_SHA256, decrypted".
func tlsLine(t *analyze.TLSReport) string {
	parts := []string{"tls"}
	add := func(s string) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	add(t.Version)
	if t.SNI != "" {
		add("sni " + t.SNI)
	}
	if t.ALPN != "" {
		add("alpn " + t.ALPN)
	}
	add(t.Cipher)
	if t.Resumed {
		add("resumed")
	}
	if t.Decrypted {
		add("decrypted")
	} else {
		add("not decrypted")
	}
	s := parts[0] + " " + strings.Join(parts[1:], ", ")
	if t.Note != "" {
		s += " (" + t.Note + ")"
	}
	return s
}

// endedBy words a ConnReport.EndedBy for people.
func endedBy(end string) string {
	switch end {
	case "open":
		return "open at capture end"
	case "fin":
		return "closed (FIN)"
	case "rst":
		return "reset (RST)"
	case "refused":
		return "refused (RST to SYN)"
	case "idle":
		return "evicted (idle)"
	case "evicted":
		return "evicted (table full)"
	}
	return end
}

func (r *textRenderer) txTable(w io.Writer, cr *analyze.ConnReport) {
	p := r.p
	fmt.Fprintf(w, "  %s\n", p.dim(fmt.Sprintf("%4s  %-7s %-32s %6s %9s %9s %10s %10s  %s", "#", "method", "target", "status", "req B", "resp B", "ttfb", "total", "where the time went")))
	for _, t := range cr.Transactions {
		method, target, status := t.Method, t.Target, "-"
		if !t.HasRequest {
			method, target = "?", p.dim("(no request)")
		}
		if len(target) > 32 {
			target = target[:31] + "…"
		}
		if t.HasResponse {
			status = fmt.Sprint(t.Status)
		} else if t.HasRequest {
			status = p.dim("none")
		}
		ttfb, total := "-", "-"
		if t.HasRequest && t.HasResponse {
			ttfb, total = fmtDur(t.TTFB), fmtDur(t.Total)
		}
		var notes []string
		if t.Unsolicited {
			notes = append(notes, "unsolicited")
		}
		if t.Gap {
			notes = append(notes, "gap")
		}
		line := fmt.Sprintf("  %4d  %-7s %-32s %6s %9d %9d %10s %10s  %s", t.Index, method, target, status, t.RequestBody, t.ResponseBody, ttfb, total, breakdown(t))
		if len(notes) > 0 {
			line += "  " + p.dim("("+strings.Join(notes, ", ")+")")
		}
		fmt.Fprintln(w, line)
	}
	if cr.TransactionsDropped > 0 {
		fmt.Fprintf(w, "  %s\n", p.dim(fmt.Sprintf("… %s more not listed", nof(cr.TransactionsDropped, "transaction"))))
	}
}

// breakdown is the compact "where the time went" of one transaction.
func breakdown(t *analyze.TxReport) string {
	b := t.Timing
	if b == nil || !t.HasRequest || !t.HasResponse {
		return ""
	}
	var parts []string
	if b.Connect > 0 {
		parts = append(parts, "connect "+fmtDur(b.Connect))
	}
	parts = append(parts, "send "+fmtDur(b.Send), "wait "+fmtDur(b.Wait), "recv "+fmtDur(b.Receive))
	keys := make([]string, 0, len(b.Attributed))
	for k := range b.Attributed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("[%s %s]", k, fmtDur(b.Attributed[k])))
	}
	return strings.Join(parts, " · ")
}

// head is a finding's first line: severity, rule, connection (for
// cross-connection findings), transaction, frames and the measured duration.
func (r *textRenderer) head(f *analyze.Finding, indent string) string {
	h := fmt.Sprintf("%s%s %s", indent, r.p.sev(f.Severity), r.p.bold(f.Rule))
	if f.Across && f.Conn.ID != 0 {
		h += fmt.Sprintf("  conn %d", f.Conn.ID)
	}
	return h + r.evidence(f)
}

// evidence is the transaction, frames and measured duration of a finding.
func (r *textRenderer) evidence(f *analyze.Finding) string {
	h := ""
	if f.Transaction > 0 {
		h += fmt.Sprintf("  tx %d", f.Transaction)
	}
	if len(f.Frames) > 0 {
		h += "  frames " + r.frameList(f.Frames)
	}
	if f.Duration > 0 {
		h += "  " + fmtDur(f.Duration)
	}
	return h
}

func (r *textRenderer) finding(f *analyze.Finding, indent string) {
	fmt.Fprintln(r.w, r.head(f, indent))
	fmt.Fprintf(r.w, "%s    %s\n", indent, f.Message)
	if f.Hint != "" {
		fmt.Fprintf(r.w, "%s    %s %s\n", indent, r.p.dim("hint:"), f.Hint)
	}
}

func (r *textRenderer) frameList(fs []analyze.Frame) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = r.frameRef(f.Input, f.Frame)
	}
	return strings.Join(s, ",")
}

// frameRef names a frame; with several inputs it says which file
// (ring1.pcap#41).
func (r *textRenderer) frameRef(input int, frame int64) string {
	return frameRef(r.names, input, frame)
}

func frameRef(names []string, input int, frame int64) string {
	if len(names) > 1 && input < len(names) {
		return fmt.Sprintf("%s#%d", names[input], frame)
	}
	return fmt.Sprint(frame)
}

// inputNames are the inputs as frames name them: the base name, or the path
// as given when two inputs share a base name.
func inputNames(inputs []string) []string {
	names := make([]string, len(inputs))
	count := map[string]int{}
	for i, in := range inputs {
		names[i] = filepath.Base(in)
		count[names[i]]++
	}
	for i, in := range inputs {
		if count[names[i]] > 1 {
			names[i] = in
		}
	}
	return names
}

func (r *textRenderer) Finish(res *Result) error {
	w, p := r.w, r.p
	sort.SliceStable(r.conns, func(i, j int) bool { return r.conns[i].id < r.conns[j].id })
	var groups []*group
	byFinding := map[*analyze.Finding]*group{}
	if !r.verbose {
		groups, byFinding = groupFindings(r.conns)
	}
	for _, c := range r.conns {
		if w.Err() != nil {
			break
		}
		io.WriteString(w, c.head)
		r.findings(c.findings, byFinding)
	}
	r.conns = nil
	r.writeGroups(groups)
	if len(r.cross) > 0 {
		fmt.Fprintf(w, "\n%s\n", p.head("Across connections"))
		analyze.SortFindings(r.cross)
		for _, f := range r.cross {
			r.finding(f, "  ")
			if len(f.Related) > 0 {
				ids := make([]string, 0, len(f.Related))
				for i, c := range f.Related {
					if i == 12 {
						ids = append(ids, fmt.Sprintf("… %d more", len(f.Related)-12))
						break
					}
					ids = append(ids, fmt.Sprint(c.ID))
				}
				fmt.Fprintf(w, "      %s %s\n", p.dim("connections:"), strings.Join(ids, ", "))
			}
		}
	}
	writeProxyChains(w, p, res.Summary)
	writeTextSummary(w, p, res)
	r.wrap.flush()
	return w.Err()
}

func writeTextSummary(w io.Writer, p palette, res *Result) {
	s := res.Summary
	fmt.Fprintf(w, "\n%s %s\n", p.head("Summary"), p.dim(strings.Join(res.Inputs, ", ")))
	fmt.Fprintf(w, "  %s, %s\n", nof(s.Packets, "packet"), spanOf(s))
	// every connection lands in one of HTTP, not HTTP, without data (a SYN
	// that was refused or never answered, a handshake with nothing sent)
	noData := max(0, s.Connections-s.HTTPConnections-s.NonHTTP)
	fmt.Fprintf(w, "  %s: %d HTTP, %d not HTTP, %d without data; %d reused, %d refused, %d reset, %d open at end, %d mid-stream\n",
		nof(s.Connections, "TCP connection"), s.HTTPConnections, s.NonHTTP, noData, s.Reused, s.Refused, s.Reset, s.OpenAtEnd, s.MidStream)
	if s.HTTPConnections > 0 {
		fmt.Fprintf(w, "  %s; per HTTP connection min %d, median %d, max %d\n", nof(s.Transactions, "transaction"), s.TxPerConnMin, s.TxPerConnMedian, s.TxPerConnMax)
	}
	if s.Gaps > 0 || s.Inconsistencies > 0 {
		fmt.Fprintf(w, "  %s %s (%s missing from the capture), %s\n", p.warn("capture:"), nof(s.Gaps, "gap"), fmtBytes(s.GapBytes), nof(s.Inconsistencies, "inconsistent overlap"))
	}
	if s.EvictedFull+s.EvictedIdle+s.OutOfOrderDropped > 0 {
		fmt.Fprintf(w, "  %s %s evicted (table full), %d idle-evicted, %s dropped\n", p.warn("limits:"), nof(s.EvictedFull, "connection"), s.EvictedIdle, nof(s.OutOfOrderDropped, "out-of-order byte"))
	}
	if s.CompareLimited > 0 {
		fmt.Fprintf(w, "  %s %s compared with a shorter history (all retransmission-compare windows together are bounded)\n", p.warn("limits:"), nof(s.CompareLimited, "stream direction"))
	}
	if s.WindowDropped > 0 {
		fmt.Fprintf(w, "  %s %s let go early by the full cross-connection windows (--format json: window_entries_dropped)\n", p.warn("limits:"), nof(s.WindowDropped, "entry"))
	}
	if s.NonTCP+s.Undecodable > 0 {
		fmt.Fprintf(w, "  %s not TCP/IP, %d undecodable\n", nof(s.NonTCP, "packet"), s.Undecodable)
	}
	if s.Filtered > 0 {
		fmt.Fprintf(w, "  %s rejected by the filter\n", nof(s.Filtered, "packet"))
	}
	// pairs are sorted busiest first; only pairs with several connections say anything
	var ps []string
	for _, pc := range s.Pairs {
		if pc.Connections < 2 || len(ps) == 5 {
			break
		}
		ps = append(ps, fmt.Sprintf("%s → %s ×%d", pc.Client, pc.Server, pc.Connections))
	}
	if len(ps) > 0 {
		fmt.Fprintf(w, "  busiest client → server pairs: %s\n", strings.Join(ps, "; "))
	}
	total := 0
	for _, n := range s.FindingsBySeverity {
		total += n
	}
	if total == 0 {
		fmt.Fprintf(w, "  %s\n", p.bold("no findings"))
		return
	}
	rules := make([]string, 0, len(s.FindingsByRule))
	for id := range s.FindingsByRule {
		rules = append(rules, id)
	}
	sort.Strings(rules)
	var byRule []string
	for _, id := range rules {
		byRule = append(byRule, fmt.Sprintf("%s ×%d", id, s.FindingsByRule[id]))
	}
	fmt.Fprintf(w, "  %s: %s %d, %s %d, %s %d — %s\n", nof(total, "finding"),
		p.err("error"), s.FindingsBySeverity["error"], p.warn("warning"), s.FindingsBySeverity["warning"], p.info("info"), s.FindingsBySeverity["info"],
		strings.Join(byRule, ", "))
}

func spanOf(s *analyze.Summary) string {
	if s.Start.IsZero() {
		return "no TCP connections"
	}
	// a damaged file can put a packet's time before the first one's: the
	// span is never negative
	return fmt.Sprintf("%s → %s (%s)", ts(s.Start), ts(s.End), fmtDur(max(0, s.End.Sub(s.Start))))
}

func fmtDur(d time.Duration) string {
	switch {
	case d < 0:
		return "-" + fmtDur(-d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func fmtBytes(n uint64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%.1f kB", float64(n)/1000)
	case n < 1000*1000*1000:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// maxTextChains bounds the proxy chains printed (JSON lists all the engine kept).
const maxTextChains = 20

// writeProxyChains prints the transactions seen on both legs of a proxy:
// client → proxy → origin, with the time each hop added.
func writeProxyChains(w io.Writer, p palette, s *analyze.Summary) {
	if len(s.ProxyChains) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s %s\n", p.head("Proxy chains"), p.dim("client → proxy → origin; time each hop added, as seen where the capture was taken"))
	for i, c := range s.ProxyChains {
		if i == maxTextChains {
			fmt.Fprintf(w, "  %s\n", p.dim(fmt.Sprintf("… %d more (--format json lists them)", len(s.ProxyChains)-i+s.ProxyChainsDropped)))
			return
		}
		status := "no response to the client"
		if c.Answered {
			status = fmt.Sprint(c.Status)
		}
		fmt.Fprintf(w, "  %s  %s %s → %s\n", p.bold(fmt.Sprintf("conn %d tx %d → conn %d tx %d", c.ClientConn, c.ClientTx, c.OriginConn, c.OriginTx)), c.Method, c.Target, status)
		fmt.Fprintf(w, "      %s → %s ⇒ %s → %s\n", c.Client, c.Proxy, c.ProxyOut, c.Origin)
		line := fmt.Sprintf("proxy in +%s · origin %s · proxy out +%s", fmtDur(c.ProxyInDelay), fmtDur(c.OriginDelay), fmtDur(c.ProxyOutDelay))
		if c.Answered {
			line += fmt.Sprintf(" · client total %s", fmtDur(c.Total))
		}
		fmt.Fprintf(w, "      %s\n", p.dim(line))
	}
	if s.ProxyChainsDropped > 0 {
		fmt.Fprintf(w, "  %s\n", p.dim(fmt.Sprintf("… %d more not kept", s.ProxyChainsDropped)))
	}
}
