package lifecycle

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/connlint/connlint/analyze"
)

// TLSFullHandshakeRepeated: a client kept making full TLS handshakes to one
// server (address, port and TLS server name) that had offered to resume
// the session — a TLS 1.2 session ID or ticket (RFC 5077), a TLS 1.3
// NewSessionTicket (RFC 8446 §4.6.1, visible only decrypted) — or that had
// already resumed one of its sessions. A full handshake costs the
// certificate chain, its verification and a key exchange each time, and in
// TLS 1.2 one more round trip than an abbreviated handshake (RFC 8446 §2.2
// compares the two; RFC 5246 §7.3 for TLS 1.2).
//
// A connection counts when it started after the first offer was made (the
// offering connection's first application data, or its end): the client
// held a session it could have presented. The offering connection itself
// does not count (it had nothing to resume). A resumed connection, or a
// client that presented a ticket or PSK the server refused (the server
// declined: the client did try), ends the run without a finding; so does
// CrossWindow of quiet. One finding per run reaching TLSFullHandshakeMin.
// Works with and without keys: handshakes are in the clear.
//
// When it is reported: reading a file, once per run, at the run's end. In
// a live capture, as soon as the run reaches TLSFullHandshakeMin (about a
// second after the connection that makes it so ends), then at most once
// per CrossWindow while the run grows, and at the run's end only if it grew
// since the last report (earlyReport).
var TLSFullHandshakeRepeated = &analyze.Rule{
	ID:           "tls-full-handshake-repeated",
	Severity:     analyze.Info,
	Title:        "full TLS handshakes again and again to a server that offered resumption",
	NewAggregate: func(cfg *analyze.Config) analyze.Aggregate { return newTLSFull(cfg) },
	Requires:     []*analyze.Pass{CrossPass},
}

type tlsFullRun struct {
	offered    bool
	offerAt    time.Time
	offerFrame analyze.Frame
	offerRef   analyze.ConnRef
	offerHow   string
	version    string
	count      int
	hs         time.Duration // sum of SYN → first application data over the run
	hsSeen     int
	first      time.Time
	last       time.Time
	refs       []analyze.ConnRef
	frames     []analyze.Frame
	early      earlyReport
}

type tlsFull struct {
	cfg *analyze.Config
	tab *crossTable[*tlsFullRun]
	cr  *crossRule // live: report runs as they reach the threshold
	// pending: runs due for an early report after the current batch
	pending []pendingKey
}

func newTLSFull(cfg *analyze.Config) analyze.Aggregate {
	t := &tlsFull{cfg: cfg, tab: newCrossTable[*tlsFullRun](cfg)}
	t.cr = &crossRule{
		feed:    &crossFeed{},
		process: t.process,
		finish: func(rep *analyze.Reporter) {
			t.tab.flush(func(e *crossEntry[*tlsFullRun]) { t.finish(rep, e.key, e.val) })
		},
		dropped: t.tab.takeDropped,
	}
	t.cr.settle = t.settle
	return t.cr
}

// settle reports the runs the last batch made due (and still are).
func (t *tlsFull) settle(rep *analyze.Reporter) {
	for _, p := range t.pending {
		e := t.tab.m[p.key]
		if e == nil {
			continue
		}
		run := e.val
		if run.count >= t.cfg.TLSFullHandshakeMin && run.early.update(p.at, run.count, t.cfg.CrossWindow) {
			t.report(rep, p.key, run)
			run.early.done(p.at, run.count)
		}
	}
	t.pending = t.pending[:0]
}

