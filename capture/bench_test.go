package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkDrainPcap reads a generated 20,000-packet classic pcap file
// (1,500-byte frames, the bench capture's shape) through OpenFiles and
// Next, touching nothing but the first byte of each packet: the reader's
// own cost per packet (issue 15).
func BenchmarkDrainPcap(b *testing.B) {
	const n = 20000
	frame := bytes.Repeat([]byte{0x5a}, 1500)
	recs := make([]rec, n)
	for i := range recs {
		recs[i] = rec{time.Duration(i) * time.Microsecond, frame}
	}
	data := pcapBytes(1, recs...)
	path := filepath.Join(b.TempDir(), "drain.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := OpenFiles([]string{path}, FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var got int
		var sum byte
		for {
			p, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			sum += p.Data[0]
			got++
		}
		s.Close()
		if got != n || sum != byte(n*0x5a%256) {
			b.Fatalf("read %d packets (sum %d), want %d", got, sum, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
}
