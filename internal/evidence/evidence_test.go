package evidence_test

import (
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/suite"
	"github.com/connlint/connlint/capture"
	"github.com/connlint/connlint/internal/evidence"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
	"github.com/connlint/connlint/reassembly/http1"
)

type recorder struct {
	findings []*analyze.Finding
	conns    map[uint64]*analyze.ConnReport
}

func (r *recorder) Finding(f *analyze.Finding) { r.findings = append(r.findings, f) }
func (r *recorder) Connection(c *analyze.ConnReport) {
	r.conns[c.Conn.ID] = c
}

// analyzeFile is the first pass, as cmd/connlint's pipeline drives it.
func analyzeFile(t *testing.T, path string) *recorder {
	t.Helper()
	src, err := capture.OpenFiles([]string{path}, capture.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec := &recorder{conns: map[uint64]*analyze.ConnReport{}}
	eng := analyze.NewEngine(analyze.DefaultConfig(), suite.Rules, rec)
	asm := reassembly.NewAssembler(eng, reassembly.Options{Consumers: eng.HTTP1Consumers(http1.Options{})})
	var ord int64
	for {
		p, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		ord++
		asm.Packet(p.LinkType, p.Data, flow.Pos{Time: p.Time, Input: p.Input, Frame: p.Frame, Ord: ord})
	}
	asm.Close()
	eng.Close()
	return rec
}

func requestFor(rec *recorder, f *analyze.Finding) evidence.Request {
	var r evidence.Request
	refs := f.Related
	if f.Conn.ID != 0 {
		refs = []analyze.ConnRef{f.Conn}
	}
	for _, c := range refs {
		k := evidence.ConnKey{ID: c.ID, Client: c.Client, Server: c.Server}
		if cr := rec.conns[c.ID]; cr != nil {
			k.First = evidence.Frame{Input: cr.Conn.First.Input, Frame: cr.Conn.First.Frame}
		}
		r.Conns = append(r.Conns, k)
	}
	for _, fr := range f.Frames {
		r.Frames = append(r.Frames, evidence.Frame{Input: fr.Input, Frame: fr.Frame})
	}
	return r
}

func lab(name string) string { return filepath.Join("..", "..", "testdata", "lab", name+".pcap") }

func TestCollectKeepsEvidenceAndContext(t *testing.T) {
	path := lab("nagle-delayed-ack")
	rec := analyzeFile(t, path)
	if len(rec.findings) == 0 {
		t.Fatal("no findings in the first pass")
	}
	var reqs []evidence.Request
	for _, f := range rec.findings {
		reqs = append(reqs, requestFor(rec, f))
	}
	lim := evidence.Limits{Context: 3, MaxSegments: 12}
	evs, st, err := evidence.Collect([]string{path}, capture.FileOptions{}, reassembly.Options{}, reqs, lim)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mismatched != 0 || st.NotFound != 0 {
		t.Errorf("second pass disagreed with the first: %+v", st)
	}
	for i, ev := range evs {
		f := rec.findings[i]
		if len(ev.Missing) != 0 {
			t.Errorf("finding %d: evidence frames %v not found", i, ev.Missing)
		}
		if len(ev.Segments) > lim.MaxSegments {
			t.Errorf("finding %d: %d segments kept, cap %d", i, len(ev.Segments), lim.MaxSegments)
		}
		// Every evidence frame is there, marked, and the segments are in capture order.
		got := map[int64]bool{}
		for j, s := range ev.Segments {
			if j > 0 && s.Ord <= ev.Segments[j-1].Ord {
				t.Errorf("finding %d: segments out of order at %d", i, j)
			}
			if s.Evidence {
				got[s.Frame] = true
			}
		}
		for _, fr := range f.Frames {
			if !got[fr.Frame] {
				t.Errorf("finding %d: evidence frame %d not kept", i, fr.Frame)
			}
		}
		// Context: something before the first evidence frame, unless the
		// connection starts there.
		if ev.Segments[0].Evidence && ev.Segments[0].Frame > 3 {
			t.Errorf("finding %d: no context before frame %d", i, ev.Segments[0].Frame)
		}
		if ev.Conns[0].HandshakeACK.IsZero() {
			t.Errorf("finding %d: handshake times not recorded", i)
		}
	}
	// The segments before the context of a late finding were elided, not kept.
	last := evs[len(evs)-1]
	if last.Segments[0].ElidedBefore == 0 {
		t.Errorf("last finding: expected elided segments before its context, got %+v", last.Segments[0])
	}
}

func TestCollectProxyLegs(t *testing.T) {
	path := lab("dumb-proxy-keepalive")
	rec := analyzeFile(t, path)
	var f *analyze.Finding
	for _, x := range rec.findings {
		if x.Rule == "dumb-proxy-keepalive" {
			f = x
		}
	}
	if f == nil || len(f.Related) != 2 {
		t.Fatalf("want a dumb-proxy-keepalive finding with two legs, got %+v", f)
	}
	evs, st, err := evidence.Collect([]string{path}, capture.FileOptions{}, reassembly.Options{}, []evidence.Request{requestFor(rec, f)}, evidence.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if st.NotFound != 0 {
		t.Fatalf("stats %+v", st)
	}
	legs := map[int]int{}
	for _, s := range evs[0].Segments {
		legs[s.Conn]++
	}
	if legs[0] == 0 || legs[1] == 0 {
		t.Errorf("want segments of both legs, got %v", legs)
	}
}

func TestCollectStopsEarlyAndBoundsRequests(t *testing.T) {
	path := lab("port-churn")
	rec := analyzeFile(t, path)
	var reqs []evidence.Request
	for _, f := range rec.findings {
		if f.Rule == "handshake-overhead" && f.Conn.ID <= 3 {
			reqs = append(reqs, requestFor(rec, f))
		}
	}
	if len(reqs) != 3 {
		t.Fatalf("want 3 requests, got %d", len(reqs))
	}
	evs, st, err := evidence.Collect([]string{path}, capture.FileOptions{}, reassembly.Options{}, reqs, evidence.Limits{MaxRequests: 2})
	if err != nil {
		t.Fatal(err)
	}
	if evs[2] != nil || evs[0] == nil || evs[1] == nil {
		t.Errorf("MaxRequests 2: want evidence for the first two requests only")
	}
	if !st.StoppedEarly || st.Packets >= 8000 {
		t.Errorf("want the pass to stop before the end of the 8000-packet capture, got %+v", st)
	}
}

func TestCollectRefusesStdin(t *testing.T) {
	_, _, err := evidence.Collect([]string{"-"}, capture.FileOptions{}, reassembly.Options{}, nil, evidence.Limits{})
	if !errors.Is(err, evidence.ErrStdin) {
		t.Errorf("want ErrStdin, got %v", err)
	}
}
