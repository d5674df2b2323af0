package analyze

import (
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/tls"
)

// TLS records in place of HTTP messages.
//
// A TLS connection that was not decrypted has no HTTP messages, but its
// record layer still shows where the application wrote (one SSL_write is
// one or more records) and the request/response rhythm of the application
// data: a run of client records, then a run of server records, and so on.
// The rules that need only TCP timing and message boundaries (stalls,
// handshake overhead, reuse, parallelism, abortive close) judge such a
// connection from its records. The engine delivers each record of a
// connection that is not decrypted to the checkers implementing
// RecordChecker, after updating the connection's TLSFlow (Ctx.TLS), which
// the cross-connection rules receive on ConnSummary.TLS.
//
// A connection that was decrypted (any record authenticated with the
// logged keys) is judged by the HTTP rules on its plaintext: from its first
// decrypted record on, no record event is delivered and TLSFlow.Decrypted
// is set, so nothing is reported twice.

// TLSRecord is one TLS record of a connection that is not decrypted.
type TLSRecord struct {
	Dir flow.Dir
	// First and Last are the packets that carried the record's first and
	// last byte; their Offset fields are those bytes' stream offsets.
	First, Last flow.Pos
	Type        tls.ContentType // outer content type, as on the wire
	Length      int             // payload bytes, header excluded
	// AppData: judged application data, the bytes that stand in for HTTP
	// messages (see TLSFlow for how records are judged without keys).
	AppData bool
	// Exchange is the 1-based request/response exchange the record belongs
	// to (0 before the first application data).
	Exchange int
}

// RecordChecker sees each TLS record of a connection that was not
// decrypted, in stream order per direction and capture order overall.
type RecordChecker interface {
	Record(ctx *Ctx, r *TLSRecord)
}

// TLSFlow is what the record layer of a TLS connection showed: the
// handshake facts and the rhythm of its application data. Positions are
// zero until seen.
type TLSFlow struct {
	Facts tls.Facts
	// Decrypted: records were decrypted, the HTTP rules judge this
	// connection and the record-based rules stay out.
	Decrypted bool
	// HandshakeDone is the packet that completed the client's Finished
	// (TLS 1.3, or TLS 1.2's encrypted Finished): the first moment
	// application data could follow.
	HandshakeDone flow.Pos
	// Exchanges counts request/response exchanges: a run of client
	// application-data records answered by server application data.
	Exchanges int
	// FirstRequest is the first client application-data record's first
	// packet; FirstResponseEnd the last packet of the server's answer in the
	// first exchange.
	FirstRequest, FirstResponseEnd flow.Pos
	// AppBytes[d] counts direction d's application-data record bytes
	// (headers included) in the first exchange.
	AppBytes [2]int64
	// Unanswered: the client's last run of application data had no server
	// application data after it.
	Unanswered bool
	// UnansweredAt is the first packet of that unanswered run.
	UnansweredAt flow.Pos
	// AlertFirst is the side (flow.Dir) that sent the first alert record
	// (in practice close_notify: RFC 8446 §6.1), -1 when none. The side
	// that sends close_notify decided to close, whoever then sends the
	// first FIN (nginx answers a client's close_notify with its own FIN).
	AlertFirst int
	AlertAt    flow.Pos // the packet that completed that alert record
	// LastAlert[d] is the stream span [start, end) of direction d's last
	// alert record (zero when none): bytes a reset loses that are only a
	// close_notify lose nothing.
	LastAlert [2][2]uint64

	turn      flow.Dir // direction of the last application-data record
	anyApp    bool
	clientFin bool // TLS 1.3: the client's Finished was seen
	serverFin bool // TLS 1.3: server records after the client's Finished started
	ticketLen int  // TLS 1.3: length of the presumed NewSessionTicket records
	ticketRun bool // still in the server's leading run of presumed tickets
}

// alertLen13 is the payload length of an encrypted TLS 1.3 alert: two
// bytes of alert, the inner content type and a 16-byte AEAD tag (every
// TLS 1.3 suite in use has one). A close_notify is such a record; an
// application writing exactly two bytes is rare enough to lose.
const alertLen13 = 2 + 1 + 16

// judge decides whether record r (not decrypted) is application data and
// updates the flow. Without keys the outer type says it for TLS 1.2
// (application_data is 23; the encrypted Finished keeps type 22). TLS 1.3
// sends everything after the ServerHello as type 23, so:
//
//   - the client's first encrypted record is its Finished (client
//     certificates, rare on the web, would add records we take for data);
//     client records before any ServerHello are 0-RTT early data;
//   - server records before the client's Finished are its handshake;
//   - right after the handshake a server sends its NewSessionTicket
//     messages (OpenSSL two, of one size): the leading run of server
//     records that all have the length of the first is taken for tickets.
//     A server that sends no ticket loses its first response record to this
//     (record rules then say less, never more);
//   - a record of alertLen13 bytes is an alert (close_notify).
func (f *TLSFlow) judge(r tls.Record) bool {
	d := r.Dir
	if r.Type != tls.TypeApplicationData || f.Facts.Version == 0 && !(d == tls.ClientToServer && f.Facts.EarlyData) {
		return false
	}
	if f.Facts.Version < 0x0304 {
		return true
	}
	if r.Length == alertLen13 {
		return false
	}
	if d == tls.ClientToServer {
		if !f.Facts.ServerHello {
			return true // 0-RTT
		}
		if !f.clientFin {
			f.clientFin = true
			return false
		}
		return true
	}
	if !f.clientFin {
		return false
	}
	if !f.serverFin {
		f.serverFin, f.ticketRun, f.ticketLen = true, true, r.Length
		return false
	}
	if f.ticketRun && r.Length == f.ticketLen {
		return false
	}
	f.ticketRun = false
	return true
}

