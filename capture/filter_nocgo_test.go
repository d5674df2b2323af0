//go:build !cgo

package capture

import (
	"errors"
	"testing"
)

func TestNoLibpcap(t *testing.T) {
	p := writeFile(t, "a.pcap", pcapBytes(1, rec{0, payload(1)}))
	if _, err := OpenFiles([]string{p}, FileOptions{Filter: "tcp"}); !errors.Is(err, ErrNoLibpcap) {
		t.Errorf("OpenFiles with filter: %v, want ErrNoLibpcap", err)
	}
	if _, err := OpenLive(LiveOptions{Interface: "lo"}); !errors.Is(err, ErrNoLibpcap) {
		t.Errorf("OpenLive: %v, want ErrNoLibpcap", err)
	}
}
