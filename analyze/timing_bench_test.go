package analyze

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
)

// BenchmarkTimingRules measures what the timing rules add to analysis:
// decode → reassembly → HTTP parsing → every rule, with the four timing
// rules disabled ("off") and enabled ("on"), on captures that exercise
// them (keep-alive GETs, a bulk transfer, Nagle stalls). Packets are read
// into memory first so that file I/O does not dilute the difference.
//
//	go test ./analyze -run '^$' -bench TimingRules -count 10 | benchstat -
func BenchmarkTimingRules(b *testing.B) {
	for _, name := range []string{
		"../../shared/corpus/zeek/traces/http/1000-requests-one-dropped-response.pcap",
		"../testdata/lab/slow-start-fresh-connection.pcap",
		"../testdata/lab/nagle-delayed-ack.pcap",
		"../testdata/lab/port-churn.pcap",
	} {
		pkts := loadPackets(b, name)
		if pkts == nil {
			continue
		}
		var size int64
		for _, p := range pkts {
			size += int64(len(p.Data))
		}
		for _, mode := range []string{"off", "on"} {
			b.Run(filepath.Base(name)+"/"+mode, func(b *testing.B) {
				cfg := DefaultConfig()
				if mode == "off" {
					for _, r := range timingRules {
						cfg.Disabled[r.ID] = true
					}
				}
				b.SetBytes(size)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					e := NewEngine(cfg, discard{})
					a := reassembly.NewAssembler(e, reassembly.Options{})
					for i := range pkts {
						p := &pkts[i]
						a.Packet(p.LinkType, p.Data, reassembly.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: int64(i + 1)})
					}
					a.Close()
					e.Close()
				}
				// CPU time (user+system, GC included) is steadier than wall
				// time on a shared machine: compare cpu-ns/op.
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(len(pkts))*float64(b.N)/b.Elapsed().Seconds(), "packets/s")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

type discard struct{}

func (discard) Finding(*Finding)       {}
func (discard) Connection(*ConnReport) {}

func loadPackets(b *testing.B, path string) []capture.Packet {
	if _, err := os.Stat(path); err != nil {
		b.Logf("skip %s: %v", path, err)
		return nil
	}
	src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var out []capture.Packet
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			b.Fatal(err)
		}
		p.Data = append([]byte(nil), p.Data...)
		out = append(out, p)
	}
}
