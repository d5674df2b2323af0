package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// robustEntry is the part of shared/robust/manifest.json the test reads.
type robustEntry struct {
	Path            string   `json:"path"`
	Format          string   `json:"format"`
	Packets         int64    `json:"packets"`
	PacketsCapinfos *string  `json:"packets_capinfos"`
	TCPStreams      int      `json:"tcp_streams"`
	HTTP            string   `json:"http"` // "yes", "nDPI-only" or "no"
	Kind            string   `json:"kind"`
	Notes           []string `json:"notes"`
}

// robustFileTimeout bounds one capture's analysis. The largest file is
// 2.5 MB and takes well under a second; a run this long is a hang.
const robustFileTimeout = 60 * time.Second

// nonHTTPRules may report on a connection that carries no HTTP: they look
// at TCP alone. inconsistent-overlap reports retransmitted bytes that differ
// from the first copy, which is an injection or middlebox symptom whatever
// the protocol. Every other rule reasons about HTTP messages, transactions
// or HTTP connections (port-churn, parallel-connections and
// no-connection-reuse count HTTP connections only), so on a capture without
// HTTP/1.x any of them firing is a false finding.
var nonHTTPRules = map[string]bool{"inconsistent-overlap": true}

// tlsFinding reports whether f judges HTTPS from its TLS records (issue 17:
// timing, reuse, parallelism and abortive close on TLS connections that were
// not decrypted, each saying judged_from "tls-records"; and
// tls-full-handshake-repeated, about TLS handshakes) in a capture that has
// TLS connections: not an HTTP finding on non-HTTP traffic.
func tlsFinding(doc jsonDoc, f jsonFinding) bool {
	if f.Details["judged_from"] != "tls-records" && f.Rule != "tls-full-handshake-repeated" {
		return false
	}
	for _, c := range doc.Connections {
		if c.TLS != nil {
			return true
		}
	}
	return false
}

// robustReadsFewer lists captures where connlint delivers fewer packets than
// a plain walk of the file counts, and why that is right.
var robustReadsFewer = map[string]string{
	// A pcapng section of version 2.0: the specification says a reader
	// skips a section whose major version it does not know (pcapgo's own
	// tests expect exactly that); tshark refuses the whole file.
	"pcapng-suite/be/test901.pcapng": "unknown SHB version 2.0 section skipped",
	"pcapng-suite/le/test901.pcapng": "unknown SHB version 2.0 section skipped",
}

// robustRejects lists the captures connlint may reject with exit status 2,
// with what the one-line error must say. Each is one that tshark cannot
// read either (the manifest's "TSHARK CANNOT READ" note).
var robustRejects = map[string]string{
	// pcap 2.0 with snaplen 0; its only record claims 524 501 bytes where
	// 199 are left: tshark says "cut short in the middle of a packet".
	"ndpi/pcap/fuzz-2021-10-13.pcap": "524501",
}