// add counts application-data record rec in the exchange rhythm.
func (f *TLSFlow) add(rec *TLSRecord) {
	d := rec.Dir
	n := int64(rec.Length) + 5
	switch {
	case d == flow.ClientToServer && (!f.anyApp || f.turn != flow.ClientToServer):
		// a new request
		f.Unanswered, f.UnansweredAt = true, rec.First
		if !f.anyApp {
			f.FirstRequest = rec.First
		}
	case d == flow.ServerToClient && f.anyApp && f.turn == flow.ClientToServer:
		f.Exchanges++
		f.Unanswered = false
	}
	f.anyApp, f.turn = true, d
	if f.Exchanges <= 1 && (f.Exchanges == 0 || d == flow.ServerToClient && !f.Unanswered) {
		f.AppBytes[d] += n
		if d == flow.ServerToClient && f.Exchanges == 1 {
			f.FirstResponseEnd = rec.Last
		}
	}
	rec.Exchange = f.Exchanges
	if d == flow.ClientToServer {
		rec.Exchange++ // the exchange this request opens
	}
}

// isAlert reports whether r is an alert record: by its type in the clear
// (TLS 1.2, or a decrypted TLS 1.3 record), else by a TLS 1.3 encrypted
// record's length (alertLen13).
func isAlert(r tls.Record, facts tls.Facts) bool {
	switch {
	case r.Type == tls.TypeAlert || r.Inner == tls.TypeAlert:
		return true
	case r.Inner != 0:
		return false
	}
	return r.Type == tls.TypeApplicationData && facts.Version >= 0x0304 && r.Length == alertLen13
}

// TLS returns the connection's TLS record flow, nil when the connection is
// not TLS. Record-based rules use it only when Decrypted is false.
func (c *Ctx) TLS() *TLSFlow { return c.st.sum.TLS }

// tlsFlowOf returns st's TLS flow, created on first use.
func (st *connState) tlsFlowOf() *TLSFlow {
	if st.sum.TLS == nil {
		st.sum.TLS = &TLSFlow{AlertFirst: -1}
	}
	return st.sum.TLS
}

// TLSRecord is called by the TLS consumer (Consumers) for every complete
// record of connection c, with the handshake facts so far and the packets
// that carried the record's first and last byte (their Offset fields the
// stream offsets of those bytes), after the Segment events of those
// packets. It is exported for harnesses that play records without bytes
// (analyzetest).
func (e *Engine) TLSRecord(c *reassembly.Conn, r tls.Record, facts tls.Facts, first, last flow.Pos) {
	// (r.Dir is numbered as flow.Dir: client to server is 0.)
	st := e.conns[c.ID]
	if st == nil {
		return
	}
	f := st.tlsFlowOf()
	f.Facts = facts
	if isAlert(r, facts) {
		if f.AlertFirst < 0 {
			f.AlertFirst, f.AlertAt = int(r.Dir), last
		}
		f.LastAlert[r.Dir&1] = [2]uint64{uint64(r.Start), uint64(r.End)}
	}
	if f.Decrypted {
		return
	}
	if r.Encrypted && r.Inner != 0 || facts.Decrypted {
		// The HTTP rules judge this connection from its plaintext.
		f.Decrypted = true
		return
	}
	d := flow.ServerToClient
	if r.Dir == tls.ClientToServer {
		d = flow.ClientToServer
	}
	rec := &TLSRecord{Dir: d, First: first, Last: last, Type: r.Type, Length: r.Length}
	if f.Facts.Version <= 0x0303 && r.Type == tls.TypeHandshake && r.Encrypted && d == flow.ClientToServer {
		f.HandshakeDone = last // TLS 1.2: the client's encrypted Finished
	}
	wasFin := f.clientFin
	rec.AppData = f.judge(r)
	if !wasFin && f.clientFin {
		f.HandshakeDone = last
	}
	if rec.AppData {
		f.add(rec)
	} else {
		rec.Exchange = f.Exchanges
	}
	for _, i := range e.disp.recs {
		st.at(&e.slots[i])
		e.checker(st, i).(RecordChecker).Record(&st.ctx, rec)
	}
}

// tlsFacts records the final handshake facts of connection c (at its end).
func (e *Engine) tlsFacts(c *reassembly.Conn, facts tls.Facts) {
	if st := e.conns[c.ID]; st != nil {
		f := st.tlsFlowOf()
		f.Facts = facts
		if facts.Decrypted {
			f.Decrypted = true
		}
	}
}

// RecordsJudged reports whether the record-based rules judge this flow: a
// TLS connection with a handshake seen that was not decrypted.
func (f *TLSFlow) RecordsJudged() bool {
	return f != nil && !f.Decrypted && f.Facts.ServerHello
}
