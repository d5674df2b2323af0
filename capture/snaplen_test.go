package capture

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// TestSmallSnaplenHeader: a pcap whose header gives a snap length of 0 (as
// nDPI's fuzz-2021-10-13.pcap does) or one smaller than its records is read
// like tcpdump and Wireshark read it; a record longer than the 256 KiB
// readers accept is reported against that limit, not the header's 0.
func TestSmallSnaplenHeader(t *testing.T) {
	withSnap := func(snap uint32, b []byte) []byte {
		binary.LittleEndian.PutUint32(b[16:], snap)
		return b
	}
	for _, snap := range []uint32{0, 16} {
		path := writeFile(t, "snap.pcap", withSnap(snap, pcapBytes(1, rec{0, payload(1)}, rec{1, payload(200)})))
		s, err := OpenFiles([]string{path}, FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s); len(got) != 2 || len(got[1].Data) != len(payload(200)) {
			t.Errorf("snap length %d: %d packets", snap, len(got))
		}
		s.Close()
	}

	b := withSnap(0, pcapBytes(1, rec{0, payload(1)}))
	rh := make([]byte, 16)
	binary.LittleEndian.PutUint32(rh[8:], 524501)
	binary.LittleEndian.PutUint32(rh[12:], 524501)
	b = append(append(b, rh...), make([]byte, 199)...)
	s, err := OpenFiles([]string{writeFile(t, "big.pcap", b)}, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, s)
	err = s.Err()
	var ie *InputError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "524501 > 262144") {
		t.Errorf("error %v, want the record measured against 262144", err)
	}
}