func (t *tlsFull) process(rep *analyze.Reporter, c *crossConn) {
	defer t.tab.expire(c.end, func(e *crossEntry[*tlsFullRun]) { t.finish(rep, e.key, e.val) })
	x := c.tls
	if x == nil || !x.serverHello || c.refused || c.gap {
		return
	}
	e := t.tab.get(c.key, c.end, func() *tlsFullRun { return &tlsFullRun{} })
	run := e.val
	if x.resumed || x.clientTried {
		// the client does resume (or tries to): not this rule's case; a
		// later run starts from this connection's offer
		t.finish(rep, c.key, run)
		run.offer(c, "an earlier resumed session")
		return
	}
	if run.offered && c.start.After(run.offerAt) {
		if run.count == 0 {
			run.first = c.start
		}
		run.count++
		run.last = c.end
		if x.hs > 0 {
			run.hs += x.hs
			run.hsSeen++
		}
		if len(run.refs) < maxRunRefs {
			run.refs = append(run.refs, c.ref)
			run.frames = append(run.frames, c.first)
		}
		if run.version == "" {
			run.version = x.version
		}
		if t.cr.live && run.count >= t.cfg.TLSFullHandshakeMin && run.early.update(c.end, run.count, t.cfg.CrossWindow) {
			t.pending = append(t.pending, pendingKey{c.key, c.end})
		}
	}
	if !run.offered && x.resumptionOffered {
		how := "a session ID or ticket in its ServerHello"
		if x.version == "TLS 1.3" {
			how = "NewSessionTicket messages after the handshake"
		}
		run.offer(c, how)
	}
}

// offer records connection c's offer (when the run has none).
func (r *tlsFullRun) offer(c *crossConn, how string) {
	if r.offered {
		return
	}
	r.offered, r.offerRef, r.offerFrame, r.offerHow = true, c.ref, c.first, how
	// the client holds the session once its handshake finished: from its
	// first application data on (else from its end)
	r.offerAt = c.end
	if c.tls.hs > 0 {
		r.offerAt = c.start.Add(c.tls.hs)
	}
}

func (t *tlsFull) finish(rep *analyze.Reporter, k pairKey, run *tlsFullRun) {
	defer func() { *run = tlsFullRun{} }()
	if run.count < t.cfg.TLSFullHandshakeMin || !run.early.final(run.count) {
		return
	}
	t.report(rep, k, run)
}

// report reports the run as it stands, on copies of its lists (a live run
// goes on growing them).
func (t *tlsFull) report(rep *analyze.Reporter, k pairKey, run *tlsFullRun) {
	refs := slices.Clone(run.refs)
	cost := "a certificate chain to send and verify and a fresh key exchange"
	if run.version == "TLS 1.2" || run.version == "TLS 1.1" || run.version == "TLS 1.0" {
		cost += ", and one round trip more than an abbreviated handshake"
	}
	attrs := map[string]any{"full_handshakes": run.count, "offer_connection": run.offerRef.ID, "version": run.version}
	hs := ""
	if run.hsSeen > 0 {
		hs = fmt.Sprintf("; SYN to first application data took %s on average", analyze.Dur(run.hs/time.Duration(run.hsSeen)))
		attrs["handshake_ms"] = analyze.MS(run.hs)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].ID < refs[j].ID })
	frames := append([]analyze.Frame{run.offerFrame}, run.frames...)
	sort.Slice(frames, func(i, j int) bool { return frames[i].Frame < frames[j].Frame })
	rep.Report(analyze.Finding{
		Time:     run.first,
		Frames:   frames,
		Duration: run.hs,
		Message: fmt.Sprintf("%s: %d connections in %s made full %s handshakes although the server had offered to resume the session (%s, connection %d at frame %d): each paid %s%s",
			pairText(k), run.count, analyze.Dur(run.last.Sub(run.first)), run.version, run.offerHow, run.offerRef.ID, run.offerFrame.Frame, cost, hs),
		Hint:    "keep one TLS client (session cache) for all connections to a server so it presents the session ticket or ID (curl: one process for several URLs; OpenSSL: SSL_set_session; Go: tls.Config.ClientSessionCache) — better still, reuse the connection",
		Related: append([]analyze.ConnRef{run.offerRef}, refs...),
		Attrs:   attrs,
	})
}
