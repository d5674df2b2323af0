package timing

import (
	"testing"
	"unsafe"
)

// TestStateSizes guards the per-connection cost of the timing checkers
// (issue 15): every connection, open or lingering after its close, holds a
// stall detector and a flight counter. The bounds are the allocator's size
// classes they fit.
func TestStateSizes(t *testing.T) {
	t.Logf("stallDetector %d B, flightCounter %d B", unsafe.Sizeof(stallDetector{}), unsafe.Sizeof(flightCounter{}))
	if n := unsafe.Sizeof(stallDetector{}); n > 768 {
		t.Errorf("stallDetector is %d bytes, more than 768", n)
	}
	if n := unsafe.Sizeof(flightCounter{}); n > 256 {
		t.Errorf("flightCounter is %d bytes, more than 256", n)
	}
}
