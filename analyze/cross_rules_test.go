package analyze

import (
	"fmt"
	"math/rand"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/connlint/connlint/reassembly"
	"github.com/connlint/connlint/reassembly/flow"
)

// oneShot is a one-transaction connection from client port p: handshake at
// ms, GET, response, then the client closes (FIN) unless closer says otherwise.
func oneShot(k *lcCap, port int, ms float64, closer flow.Dir, respHeaders ...string) *lcConn {
	lc := k.open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	lc.get("/tiny.txt", ms+1.5, 1, respHeaders...)
	lc.closeFIN(closer, ms+3)
	return lc
}

// postDies: a POST whose connection the server resets without a response.
func postDies(k *lcCap, port int, ms float64, method string, body int64) {
	lc := k.open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	q := lc.request(method, "/die", ms+1.5, body)
	lc.ack(s2c, ms+2)
	lc.rst(s2c, ms+3)
	lc.settle(q, nil)
	lc.end(reassembly.EndRST)
}

func postOK(k *lcCap, port int, ms float64, method string, body int64) {
	lc := k.open(fmt.Sprintf("10.0.0.1:%d", port), srv, ms, 1)
	q := lc.request(method, "/die", ms+1.5, body)
	lc.response(q, 200, ms+3, 10)
	lc.closeFIN(c2s, ms+4)
}

func TestUnsafeRetry(t *testing.T) {
	runLC(t, "unsafe-retry", []lcCase{
		{name: "POST resent after its connection was reset", want: 1,
			says: []string{"POST /die (32-byte body) was sent again on connection 2", "after the first copy (connection 1, transaction 1)", "reset (RST) without a response"},
			build: func(k *lcCap) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 32)
			}},
		{name: "retried GET is idempotent (control)", want: 0,
			build: func(k *lcCap) {
				postDies(k, 41951, 0, "GET", 0)
				postOK(k, 41952, 10, "GET", 0)
			}},
		{name: "different body length is a different request", want: 0,
			build: func(k *lcCap) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 33)
			}},
		{name: "first copy was answered", want: 0,
			build: func(k *lcCap) {
				postOK(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 10, "POST", 32)
			}},
		{name: "outside the retry window", want: 0,
			build: func(k *lcCap) {
				postDies(k, 41951, 0, "POST", 32)
				postOK(k, 41952, 61000, "POST", 32)
			}},
		{name: "first copy's connection still open at capture end", want: 0,
			build: func(k *lcCap) {
				lc := k.open("10.0.0.1:41951", srv, 0, 1)
				q := lc.request("POST", "/die", 1.5, 32)
				postOK(k, 41952, 10, "POST", 32)
				lc.settle(q, nil)
				lc.end(reassembly.EndOpen)
			}},
		{name: "two retries of one dead POST: reported once, then the second dead copy", want: 2,
			build: func(k *lcCap) {
				postDies(k, 41951, 0, "PATCH", 5)
				postDies(k, 41952, 10, "PATCH", 5)
				postOK(k, 41953, 20, "PATCH", 5)
			}},
	})
}

func TestNoConnectionReuse(t *testing.T) {
	seq := func(n int, closer flow.Dir, hdr ...string) func(k *lcCap) {
		return func(k *lcCap) {
			for i := 0; i < n; i++ {
				oneShot(k, 40000+i, float64(i)*10, closer, hdr...)
			}
		}
	}
	runLC(t, "no-connection-reuse", []lcCase{
		{name: "ten curl runs", want: 1, build: seq(10, c2s),
			says: []string{"10 connections in", "reusing one connection would save 9 handshakes", "at 1.0 ms each"}},
		{name: "four is below the threshold", want: 0, build: seq(4, c2s)},
		{name: "server asked to close", want: 0, build: seq(10, s2c, "Connection", "close")},
		{name: "server closed first", want: 0, build: seq(10, s2c)},
		{name: "HTTP/1.0 without keep-alive offers no persistence", want: 0, build: seq(10, c2s, ":proto", "HTTP/1.0")},
		{name: "pooled control: one connection, ten requests", want: 0,
			build: func(k *lcCap) {
				lc := k.open(cli, srv, 0, 1)
				for i := 0; i < 10; i++ {
					lc.get("/tiny.txt", 2+float64(i)*3, 1)
				}
				lc.closeFIN(c2s, 40)
			}},
		{name: "parallel one-shot connections are not sequential", want: 0,
			build: func(k *lcCap) {
				var lcs []*lcConn
				for i := 0; i < 8; i++ {
					lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i)*0.1, 1)
					lc.get("/", 2+float64(i)*0.1, 5)
					lcs = append(lcs, lc)
				}
				for i, lc := range lcs {
					lc.closeFIN(c2s, 20+float64(i)*0.1)
				}
			}},
		{name: "long idle between connections: reuse was not possible", want: 0,
			build: func(k *lcCap) {
				for i := 0; i < 10; i++ {
					oneShot(k, 40000+i, float64(i)*20000, c2s)
				}
			}},
	})
}

