package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/pipeline"
)

// BenchmarkPipeline measures read → decode → reassemble → parse → rules on a
// real capture (nginx, 1000 keep-alive GETs, 4102 packets): bytes/s via
// SetBytes, and packets/s and allocations per packet as custom metrics.
func BenchmarkPipeline(b *testing.B) {
	path := filepath.Join(sharedDir(b, "corpus"), "zeek/traces/http/1000-requests-one-dropped-response.pcap")
	st, err := os.Stat(path)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	var packets int64
	for i := 0; i < b.N; i++ {
		src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		res := pipeline.Run(src, pipeline.Options{Config: analyze.DefaultConfig(), Sink: nullSink{}})
		src.Close()
		packets += res.Summary.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}

type nullSink struct{}

func (nullSink) Finding(*analyze.Finding)       {}
func (nullSink) Connection(*analyze.ConnReport) {}
