package analyze

import (
	"errors"
	"fmt"
	"strings"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
	"github.com/connlint/connlint/reassembly/tls"
)

// Consumers returns the reassembly.ConsumerFactory of the analysis. Per
// connection it waits for the client's first bytes: a TLS ClientHello
// (tls.Sniff, on any port) makes the connection a TLS one, whose decrypted
// application data (with keys found in keys) feeds an http1.Conversation,
// so every HTTP rule runs inside TLS; anything else is parsed as HTTP/1.x,
// as HTTP1Consumers does. keys may be nil (no decryption: TLS connections
// are then noted "no key for this session").
//
// Positions of decrypted bytes. Rules compare message positions with the
// TCP segments (stream offsets, frames, times), so the plaintext is given
// to the HTTP parser with positions in the ciphertext stream, not in a
// plaintext numbering of its own. For a record [S, E) carrying n plaintext
// bytes:
//
//   - byte 0 is placed at S (the record header): a message that starts a
//     record starts where the TCP segment carrying that record starts;
//   - byte n-1 is placed at E-1: a message that ends a record ends where
//     the record ends, so the next record (the next message) follows it
//     directly, as in cleartext;
//   - bytes in between are at their real ciphertext offset (AEAD ciphers
//     keep positions: S + 5, plus the 8-byte explicit nonce of TLS 1.2
//     AES-GCM, + i).
//
// The map is monotonic and stays inside the record, so "sent before",
// "acknowledged at" and "which segment" questions get the answers they
// would get for the same bytes in cleartext. Each byte's Frame, Time and Ord
// are those of the TCP segment that carried the ciphertext byte it is
// placed at: the consumer keeps, per direction, the (offset, position) of
// the chunks fed since the start of the oldest record not yet complete (a
// record is at most 5+2^14+2048 bytes; at most maxSegMarks chunks are kept,
// the oldest merged into the next beyond that, so a stream of tiny segments
// costs bounded memory and attributes some bytes to a later frame).
// Message sizes (HeaderBytes, BodyBytes) stay plaintext counts.
//
// Bad input: a direction that loses its record layer (a capture gap, a
// malformed record) or its decryption (no key, wrong key, corrupt record)
// stops feeding the HTTP parser; what was cut is reported to it as a gap, so
// no HTTP finding rests on bytes that did not authenticate. ALPN "h2"
// connections are marked HTTP/2 and not given to the HTTP/1 parser.
func (e *Engine) Consumers(opts http1.Options, keys tls.KeySource) reassembly.ConsumerFactory {
	// a pointer: every connection's chooser refers to it (8 bytes, not a
	// copy of the 48-byte factory, issue 15)
	return &consumers{e: e, opts: opts, keys: keys}
}

type consumers struct {
	e    *Engine
	opts http1.Options
	keys tls.KeySource
}

func (f *consumers) NewConsumer(c *reassembly.Conn) reassembly.Consumer {
	return &chooser{f: f, c: c}
}

// SenderDir: a ClientHello shows its sender is the client.
func (consumers) SenderDir(b []byte) (flow.Dir, bool) {
	if tls.Sniff(b) == tls.IsTLS {
		return flow.ClientToServer, true
	}
	return http1.SenderDir(b)
}

// chooser is a connection's consumer until its first client bytes tell TLS
// from anything else; then it hands everything to the chosen consumer,
// replaying what it held (at most the few client bytes Sniff needed, and
// the events that came with them).
type chooser struct {
	f     *consumers
	c     *reassembly.Conn
	next  reassembly.Consumer
	recog reassembly.Recognizer
	held  []heldEvent
	sniff []byte // client bytes so far, at most sniffLen
}

// sniffLen is more than tls.Sniff ever needs to answer.
const sniffLen = 16

type heldEvent struct {
	kind uint8 // 0 Feed, 1 Gap, 2 End
	d    flow.Dir
	data []byte
	n    uint64
	how  flow.CloseKind
	pos  flow.Pos
}

func (ch *chooser) choose(isTLS bool) {
	if isTLS {
		ch.next = newTLSConsumer(ch.f, ch.c)
	} else {
		ch.next = http1.NewConversation(http1Events{ch.f.e, ch.c}, ch.f.opts, ch.c.MidStream)
	}
	ch.recog, _ = ch.next.(reassembly.Recognizer)
	held := ch.held
	ch.held, ch.sniff = nil, nil
	for _, h := range held {
		switch h.kind {
		case 0:
			ch.next.Feed(h.d, h.data, h.pos)
		case 1:
			ch.next.Gap(h.d, h.n, h.pos)
		default:
			ch.next.End(h.d, h.how, h.pos)
		}
	}
}

