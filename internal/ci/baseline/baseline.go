// Package baseline records a run's findings (--write-baseline FILE) and
// later reports only the new ones (--baseline FILE).
//
// Findings are matched by ci.Key (rule, client address without port,
// server ip:port, method and target when known), never by frame numbers,
// times or connection IDs, so a re-recording of the same traffic matches.
// The file counts the findings of each key: a key recorded 3 times hides
// at most 3 findings of that key, and a fourth is new.
//
// The file is JSON, versioned:
//
//	{"version": 1, "findings": [{"rule": "...", "client": "10.0.0.1",
//	  "server": "10.0.0.2:80", "method": "POST", "target": "/ok", "count": 2}]}
//
// with entries sorted, so that a baseline committed to a repository diffs
// cleanly.
package baseline

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/internal/ci"
)

// Version is the file format version Write writes and Read accepts.
const Version = 1

// Entry is one key and how many findings of it were recorded.
type Entry struct {
	ci.Key
	Count int `json:"count"`
}

// Baseline is the content of a baseline file.
type Baseline struct {
	Version  int     `json:"version"`
	Findings []Entry `json:"findings"`
}

// New records findings.
func New(fs []*analyze.Finding) *Baseline {
	counts := map[ci.Key]int{}
	for _, f := range fs {
		counts[ci.KeyOf(f)]++
	}
	b := &Baseline{Version: Version, Findings: []Entry{}}
	for k, n := range counts {
		b.Findings = append(b.Findings, Entry{Key: k, Count: n})
	}
	sort.Slice(b.Findings, func(i, j int) bool { return less(b.Findings[i].Key, b.Findings[j].Key) })
	return b
}

func less(a, b ci.Key) bool {
	if a.Rule != b.Rule {
		return a.Rule < b.Rule
	}
	if a.Server != b.Server {
		return a.Server < b.Server
	}
	if a.Client != b.Client {
		return a.Client < b.Client
	}
	if a.Method != b.Method {
		return a.Method < b.Method
	}
	return a.Target < b.Target
}

// Write writes the baseline as indented JSON.
func (b *Baseline) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(b)
}

// Read parses a baseline file. A version other than Version, an entry
// without a rule or with a count below 1 is an error naming the entry.
func Read(r io.Reader) (*Baseline, error) {
	var b Baseline
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if b.Version != Version {
		return nil, fmt.Errorf("baseline: version %d, this connlint reads version %d (write it again with --write-baseline)", b.Version, Version)
	}
	for i, e := range b.Findings {
		if e.Rule == "" {
			return nil, fmt.Errorf("baseline: entry %d has no rule", i+1)
		}
		if e.Count < 1 {
			return nil, fmt.Errorf("baseline: entry %d (%s) has count %d, want at least 1", i+1, e.Rule, e.Count)
		}
	}
	return &b, nil
}

// Result is what filtering a run against a baseline found.
type Result struct {
	// New are the findings the baseline does not cover, in time order.
	New []*analyze.Finding
	// Hidden counts the findings the baseline covered.
	Hidden int
	// Gone lists baseline entries not (or not fully) seen again, with the
	// count that was not used: fixed problems, or a stale baseline.
	Gone []Entry
}

// Filter hides the findings the baseline covers. When there are more
// findings of a key than recorded, the earliest are hidden and the rest
// are new.
func (b *Baseline) Filter(fs []*analyze.Finding) Result {
	left := map[ci.Key]int{}
	for _, e := range b.Findings {
		left[e.Key] += e.Count
	}
	res := Result{New: []*analyze.Finding{}}
	for _, f := range ci.Sorted(fs) {
		k := ci.KeyOf(f)
		if left[k] > 0 {
			left[k]--
			res.Hidden++
			continue
		}
		res.New = append(res.New, f)
	}
	for _, e := range b.Findings {
		if n := left[e.Key]; n > 0 {
			res.Gone = append(res.Gone, Entry{Key: e.Key, Count: n})
			left[e.Key] = 0 // a key listed twice is reported once
		}
	}
	return res
}

// Matcher hides findings one at a time, as they are found, for output
// that streams (NDJSON, sniff-like runs) and for renderers that never see
// the whole list. It hides findings of a key in the order they arrive,
// which for one connection's findings is time order; Filter, which sees
// them all, hides the earliest.
type Matcher struct {
	b      *Baseline
	left   map[ci.Key]int
	hidden int
}

// Matcher starts matching a run against the baseline.
func (b *Baseline) Matcher() *Matcher {
	m := &Matcher{b: b, left: map[ci.Key]int{}}
	for _, e := range b.Findings {
		m.left[e.Key] += e.Count
	}
	return m
}

// Hide reports whether the baseline covers f, using up one recorded count.
func (m *Matcher) Hide(f *analyze.Finding) bool {
	k := ci.KeyOf(f)
	if m.left[k] > 0 {
		m.left[k]--
		m.hidden++
		return true
	}
	return false
}

// Hidden counts the findings hidden so far.
func (m *Matcher) Hidden() int { return m.hidden }

// Gone lists the recorded findings not seen (yet), as Filter's Result.Gone.
func (m *Matcher) Gone() []Entry {
	var out []Entry
	seen := map[ci.Key]bool{}
	for _, e := range m.b.Findings {
		if n := m.left[e.Key]; n > 0 && !seen[e.Key] {
			seen[e.Key] = true
			out = append(out, Entry{Key: e.Key, Count: n})
		}
	}
	return out
}
