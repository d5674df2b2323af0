package timing

import (
	"testing"
	"time"
)

// TestRTTFromData: without usable handshake times the smallest data→ACK
// interval bounds each side.
func TestRTTFromData(t *testing.T) {
	var r pathRTT
	r.sample(1, 30*time.Millisecond)
	r.sample(1, 12*time.Millisecond)
	r.sample(1, 50*time.Millisecond)
	if v, ok := r.of(1); !ok || v != 12*time.Millisecond {
		t.Errorf("server side %v %v, want 12ms", v, ok)
	}
	if _, ok := r.of(0); ok {
		t.Error("client side known without a sample")
	}
	r.sample(0, 0)
	if v, ok := r.full(); !ok || v > 12*time.Millisecond+time.Microsecond {
		t.Errorf("full %v %v", v, ok)
	}
}