func TestParallelConnections(t *testing.T) {
	par := func(n int) func(k *lcCap) {
		return func(k *lcCap) {
			var lcs []*lcConn
			for i := 0; i < n; i++ {
				lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i), 1)
				lc.get("/ok?delay=400", 2+float64(i), 400)
				lcs = append(lcs, lc)
			}
			for i, lc := range lcs {
				lc.closeFIN(c2s, 410+float64(i))
			}
		}
	}
	runLC(t, "parallel-connections", []lcCase{
		{name: "ten concurrent", want: 1, build: par(10), says: []string{"10 connections were open at the same time (limit 6)"}},
		{name: "six is the limit (control)", want: 0, build: par(6)},
		{name: "ten sequential", want: 0, build: func(k *lcCap) {
			for i := 0; i < 10; i++ {
				oneShot(k, 40000+i, float64(i)*10, c2s)
			}
		}},
		{name: "refused attempts do not count", want: 0, build: func(k *lcCap) {
			for i := 0; i < 10; i++ {
				k.refused(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i))
			}
		}},
	})
}

func TestPortChurn(t *testing.T) {
	churn := func(n int, perSec float64, ports int, closer flow.Dir) func(k *lcCap) {
		return func(k *lcCap) {
			for i := 0; i < n; i++ {
				oneShot(k, 40000+i%ports, float64(i)*1000/perSec, closer)
			}
		}
	}
	runLC(t, "port-churn", []lcCase{
		{name: "600 connections per second from a 500-port range", want: 1, build: churn(1200, 600, 500, c2s),
			says: []string{"1200 connections closed in 2.00 s (600/s)", "held by the client", "runs out of ports to this server after 47.", "700 4-tuples were reused within 2×MSL"}},
		{name: "server holds TIME_WAIT", want: 1, build: churn(1200, 600, 28000, s2c), says: []string{"held by the server"}},
		{name: "slow churn (10/s) is fine", want: 0, build: churn(300, 10, 28000, c2s)},
		{name: "a short burst is no rate", want: 0, build: churn(99, 1000, 28000, c2s)},
		{name: "small range configured: reuse fires it", want: 1, build: churn(400, 5, 100, c2s),
			says: []string{"4-tuples were reused"}},
		{name: "reset connections leave no TIME_WAIT", want: 0, build: func(k *lcCap) {
			for i := 0; i < 1200; i++ {
				lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i%500), srv, float64(i)*1000/600, 1)
				lc.get("/", float64(i)*1000/600+1.5, 1)
				lc.rst(c2s, float64(i)*1000/600+3)
				lc.end(reassembly.EndRST)
			}
		}},
	})
}

