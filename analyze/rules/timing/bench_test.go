package timing_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/rules/timing"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// benchCaptures exercise the timing rules: keep-alive GETs (one long
// connection), a bulk transfer beside a warm connection, Nagle stalls, and
// hundreds of one-request connections (a finding on each).
var benchCaptures = []string{
	"../../../../shared/corpus/zeek/traces/http/1000-requests-one-dropped-response.pcap",
	"../../../testdata/lab/slow-start-fresh-connection.pcap",
	"../../../testdata/lab/nagle-delayed-ack.pcap",
	"../../../testdata/lab/port-churn.pcap",
}

// timingRules are switched off for the "off" mode.
var timingRules = []*analyze.Rule{timing.DelayedAckStall, timing.NagleDelayedAck, timing.HandshakeOverhead, timing.SlowStartFreshConnection}

// BenchmarkTimingRules measures what the timing rules add to analysis:
// decode → reassembly → HTTP parsing → every rule, with the four timing
// rules disabled ("off") and enabled ("on"), on captures that exercise
// them (keep-alive GETs, a bulk transfer, Nagle stalls). Packets are read
// into memory first so that file I/O does not dilute the difference.
//
//	go test ./analyze/rules/timing -run '^$' -bench TimingRules -count 10 | benchstat -
func BenchmarkTimingRules(b *testing.B) {
	for _, name := range benchCaptures {
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
				cfg := analyze.DefaultConfig()
				if mode == "off" {
					for _, r := range timingRules {
						cfg.Disabled[r.ID] = true
					}
				}
				b.SetBytes(size)
				b.ReportAllocs()
				cpu0 := cpuTime()
				for b.Loop() {
					analyzePackets(cfg, pkts)
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

// BenchmarkTimingOverhead pairs the two modes inside each iteration (off
// then on, then the other way round) and keeps, per mode, the smallest CPU
// time of a sample (each sample analyses at least 4000 packets): on a busy
// shared machine the minimum is the run least disturbed by the others.
// It reports the timing rules' share of that CPU time.
//
//	go test ./analyze/rules/timing -run '^$' -bench TimingOverhead -benchtime 300x
func BenchmarkTimingOverhead(b *testing.B) {
	for _, name := range benchCaptures {
		pkts := loadPackets(b, name)
		if pkts == nil {
			continue
		}
		off := analyze.DefaultConfig()
		for _, r := range timingRules {
			off.Disabled[r.ID] = true
		}
		on := analyze.DefaultConfig()
		reps := 1 + 4000/len(pkts)
		b.Run(filepath.Base(name), func(b *testing.B) {
			best := [2]int64{1 << 62, 1 << 62}
			i := 0
			for b.Loop() {
				for k := range 2 {
					mode := (i + k) % 2 // alternate which mode goes first
					cfg := off
					if mode == 1 {
						cfg = on
					}
					t := cpuTime()
					for range reps {
						analyzePackets(cfg, pkts)
					}
					best[mode] = min(best[mode], cpuTime()-t)
				}
				i++
			}
			b.ReportMetric(float64(best[0])/float64(reps), "off-cpu-ns/run")
			b.ReportMetric(float64(best[1])/float64(reps), "on-cpu-ns/run")
			b.ReportMetric(100*float64(best[1]-best[0])/float64(best[0]), "overhead-%")
		})
	}
}

func analyzePackets(cfg *analyze.Config, pkts []capture.Packet) {
	e := analyze.NewEngine(cfg, suite.Rules, discard{})
	a := reassembly.NewAssembler(e, reassembly.Options{})
	for i := range pkts {
		p := &pkts[i]
		a.Packet(p.LinkType, p.Data, flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: int64(i + 1)})
	}
	a.Close()
	e.Close()
}

type discard struct{}

func (discard) Finding(*analyze.Finding)       {}
func (discard) Connection(*analyze.ConnReport) {}

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