func (ch *chooser) Feed(d flow.Dir, data []byte, pos flow.Pos) {
	if ch.next != nil {
		ch.next.Feed(d, data, pos)
		return
	}
	if ch.held == nil {
		// Nothing held yet and these bytes decide (the usual first
		// segment): the choice and the consumer's events are those of
		// holding and replaying them, without the copies (issue 15).
		if isTLS, ok := decideTLS(d, data[:min(len(data), sniffLen)]); ok {
			ch.choose(isTLS)
			ch.next.Feed(d, data, pos)
			return
		}
	}
	ch.held = append(ch.held, heldEvent{kind: 0, d: d, data: append([]byte(nil), data...), pos: pos})
	if d == flow.ClientToServer {
		ch.sniff = append(ch.sniff, data[:min(len(data), sniffLen-len(ch.sniff))]...)
	}
	if isTLS, ok := decideTLS(d, ch.sniff); ok {
		ch.choose(isTLS)
	}
}

// decideTLS says whether bytes of direction d settle the choice, and
// which: the server speaking first means plain TCP (no TLS client waits
// for that); otherwise sniffed, the client's first bytes so far, must
// settle it (tls.Sniff).
func decideTLS(d flow.Dir, sniffed []byte) (isTLS, decided bool) {
	if d != flow.ClientToServer {
		return false, true
	}
	switch tls.Sniff(sniffed) {
	case tls.IsTLS:
		return true, true
	case tls.NotTLS:
		return false, true
	}
	return false, false
}

func (ch *chooser) Gap(d flow.Dir, n uint64, pos flow.Pos) {
	if ch.next == nil {
		ch.held = append(ch.held, heldEvent{kind: 1, d: d, n: n, pos: pos})
		ch.choose(false) // a ClientHello with a hole in it cannot be followed
		return
	}
	ch.next.Gap(d, n, pos)
}

func (ch *chooser) End(d flow.Dir, how flow.CloseKind, pos flow.Pos) {
	if ch.next == nil {
		if ch.held == nil {
			// room for both directions' ends at once: a connection that
			// never carried data (a SYN flood) ends with two (issue 15)
			ch.held = make([]heldEvent, 0, 2)
		}
		ch.held = append(ch.held, heldEvent{kind: 2, d: d, how: how, pos: pos})
		return
	}
	ch.next.End(d, how, pos)
}

func (ch *chooser) Finish(pos flow.Pos) {
	if ch.next == nil {
		// Too few client bytes to tell (or none): what there is goes to the
		// HTTP/1 parser, which judges it as it always did.
		ch.choose(false)
	}
	ch.next.Finish(pos)
}

func (ch *chooser) IsHTTP() bool  { return ch.recog != nil && ch.recog.IsHTTP() }
func (ch *chooser) NotHTTP() bool { return ch.recog != nil && ch.recog.NotHTTP() }
func (ch *chooser) Tunnel() bool  { return ch.recog != nil && ch.recog.Tunnel() }

// maxSegMarks bounds the chunk positions kept per direction (see Consumers).
const maxSegMarks = 64

// segMark: the chunk of stream bytes [off, off+n) was delivered with pos.
type segMark struct {
	off, n uint64
	pos    flow.Pos
}

// tlsConsumer follows one TLS connection and feeds its decrypted
// application data to an HTTP/1 parser.
type tlsConsumer struct {
	e    *Engine
	c    *reassembly.Conn
	conn *tls.Conn
	http *http1.Conversation

	marks   [2][]segMark
	recEnd  [2]uint64 // end of the last complete record per direction
	stopped [2]bool   // the direction no longer feeds the HTTP parser
	recErr  [2]error  // why the record layer stopped (gap, malformed, truncated)
	h2      bool
	fed     bool // some plaintext went to the HTTP parser
}

func newTLSConsumer(f *consumers, c *reassembly.Conn) *tlsConsumer {
	t := &tlsConsumer{e: f.e, c: c}
	t.http = http1.NewConversation(http1Events{f.e, c}, f.opts, c.MidStream)
	t.conn = tls.NewConn(tls.Config{
		Keys:        f.keys,
		OnRecord:    t.record,
		OnPlaintext: t.plaintext,
	})
	return t
}

func tlsDir(d flow.Dir) tls.Dir {
	if d == flow.ClientToServer {
		return tls.ClientToServer
	}
	return tls.ServerToClient
}

