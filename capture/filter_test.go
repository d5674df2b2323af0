//go:build cgo

package capture

import (
	"encoding/binary"
	"testing"
	"time"
)

// tcpFrame is an Ethernet/IPv4/TCP header with the given destination port;
// BPF looks at nothing else.
func tcpFrame(dport uint16) []byte {
	f := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8] = 64
	ip[9] = 6 // TCP
	copy(ip[12:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	return f
}

func TestFilterOnFiles(t *testing.T) {
	ms := time.Millisecond
	p := writeFile(t, "f.pcap", pcapBytes(1, rec{0, tcpFrame(80)}, rec{ms, tcpFrame(443)}, rec{2 * ms, tcpFrame(80)}, rec{3 * ms, payload(1)}))
	s := open(t, []string{p}, FileOptions{Filter: "tcp port 80"})
	got := readAll(t, s)
	if len(got) != 2 || got[0].Frame != 1 || got[1].Frame != 3 {
		t.Fatalf("got %+v, want frames 1 and 3 (numbering ignores the filter)", got)
	}
	if st := s.Stats(); st.Packets != 2 || st.Filtered != 2 {
		t.Errorf("Stats %+v, want 2 passed and 2 filtered", st)
	}
	if _, err := OpenFiles([]string{p}, FileOptions{Filter: "tcp port"}); err == nil {
		t.Error("bad filter expression: no error")
	}
}
