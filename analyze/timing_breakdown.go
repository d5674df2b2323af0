package analyze

import "time"

// Where a transaction's time went. The engine fills the phases of every
// TxReport.Timing (connect, send, wait, receive: NewTxReport and dispatchTx
// in engine.go); the timing rules add, per finding, the milliseconds they
// explain, keyed by rule ID, through Attribute. Renderers print both: one
// compact line per transaction in text, numbers in ms in JSON.

// Attribute adds d to the time transaction tx (1-based, as in findings)
// spent on the cause named by the current rule. It reports whether the
// transaction was found: attribution works on the transactions already
// settled on this connection (Ctx.Transactions), so a checker that finds a
// stall before its transaction is settled keeps it and attributes it from
// Transaction() or End(). Transactions beyond MaxTransactionsPerConn are not
// kept and cannot be attributed to.
func (c *Ctx) Attribute(tx int, d time.Duration) bool {
	if tx <= 0 || d <= 0 {
		return false
	}
	txs := c.st.txs
	// Most attributions are for the transaction just settled: search from the end.
	for i := len(txs) - 1; i >= 0; i-- {
		if txs[i].Index != tx {
			continue
		}
		attribute(txs[i], c.key(), d)
		return true
	}
	return false
}

// Attribute adds d to t's time spent on the reporter's rule's cause: for a
// cross-connection rule that judges a connection as it ends (t is from the
// ConnSummary it was given).
func (r *Reporter) Attribute(t *TxReport, d time.Duration) {
	attribute(t, r.rule.ID, d)
}

func attribute(t *TxReport, rule string, d time.Duration) {
	if t.Timing == nil {
		t.Timing = &Breakdown{}
	}
	if t.Timing.Attributed == nil {
		t.Timing.Attributed = map[string]time.Duration{}
	}
	t.Timing.Attributed[rule] += d
}