func (t *tlsConsumer) Feed(d flow.Dir, data []byte, pos flow.Pos) {
	if t.recErr[d] != nil {
		return
	}
	m := append(t.marks[d], segMark{off: pos.Offset, n: uint64(len(data)), pos: pos})
	if len(m) > maxSegMarks {
		// Merge the oldest into the next: its bytes now map to the next
		// chunk's packet, a later frame, never an earlier one.
		m[1].n += m[1].off - m[0].off
		m[1].off = m[0].off
		m = append(m[:0], m[1:]...)
	}
	t.marks[d] = m
	if err := t.conn.Feed(tlsDir(d), int64(pos.Offset), data); err != nil {
		t.recErr[d] = err
		t.stop(d, t.recEnd[d], pos)
	}
	t.checkDecrypt(d, pos)
	// Drop the marks of bytes before the last complete record's end.
	m = t.marks[d]
	i := 0
	for i < len(m) && m[i].off+m[i].n <= t.recEnd[d] {
		i++
	}
	t.marks[d] = append(m[:0], m[i:]...)
}

// checkDecrypt stops the HTTP parser's direction once decryption stopped.
func (t *tlsConsumer) checkDecrypt(d flow.Dir, pos flow.Pos) {
	if t.stopped[d] {
		return
	}
	var de *tls.DecryptError
	if errors.As(t.conn.DecryptErr(tlsDir(d)), &de) {
		t.stop(d, uint64(de.Offset), pos)
	}
}

// stop tells the HTTP parser that the rest of direction d, from stream
// offset off on, is unknown: whatever message was open there is cut by a
// gap, not by its sender.
func (t *tlsConsumer) stop(d flow.Dir, off uint64, pos flow.Pos) {
	if t.stopped[d] {
		return
	}
	t.stopped[d] = true
	p := t.at(d, off, pos)
	p.Offset = off
	t.http.Gap(d, 1<<62, p)
}

func (t *tlsConsumer) Gap(d flow.Dir, n uint64, pos flow.Pos) {
	if t.recErr[d] == nil {
		t.recErr[d] = &tls.RecordError{Dir: tlsDir(d), Offset: int64(pos.Offset), Err: tls.ErrGap}
	}
	t.stop(d, max(pos.Offset, t.recEnd[d]), pos)
}

func (t *tlsConsumer) End(d flow.Dir, how flow.CloseKind, pos flow.Pos) {
	if t.recErr[d] == nil {
		if err := t.conn.Close(tlsDir(d)); err != nil {
			t.recErr[d] = err
		}
	}
	t.checkDecrypt(d, pos)
	t.http.End(d, how, pos)
}

func (t *tlsConsumer) Finish(pos flow.Pos) {
	t.http.Finish(pos)
	t.e.tlsFacts(t.c, t.conn.Facts())
	t.e.setTLS(t.c, t.report())
}

func (t *tlsConsumer) IsHTTP() bool { return t.http.IsHTTP() }

// NotHTTP: a TLS connection whose application data was not read as HTTP/1.x
// (no keys, HTTP/2, or decrypted bytes that are not HTTP) is "not HTTP".
func (t *tlsConsumer) NotHTTP() bool {
	return !t.http.IsHTTP() && (t.fed || t.h2 || t.conn.Facts().ServerHello)
}

func (t *tlsConsumer) Tunnel() bool { return t.http.Tunnel() }

func (t *tlsConsumer) record(r tls.Record) {
	d := flow.ServerToClient
	if r.Dir == tls.ClientToServer {
		d = flow.ClientToServer
	}
	t.recEnd[d] = uint64(r.End)
	// The record's last byte was in the chunk being fed (the newest mark).
	last := t.marks[d][len(t.marks[d])-1].pos
	first := t.at(d, uint64(r.Start), last)
	last = t.at(d, uint64(r.End-1), last)
	t.e.TLSRecord(t.c, r, t.conn.Facts(), first, last)
}

// at is the position of ciphertext byte off of direction d: the packet of
// the chunk that carried it (def when no mark covers it).
func (t *tlsConsumer) at(d flow.Dir, off uint64, def flow.Pos) flow.Pos {
	for _, m := range t.marks[d] {
		if off >= m.off && off < m.off+m.n {
			p := m.pos
			p.Offset = off
			return p
		}
	}
	def.Offset = off
	return def
}

