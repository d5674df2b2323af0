package lifecycle

import (
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/analyze/analyzetest"
	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// oneShot is a one-transaction connection from client port p: handshake at
// ms, GET, response, then the client closes (FIN) unless closer says otherwise.
func oneShot(k *analyzetest.Capture, port int, ms float64, closer flow.Dir, respHeaders ...string) *analyzetest.Conn {
	lc := k.Open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	lc.Get("/tiny.txt", ms+1.5, 1, respHeaders...)
	lc.CloseFIN(closer, ms+3)
	return lc
}

// postDies: a POST whose connection the server resets without a response.
func postDies(k *analyzetest.Capture, port int, ms float64, method string, body int64) {
	lc := k.Open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	q := lc.Request(method, "/die", ms+1.5, body)
	lc.Ack(s2c, ms+2)
	lc.RST(s2c, ms+3)
	lc.Settle(q, nil)
	lc.End(reassembly.EndRST)
}

func postOK(k *analyzetest.Capture, port int, ms float64, method string, body int64) {
	lc := k.Open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	q := lc.Request(method, "/die", ms+1.5, body)
	lc.Response(q, 200, ms+3, 10)
	lc.CloseFIN(c2s, ms+4)
}

func crossScenario(t *testing.T, perm []int) []string {
	k := newCapture(t, nil, "parallel-connections", "unsafe-retry", "no-connection-reuse", "port-churn")
	var lcs []*analyzetest.Conn
	// 10 concurrent GETs that all end at t = 500 ms
	for i := 0; i < 10; i++ {
		lc := k.Open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i), 1)
		lc.Get("/", 2+float64(i), 100)
		lcs = append(lcs, lc)
	}
	// two dead POSTs and their retries, also ending at 500 ms
	for i := 0; i < 4; i++ {
		lc := k.Open(fmt.Sprintf("10.0.0.9:%d", 41000+i), srv, float64(i)*50, 1)
		q := lc.Request("POST", "/p", float64(i)*50+2, 7)
		if i%2 == 0 {
			lc.RST(s2c, float64(i)*50+10)
			lc.Settle(q, nil)
		} else {
			lc.Response(q, 200, float64(i)*50+10, 1)
		}
		lcs = append(lcs, lc)
	}
	for _, i := range perm {
		lc := lcs[i]
		lc.C.Last = k.Pos(500)
		if lc.C.Halves[s2c].RST != nil {
			lc.End(reassembly.EndRST)
		} else {
			lc.End(reassembly.EndFIN)
		}
	}
	var out []string
	for _, f := range k.Close().Findings {
		var rel []string
		for _, r := range f.Related {
			rel = append(rel, fmt.Sprint(r.ID))
		}
		// fmt prints maps sorted by key: Attrs compare whole
		out = append(out, fmt.Sprintf("%s|%d|%s|%v|%s|%v|%s", f.Rule, f.Conn.ID, f.Time.Format(time.RFC3339Nano), f.Frames, strings.Join(rel, ","), f.Attrs, f.Message))
	}
	sort.Strings(out)
	return out
}

func TestCrossDeterministicWhateverEndOrder(t *testing.T) {
	n := 14
	base := make([]int, n)
	for i := range base {
		base[i] = i
	}
	want := crossScenario(t, base)
	if len(want) < 2 {
		t.Fatalf("scenario should fire parallel-connections and unsafe-retry, got %q", want)
	}
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 20; trial++ {
		perm := rng.Perm(n)
		got := crossScenario(t, perm)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("end order %v changed the findings:\n got %q\nwant %q", perm, got, want)
		}
	}
}

// churnFeed drives n short one-transaction connections from `clients`
// client IPs to one server at 1000 connections/s over a 28 232-port range,
// calling at every `every` connections.
func churnFeed(k *analyzetest.Capture, n, clients, every int, at func(i int)) {
	for i := 0; i < n; i++ {
		ms := float64(i)
		lc := k.Open(fmt.Sprintf("10.0.0.%d:%d", 1+i%clients, 32768+i%28232), srv, ms, 0.2)
		lc.Get("/t", ms+0.3, 0.2)
		lc.CloseFIN(c2s, ms+0.6)
		if at != nil && (i+1)%every == 0 {
			at(i + 1)
		}
	}
}

// TestCrossMemoryBounded checks the aggregator's stored items stay within
// CrossMaxEntries on a long churn, counting items, not bytes (bytes are the
// benchmark's business).
func TestCrossMemoryBounded(t *testing.T) {
	cfg := analyze.DefaultConfig()
	cfg.CrossMaxEntries = 500
	// the family, with each cross-connection rule's aggregate kept aside
	type agg struct {
		id string
		cr *crossRule
	}
	var aggs []agg
	var rules []*analyze.Rule
	for _, r := range family {
		if r.NewAggregate != nil {
			r2, newAgg := *r, r.NewAggregate
			r2.NewAggregate = func(cfg *analyze.Config) analyze.Aggregate {
				a := newAgg(cfg)
				aggs = append(aggs, agg{r.ID, a.(*crossRule)})
				return a
			}
			r = &r2
		}
		rules = append(rules, r)
	}
	k := analyzetest.NewCapture(t, cfg, rules, "parallel-connections", "unsafe-retry", "no-connection-reuse", "port-churn")
	if len(aggs) != 4 {
		t.Fatalf("%d cross-connection aggregates, want 4", len(aggs))
	}
	churnFeed(k, 20000, 1, 1000, func(int) {
		for _, a := range aggs {
			if a.cr.feed.h.Len() > crossFeedMax {
				t.Fatalf("%s: reorder buffer holds %d", a.id, a.cr.feed.h.Len())
			}
		}
	})
	if got := len(k.Close().ByRule("port-churn")); got == 0 {
		t.Errorf("port-churn did not fire on 1000 connections/s")
	}
}

// BenchmarkCross100kConnections feeds 100 000 short connections (three
// clients, one server, 1000/s, the lifecycle family) and reports the live heap
// after each 10 000: it must stay flat, since connections are released at
// their end and the aggregator keeps bounded, windowed state.
func BenchmarkCross100kConnections(b *testing.B) {
	b.ReportAllocs()
	for it := 0; it < b.N; it++ {
		k := analyzetest.NewCapture(b, nil, family)
		var heaps []uint64
		var ms runtime.MemStats
		churnFeed(k, 100000, 3, 10000, func(int) {
			k.Rec.Findings = nil // the sink is not the aggregator
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
		})
		k.Close()
		if it == 0 {
			b.ReportMetric(float64(heaps[0])/(1<<20), "MiB-heap@10k")
			b.ReportMetric(float64(heaps[len(heaps)-1])/(1<<20), "MiB-heap@100k")
			var s []string
			for i, h := range heaps {
				s = append(s, fmt.Sprintf("%dk:%.2fMiB", (i+1)*10, float64(h)/(1<<20)))
			}
			b.Logf("live heap: %s", strings.Join(s, " "))
		}
	}
}
