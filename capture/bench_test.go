package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// drainFile writes a 20,000-packet classic pcap (1,500-byte frames, the
// bench capture's shape) for the drain benchmarks.
func drainFile(b *testing.B) (path string, size int64) {
	frame := bytes.Repeat([]byte{0x5a}, 1500)
	recs := make([]rec, drainPackets)
	for i := range recs {
		recs[i] = rec{time.Duration(i) * time.Microsecond, frame}
	}
	data := pcapBytes(1, recs...)
	path = filepath.Join(b.TempDir(), "drain.pcap")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return path, int64(len(data))
}

const drainPackets = 20000

// BenchmarkDrainPcap reads a generated pcap through OpenFiles and Next,
// touching nothing but the first byte of each packet: the reader's own cost
// per packet (issue 15).
func BenchmarkDrainPcap(b *testing.B) {
	path, size := drainFile(b)
	b.SetBytes(size)
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
		if got != drainPackets || sum != byte(drainPackets*0x5a%256) {
			b.Fatalf("read %d packets (sum %d), want %d", got, sum, drainPackets)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*drainPackets), "ns/packet")
}