// TestRobustCorpus runs `connlint analyze --format json` in-process on every
// capture of shared/robust (third-party, foreign and deliberately malformed
// files): exit status 0, or 2 with exactly one line on stderr naming the
// file; never a panic or a hang; valid JSON; the packet count a walk of the
// file finds; and no finding of an HTTP rule on a capture without HTTP/1.x.
func TestRobustCorpus(t *testing.T) {
	dir := sharedDir(t, "robust")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []robustEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(entries) < 617 {
		t.Fatalf("manifest.json lists %d captures, MANIFEST.md says 617", len(entries))
	}

	var mu sync.Mutex
	tally := map[string]int{}
	t.Cleanup(func() {
		keys := make([]string, 0, len(tally))
		for k := range tally {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.Logf("%4d %s", tally[k], k)
		}
	})
	note := func(k string) {
		mu.Lock()
		tally[k]++
		mu.Unlock()
	}

	for _, e := range entries {
		t.Run(e.Path, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, filepath.FromSlash(e.Path))
			code, stdout, stderr := runWithLimit(t, robustFileTimeout, "analyze", "--format", "json", "--no-progress", path)
			var doc jsonDoc
			if err := json.Unmarshal(stdout, &doc); err != nil {
				t.Fatalf("exit %d: output is not valid JSON: %v\n%.500s", code, err, stdout)
			}
			switch code {
			case exitOK:
				note("exit 0")
				if stderr != "" {
					t.Errorf("exit 0 with stderr %q", stderr)
				}
			case exitBadInput:
				checkOneLineError(t, stderr, path)
				reason := strings.TrimPrefix(strings.TrimSpace(stderr), "connlint: "+path+": ")
				note("exit 2: " + e.Path + ": " + reason)
				want, ok := robustRejects[e.Path]
				if !ok {
					t.Errorf("rejected (%s), but tshark reads it: connlint is wrong unless a reason is added to robustRejects", strings.TrimSpace(stderr))
				} else if !strings.Contains(stderr, want) {
					t.Errorf("rejected with %q, want the reason to mention %q", strings.TrimSpace(stderr), want)
				}
				if doc.Summary.Error == "" {
					t.Errorf("exit 2 but the JSON summary has no error")
				}
			default:
				t.Fatalf("exit %d (want 0 or 2), stderr %q", code, stderr)
			}

			// Every packet a walk of the file finds is analysed (up to the damage).
			wantPkts := e.Packets
			if why, ok := robustReadsFewer[e.Path]; ok {
				if doc.Summary.Packets >= wantPkts {
					t.Errorf("reads %d packets, expected fewer than %d (%s)", doc.Summary.Packets, wantPkts, why)
				}
			} else if code == exitOK && doc.Summary.Packets != wantPkts {
				t.Errorf("read %d packets, the manifest counts %d", doc.Summary.Packets, wantPkts)
			}

			for _, f := range doc.Findings {
				if len(f.Frames) == 0 || f.Message == "" {
					t.Errorf("finding without evidence: %+v", f)
				}
				for _, fr := range f.Frames {
					if fr < 1 || fr > doc.Summary.Packets {
						t.Errorf("%s cites frame %d of %d", f.Rule, fr, doc.Summary.Packets)
					}
				}
				if e.HTTP != "yes" && !nonHTTPRules[f.Rule] && !tlsFinding(doc, f) {
					t.Errorf("no HTTP/1.x in this capture (manifest: %s), yet %s: %s (frames %v)", e.HTTP, f.Rule, f.Message, f.Frames)
				}
			}
			if e.HTTP != "yes" {
				for _, c := range doc.Connections {
					if c.HTTP || len(c.Transactions) > 0 {
						t.Errorf("connection %d %s → %s taken for HTTP in a capture without HTTP/1.x", c.ID, c.Client, c.Server)
					}
				}
			}
		})
	}
}

// runWithLimit runs the CLI in-process in a goroutine and fails the test
// (instead of the whole binary) on a panic, or when it does not return
// within limit.
func runWithLimit(t *testing.T, limit time.Duration, args ...string) (code int, stdout []byte, stderr string) {
	t.Helper()
	type result struct {
		code   int
		out    []byte
		err    string
		panicV any
		stack  []byte
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicV, r.stack = p, debug.Stack()
			}
			done <- r
		}()
		var out, errb bytes.Buffer
		r.code = run(args, nil, &out, &errb)
		r.out, r.err = out.Bytes(), errb.String()
	}()
	select {
	case r := <-done:
		if r.panicV != nil {
			t.Fatalf("panic: %v\n%s", r.panicV, r.stack)
		}
		return r.code, r.out, r.err
	case <-time.After(limit):
		t.Fatalf("no result after %v: hang", limit)
	}
	return 0, nil, ""
}

// checkOneLineError: exit status 2 comes with exactly one line on stderr,
// "connlint: PATH: what is wrong".
func checkOneLineError(t *testing.T, stderr, path string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
		t.Errorf("stderr is not exactly one line: %q", stderr)
	}
	prefix := "connlint: " + path + ": "
	if !strings.HasPrefix(stderr, prefix) || len(strings.TrimSpace(stderr)) <= len(prefix) {
		t.Errorf("stderr %q does not name the file and what is wrong (want %q...)", stderr, prefix)
	}
}

// TestRobustManifestComplete: every capture in shared/robust is listed in
// the manifest, so TestRobustCorpus covers the whole folder.
func TestRobustManifestComplete(t *testing.T) {
	dir := sharedDir(t, "robust")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []robustEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, e := range entries {
		listed[e.Path] = true
	}
	var missing []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if isCaptureName(rel) && !listed[rel] {
			missing = append(missing, rel)
		}
		return nil
	})
	if len(missing) > 0 {
		t.Errorf("captures not in manifest.json: %s", strings.Join(missing, ", "))
	}
	for p := range listed {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			t.Errorf("manifest lists %s: %v", p, err)
		}
	}
}

func isCaptureName(p string) bool {
	for _, ext := range []string{".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz"} {
		if strings.HasSuffix(p, ext) {
			return true
		}
	}
	return false
}