// crossScenario builds connections whose ends tie, ending them in the order
// perm gives, and returns the cross-rule findings in a canonical text form.
func crossScenario(perm []int) []string {
	k := newLC(nil, "parallel-connections", "unsafe-retry", "no-connection-reuse", "port-churn")
	var lcs []*lcConn
	// 10 concurrent GETs that all end at t = 500 ms
	for i := 0; i < 10; i++ {
		lc := k.open(fmt.Sprintf("10.0.0.1:%d", 40000+i), srv, float64(i), 1)
		lc.get("/", 2+float64(i), 100)
		lcs = append(lcs, lc)
	}
	// two dead POSTs and their retries, also ending at 500 ms
	for i := 0; i < 4; i++ {
		lc := k.open(fmt.Sprintf("10.0.0.9:%d", 41000+i), srv, float64(i)*50, 1)
		q := lc.request("POST", "/p", float64(i)*50+2, 7)
		if i%2 == 0 {
			lc.rst(s2c, float64(i)*50+10)
			lc.settle(q, nil)
		} else {
			lc.response(q, 200, float64(i)*50+10, 1)
		}
		lcs = append(lcs, lc)
	}
	for _, i := range perm {
		lc := lcs[i]
		p := k.pos(500)
		lc.c.Last = p
		if lc.c.Halves[s2c].RST != nil {
			lc.end(reassembly.EndRST)
		} else {
			lc.end(reassembly.EndFIN)
		}
	}
	var out []string
	for _, f := range k.close().findings {
		var rel []string
		for _, r := range f.Related {
			rel = append(rel, fmt.Sprint(r.ID))
		}
		out = append(out, fmt.Sprintf("%s|%d|%s|%v|%s|%s", f.Rule, f.Conn.ID, f.Time.Format(time.RFC3339Nano), f.Frames, strings.Join(rel, ","), f.Message))
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
	want := crossScenario(base)
	if len(want) < 2 {
		t.Fatalf("scenario should fire parallel-connections and unsafe-retry, got %q", want)
	}
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 20; trial++ {
		perm := rng.Perm(n)
		got := crossScenario(perm)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("end order %v changed the findings:\n got %q\nwant %q", perm, got, want)
		}
	}
}

// churnFeed drives n short one-transaction connections from `clients`
// client IPs to one server at 1000 connections/s over a 28 232-port range,
// calling at every `every` connections.
func churnFeed(k *lcCap, n, clients, every int, at func(i int)) {
	for i := 0; i < n; i++ {
		ms := float64(i)
		lc := k.open(fmt.Sprintf("10.0.0.%d:%d", 1+i%clients, 32768+i%28232), srv, ms, 0.2)
		lc.get("/t", ms+0.3, 0.2)
		lc.closeFIN(c2s, ms+0.6)
		if at != nil && (i+1)%every == 0 {
			at(i + 1)
		}
	}
}

// TestCrossMemoryBounded checks the aggregator's stored items stay within
// CrossMaxEntries on a long churn, counting items, not bytes (bytes are the
// benchmark's business).
func TestCrossMemoryBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CrossMaxEntries = 500
	k := newLC(cfg, "parallel-connections", "unsafe-retry", "no-connection-reuse", "port-churn")
	churnFeed(k, 20000, 1, 1000, func(int) {
		for _, a := range k.e.aggs {
			cr := a.agg.(*crossRule)
			if cr.feed.h.Len() > crossFeedMax {
				t.Fatalf("%s: reorder buffer holds %d", a.rep.rule.ID, cr.feed.h.Len())
			}
		}
	})
	if got := len(k.close().byRule("port-churn")); got == 0 {
		t.Errorf("port-churn did not fire on 1000 connections/s")
	}
}

// BenchmarkCross100kConnections feeds 100 000 short connections (three
// clients, one server, 1000/s, the full rule set) and reports the live heap
// after each 10 000: it must stay flat, since connections are released at
// their end and the aggregator keeps bounded, windowed state.
func BenchmarkCross100kConnections(b *testing.B) {
	b.ReportAllocs()
	for it := 0; it < b.N; it++ {
		k := newLC(nil)
		var heaps []uint64
		var ms runtime.MemStats
		churnFeed(k, 100000, 3, 10000, func(int) {
			k.sink.findings = nil // the sink is not the aggregator
			runtime.GC()
			runtime.ReadMemStats(&ms)
			heaps = append(heaps, ms.HeapAlloc)
		})
		k.close()
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
