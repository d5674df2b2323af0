package analyze

import (
	"testing"
	"time"
)

// TestAttributeSums: Attribute refuses a transaction that was not settled,
// and sums what it is given per cause. (That a rule's finding lands in its
// transaction's breakdown is tested with the timing rules.)
func TestAttributeSums(t *testing.T) {
	st := &connState{txs: []*TxReport{{Index: 1}}}
	ctx := &Ctx{st: st, rule: &Rule{ID: "x"}}
	if ctx.Attribute(2, time.Millisecond) {
		t.Error("attributed to a transaction that does not exist")
	}
	if ctx.Attribute(1, 0) {
		t.Error("attributed a zero duration")
	}
	ctx.Attribute(1, time.Millisecond)
	ctx.Attribute(1, 2*time.Millisecond)
	if v := st.txs[0].Timing.Attributed["x"]; v != 3*time.Millisecond {
		t.Errorf("sum %v, want 3ms", v)
	}
}
