package capture

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
)

// TestRotationNames drives the -w writer with synthetic packets: -G by
// capture time, -W as a ring with padded names, as tcpdump names them.
func TestRotationNames(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	data := make([]byte, 100)
	write := func(w *fileWriter, at ...time.Duration) {
		for _, d := range at {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: t0.Add(d), CaptureLength: len(data), Length: len(data)}, data)
		}
	}
	dir := t.TempDir()
	tests := []struct {
		name string
		rot  Rotation
		at   []time.Duration
		want string // file suffixes, in order of opening
		last int    // packets in the last file opened
	}{
		{"G", Rotation{Every: time.Second}, []time.Duration{0, 500 * time.Millisecond, time.Second, 1999 * time.Millisecond, 5 * time.Second}, ",1,2", 1},
		{"GW", Rotation{Every: time.Second, MaxFiles: 2}, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}, "0,1,0,1", 1},
		{"CW", Rotation{FileSize: 200, MaxFiles: 10}, []time.Duration{0, 0, 0, 0, 0}, "00,01,02", 1}, // 24+2×116 > 200
		{"none", Rotation{}, []time.Duration{0, time.Hour}, "", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := filepath.Join(dir, tc.name+".pcap")
			w, err := newFileWriter(base, tc.rot, DefaultSnaplen, 1, t0, fileMeta{})
			if err != nil {
				t.Fatal(err)
			}
			write(w, tc.at...)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range w.Files() {
				got = append(got, strings.TrimPrefix(f, base))
			}
			if strings.Join(got, ",") != tc.want {
				t.Errorf("files %q, want %q", got, tc.want)
			}
			files := w.Files()
			if n := len(readAll(t, open(t, files[len(files)-1:], FileOptions{}))); n != tc.last {
				t.Errorf("last file holds %d packets, want %d", n, tc.last)
			}
		})
	}
}
