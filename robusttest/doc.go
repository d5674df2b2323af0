// Package robusttest holds tests that span the pipeline (reassembly, its
// HTTP/1.x parser and the analyze engine) to show that connlint stays within
// its memory bounds under attack: SYN floods, idle connections, oversized
// header blocks, endless bodies, out-of-order floods and tiny segments. It
// has no code of its own; the tests drive reassembly.Assembler and
// analyze.Engine directly with generated packets, and measure the live heap
// with runtime.ReadMemStats after runtime.GC().
//
// The attacks run scaled down by default (CI); CONNLINT_STRESS=1 runs them
// at full size (1 M SYNs, 1 M idle connections, 10 M segments, ...), and
// -short scales them down further.
package robusttest