func (t *tlsConsumer) plaintext(p tls.Plaintext) {
	d := flow.ServerToClient
	if p.Dir == tls.ClientToServer {
		d = flow.ClientToServer
	}
	if f := t.conn.Facts(); f.ALPN == "h2" {
		t.h2 = true
	}
	if t.h2 || t.stopped[d] || len(p.Data) == 0 {
		return
	}
	t.fed = true
	last := t.marks[d][len(t.marks[d])-1].pos // the packet completing the record
	start, end := uint64(p.Start), uint64(p.End)
	n := uint64(len(p.Data))
	t.http.Feed(d, p.Data[:1], t.at(d, start, last))
	if n == 1 {
		return
	}
	// Bytes 1..n-2 at their ciphertext offsets, split where the carrying
	// segment changes.
	head := uint64(5)
	if f := t.conn.Facts(); f.Version == 0x0303 && strings.Contains(f.CipherName(), "GCM") {
		head += 8 // TLS 1.2 AES-GCM's explicit nonce
	}
	for i := uint64(1); i < n-1; {
		off := start + head + i
		pos := t.at(d, off, last)
		k := n - 1 - i
		for _, m := range t.marks[d] {
			if off >= m.off && off < m.off+m.n {
				k = min(k, m.off+m.n-off)
				break
			}
		}
		t.http.Feed(d, p.Data[i:i+k], pos)
		i += k
	}
	t.http.Feed(d, p.Data[n-1:], t.at(d, end-1, last))
}

// report is the connection's TLS summary, at its end.
func (t *tlsConsumer) report() *TLSReport {
	f := t.conn.Facts()
	r := &TLSReport{Version: f.VersionName(), SNI: f.SNI, ALPN: f.ALPN, Cipher: f.CipherName(),
		Resumed: f.Resumed, Decrypted: f.Decrypted, HTTP2: t.h2 || f.ALPN == "h2"}
	var notes []string
	if r.HTTP2 {
		notes = append(notes, "HTTP/2 (ALPN h2): not parsed yet")
	}
	// One note per cause, naming the directions it stopped.
	for _, d := range []flow.Dir{flow.ClientToServer, flow.ServerToClient} {
		if err := t.recErr[d]; err != nil && !errors.Is(err, tls.ErrGap) {
			notes = append(notes, fmt.Sprintf("%s: %v", dirName(d), recordCause(err)))
		} else if err != nil {
			notes = append(notes, fmt.Sprintf("%s: capture gap, TLS records lost from there on", dirName(d)))
		}
	}
	decErrs := [2]error{t.conn.DecryptErr(tls.ClientToServer), t.conn.DecryptErr(tls.ServerToClient)}
	switch {
	case errors.Is(decErrs[0], tls.ErrNoKey) && errors.Is(decErrs[1], tls.ErrNoKey) && !f.Decrypted:
		notes = append(notes, tls.ErrNoKey.Error())
	default:
		for i, err := range decErrs {
			if err == nil {
				continue
			}
			var de *tls.DecryptError
			if errors.As(err, &de) {
				s := fmt.Sprintf("%s: %v", dirName(flow.Dir(i)), de.Err)
				if errors.Is(err, tls.ErrUnsupportedCipher) && de.Detail != "" {
					s += " (" + de.Detail + ")"
				}
				if f.Decrypted || errors.Is(err, tls.ErrDecrypt) {
					s += fmt.Sprintf(", decryption stopped at stream offset %d", de.Offset)
				}
				notes = append(notes, s)
			}
		}
	}
	r.Note = strings.Join(notes, "; ")
	return r
}

// recordCause is a record-layer error without the offsets of RecordError's
// text, with the offset worded for people.
func recordCause(err error) string {
	var re *tls.RecordError
	if errors.As(err, &re) {
		return fmt.Sprintf("%v at stream offset %d, TLS records not followed from there on", re.Err, re.Offset)
	}
	return err.Error()
}

func dirName(d flow.Dir) string {
	if d == flow.ClientToServer {
		return "client_to_server"
	}
	return "server_to_client"
}

// setTLS attaches a TLS summary to connection c's report (before ConnEnd).
func (e *Engine) setTLS(c *reassembly.Conn, r *TLSReport) {
	if st := e.conns[c.ID]; st != nil {
		st.tlsReport = r
	}
}

// TLSReport summarises a TLS connection (ConnReport.TLS). It never holds
// key material.
type TLSReport struct {
	Version   string // "TLS 1.3"; "" when no ServerHello was seen
	SNI       string
	ALPN      string // the protocol the server chose ("" unknown: TLS 1.3 without keys)
	Cipher    string // IANA name
	Resumed   bool
	Decrypted bool // at least one record was authenticated with the logged keys
	HTTP2     bool // ALPN h2: not parsed (HTTP/2 is not analysed yet)
	// Note says why (part of) the connection was not decrypted or followed:
	// "no key for this session", a wrong key or corrupt record, a gap.
	Note string
}

var (
	_ reassembly.Consumer   = (*chooser)(nil)
	_ reassembly.Recognizer = (*chooser)(nil)
	_ reassembly.Recognizer = (*tlsConsumer)(nil)
)
