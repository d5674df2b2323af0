// Command connlint reads packets (a live interface or pcap/pcapng files),
// rebuilds every TCP connection, parses the HTTP/1.x conversation in it and
// reports the connection-management mistakes that make HTTP slow or wrong.
//
// Data flows one way: capture → reassembly → analyze → internal/render.
// This package is only the entry point: the commands live in
// internal/cmd/<command>, the output formats in internal/render.
package main

import (
	"io"
	"os"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/connlint/connlint/internal/cmd/cli"
	"github.com/connlint/connlint/internal/cmd/root"
	"github.com/connlint/connlint/internal/iostreams"
)

// version is set by the Makefile through -ldflags.
var version = "dev"

func main() {
	// CONNLINT_CPUPROFILE names a file for a CPU profile of the whole run
	// (`make bench` and performance work; not a user-facing flag).
	if name := os.Getenv("CONNLINT_CPUPROFILE"); name != "" {
		if f, err := os.Create(name); err == nil && pprof.StartCPUProfile(f) == nil {
			code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(code)
		}
	}
	// CONNLINT_PEAKHEAP names a file that holds the in-use heap profile taken
	// when the live heap was largest (sampled every 50 ms): where peak memory
	// goes, which the end-of-run allocation profile cannot say.
	if name := os.Getenv("CONNLINT_PEAKHEAP"); name != "" {
		go peakHeap(name)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	// CONNLINT_MEMPROFILE names a file for the allocation profile of the run.
	if name := os.Getenv("CONNLINT_MEMPROFILE"); name != "" {
		if f, err := os.Create(name); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

// run is main without os.Exit, for tests.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := &cli.Factory{IO: iostreams.New(stdin, stdout, stderr), Version: version}
	cmd := root.NewCmdRoot(f)
	cmd.SetArgs(args)
	return cli.Exit(cmd.Execute(), stderr)
}

// peakHeap rewrites name with a heap profile each time the live heap after a
// collection has grown past its previous largest value.
func peakHeap(name string) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var largest uint64
	for range time.Tick(50 * time.Millisecond) {
		metrics.Read(sample)
		if live := sample[0].Value.Uint64(); live > largest+largest/20 {
			largest = live
			if f, err := os.Create(name); err == nil {
				pprof.Lookup("heap").WriteTo(f, 0)
				f.Close()
			}
		}
	}
}
