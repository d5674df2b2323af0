package proxy

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

// Issue 12: ordinary traffic of many clients to one server is no proxy
// (items 1 and 6), a proxy that forwards byte for byte from a second
// address is one (item 8), and the dumb-proxy hang shows without a second
// request (item 9). Each case has its near miss; the captures are
// testdata/trust/{two-curls-overlap,go-client-pool,ab-nginx-churn,
// dumbproxy-verbatim,dumbproxy-wait-close,smartproxy-wait-close}.

// legOutcome is what the proxy family made of a synthetic capture.
type legOutcome struct {
	chains, hop, dumb int
}

func outcome(t *testing.T, specs ...*legSpec) legOutcome {
	t.Helper()
	rec, sum := runLegs(t, specs...)
	return legOutcome{chains: len(sum.ProxyChains), hop: len(rec.ByRule(HopByHopForwarded.ID)), dumb: len(rec.ByRule(DumbProxyKeepAlive.ID))}
}

// curl10 is `curl --http1.0 -H 'Connection: keep-alive'` of /slowfirst:
// the request at ms, the response from resp.
func curl10(id uint64, client, server string, ms, resp float64) *legSpec {
	return &legSpec{id: id, client: client, server: server, syn: ms - 0.1, txs: [][2]*http1.Message{
		tx(lreq("GET", "/slowfirst", "HTTP/1.0", ms, "Host", server, "User-Agent", "curl/7.88.1", "Connection", "keep-alive"),
			lresp(200, resp, resp+0.05, "Content-Length", "3", "Connection", "keep-alive")),
	}, finClient: resp + 0.1, finServer: resp + 0.15}
}

func TestTrustProxyPairing(t *testing.T) {
	const srv = "127.0.0.1:8092"
	for _, c := range []struct {
		name  string
		specs func() []*legSpec
		want  legOutcome
	}{
		// item 1: the second curl's exchange nests inside the first's wait
		// (two-curls-overlap): the "upstream" is another client of the same
		// server, which cannot be its own origin
		{"two curls of one server, the second inside the first's wait", func() []*legSpec {
			return []*legSpec{curl10(1, "127.0.0.1:59616", srv, 0, 301), curl10(2, "127.0.0.1:59630", srv, 100.4, 100.6)}
		}, legOutcome{}},
		// near miss: a real proxy on the same host (127.0.0.1:3128 → :8092)
		// forwarding the same request is still paired
		{"proxy and origin on one host", func() []*legSpec {
			a := curl10(1, "127.0.0.1:59616", "127.0.0.1:3128", 0, 301)
			a.txs[0][0].Target = "http://" + srv + "/slowfirst"
			return []*legSpec{a, curl10(2, "127.0.0.1:59630", srv, 100.4, 100.6)}
		}, legOutcome{chains: 1, hop: 1}},
		// item 6: a Go client pool, four keep-alive connections, ten GETs
		// each, interleaved (go-client-pool)
		{"Go client pool of four connections", func() []*legSpec {
			var specs []*legSpec
			for i := 0; i < 4; i++ {
				s := &legSpec{id: uint64(i + 1), client: fmt.Sprintf("127.0.0.1:%d", 50820+2*i), server: "127.0.0.1:8102", syn: float64(i) * 0.05}
				for j := 0; j < 10; j++ {
					// the first connection's answers are slow: the
					// others' exchanges nest inside its waits
					ms, wait := float64(j)*1+float64(i)*0.2+0.1, 0.1
					if i == 0 {
						wait = 0.7
					}
					s.txs = append(s.txs, tx(lreq("GET", "/data", "HTTP/1.1", ms, "Host", "127.0.0.1:8102", "User-Agent", "Go-http-client/1.1"),
						lresp(200, ms+wait, ms+wait+0.05, "Content-Length", "100")))
				}
				specs = append(specs, s)
			}
			return specs
		}, legOutcome{}},
		// item 1, a proxy on another address: the upstream connection
		// already existed before the client's request (its SYN came first)
		// and nothing linked the two: not the proxy's side
		{"other address, upstream opened before the request", func() []*legSpec {
			a, b := dumbLegs()
			b.syn = -5
			b.txs[0][0].Target = "/other-host-path"
			a.txs[0][0].Target = "/other-host-path"
			a.txs[0][0].Headers = a.txs[0][0].Headers[1:] // origin-form, no Host
			return []*legSpec{a, b}
		}, legOutcome{dumb: 1}}, // only the one-leg warning: the upstream request came through a proxy (Via) with Keep-Alive
		// near miss: the same, opened after the request arrived
		{"other address, upstream opened for the request", func() []*legSpec {
			a, b := dumbLegs()
			b.txs[0][0].Target = "/other-host-path"
			a.txs[0][0].Target = "/other-host-path"
			a.txs[0][0].Headers = a.txs[0][0].Headers[1:]
			return []*legSpec{a, b}
		}, legOutcome{chains: 1, hop: 1, dumb: 1}},
		// item 17: the client leg's server direction is missing (a span
		// port seeing one way): its response cannot be compared, so no
		// pair and no hang judged on it
		{"client leg captured one way", func() []*legSpec {
			a, b := dumbLegs()
			a.oneWay, a.rstServer = true, 0
			a.txs[0][1] = nil
			return []*legSpec{a, b}
		}, legOutcome{dumb: 1}}, // the one-leg warning on the upstream request (Via + Keep-Alive)
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome(t, c.specs()...); got != c.want {
				t.Errorf("chains/hop-by-hop/dumb-proxy = %+v, want %+v", got, c.want)
			}
		})
	}
}

// A pooled upstream connection opened for the first request carries the
// second one too: the pairing of the first links the two connections.
func TestTrustProxyLinkedConnections(t *testing.T) {
	client := &legSpec{id: 1, client: "198.18.1.1:41751", server: "198.18.1.2:8080", txs: [][2]*http1.Message{
		tx(lreq("GET", "/a", "HTTP/1.1", 0, "Host", "o.example"), lresp(200, 41.1, 41.2)),
		tx(lreq("GET", "/b", "HTTP/1.1", 100, "Host", "o.example"), lresp(200, 141.1, 141.2)),
	}}
	up := &legSpec{id: 2, client: "198.18.2.1:53248", server: "198.18.2.2:8081", syn: 1, txs: [][2]*http1.Message{
		tx(lreq("GET", "/a", "HTTP/1.1", 21, "Host", "o.example", "Via", "1.1 p"), lresp(200, 41, 41.05)),
		tx(lreq("GET", "/b", "HTTP/1.1", 121, "Host", "o.example", "Via", "1.1 p"), lresp(200, 141, 141.05)),
	}}
	wantPairs(t, pairs(nil, client, up), "1/1>2/1", "1/2>2/2")
	// without the first transaction nothing shows the upstream connection
	// is the proxy's: the second stays unpaired
	client.txs, up.txs = client.txs[1:], up.txs[1:]
	wantPairs(t, pairs(nil, client, up))
}

// Item 8: dumbproxy -verbatim: the upstream request is the client's, byte
// for byte (absolute-form target, every header, no Via), sent from a second
// address.
func TestTrustVerbatimProxy(t *testing.T) {
	verbatim := func() (*legSpec, *legSpec) {
		a, b := dumbLegs()
		b.txs[0][0] = lreq("GET", "http://198.18.2.2:8081/tiny.txt", "HTTP/1.0", 21, "Host", "198.18.2.2:8081", "Connection", "Keep-Alive")
		return a, b
	}
	for _, c := range []struct {
		name  string
		specs func() []*legSpec
		want  legOutcome
	}{
		{"upstream opened after the request, to the named authority", func() []*legSpec {
			a, b := verbatim()
			return []*legSpec{a, b}
		}, legOutcome{chains: 1, hop: 1, dumb: 1}},
		// the authority names the upstream server even though the upstream
		// connection predates the request (a pooled connection)
		{"pooled upstream to the named authority", func() []*legSpec {
			a, b := verbatim()
			b.syn = -5
			return []*legSpec{a, b}
		}, legOutcome{chains: 1, hop: 1, dumb: 1}},
		// a NAT or mirror copy: origin-form, the outer connection was
		// established before the request: the same hop seen twice
		{"NAT copy: origin-form, upstream established before", func() []*legSpec {
			a, b := verbatim()
			a.txs[0][0] = lreq("GET", "/tiny.txt", "HTTP/1.0", 0, "Host", "198.18.2.2:8081", "Connection", "Keep-Alive")
			b.txs[0][0] = lreq("GET", "/tiny.txt", "HTTP/1.0", 21, "Host", "198.18.2.2:8081", "Connection", "Keep-Alive")
			b.syn = -5
			return []*legSpec{a, b}
		}, legOutcome{}},
		// absolute-form naming another server, upstream established before
		{"absolute-form naming another endpoint, upstream established before", func() []*legSpec {
			a, b := verbatim()
			a.txs[0][0].Target = "http://198.18.2.2:9999/tiny.txt"
			b.txs[0][0].Target = "http://198.18.2.2:9999/tiny.txt"
			b.syn = -5
			return []*legSpec{a, b}
		}, legOutcome{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := outcome(t, c.specs()...); got != c.want {
				t.Errorf("chains/hop-by-hop/dumb-proxy = %+v, want %+v", got, c.want)
			}
		})
	}
	for _, c := range []struct {
		auth, ep string
		want     bool
	}{
		{"198.18.2.2:8081", "198.18.2.2:8081", true},
		{"198.18.2.2", "198.18.2.2:80", true},
		{"198.18.2.2", "198.18.2.2:8080", false},
		{"[::1]:8080", "[::1]:8080", true},
		{"[::1]", "[::1]:80", true},
		{"origin.example", "198.18.2.2:80", false},
	} {
		a, _, _ := splitTarget("http://"+c.auth+"/", "")
		if got := authorityIs(a, mustAP(c.ep)); got != c.want {
			t.Errorf("authorityIs(%q, %s) = %v", a, c.ep, got)
		}
	}
}

// Item 9: one request, no second; the proxy closes the client leg only
// when the origin's idle timer closed upstream (dumbproxy-wait-close).
func TestTrustDumbProxyWaitClose(t *testing.T) {
	waitClose := func() (*legSpec, *legSpec) {
		a, b := dumbLegs()
		a.txs = a.txs[:1]
		a.finClient, a.rstServer = 3042, 0
		a.finServer = 3041.3 // 0.3 ms after the origin's FIN
		b.finServer, b.finClient = 3041, 3041.2
		return a, b
	}
	for _, c := range []struct {
		name   string
		change func(a, b *legSpec)
		want   int
	}{
		{"proxy closes right after the origin", func(a, b *legSpec) {}, 1},
		// haproxy: closes the idle client leg on its own 1 s timer, 2 s
		// before the origin closes (smartproxy-wait-close)
		{"smart proxy closes on its own timer first", func(a, b *legSpec) { a.finServer, a.finClient = 1041, 1042 }, 0},
		// the proxy's close long after the origin's: unrelated
		{"proxy closes long after the origin", func(a, b *legSpec) { a.finServer, a.finClient = 4041, 4042 }, 0},
		// the client hung up first
		{"client closed first", func(a, b *legSpec) { a.finClient, a.finServer = 2000, 3041.3 }, 0},
		// the origin closed quickly: nobody waited the minimum hang
		{"short wait", func(a, b *legSpec) {
			b.finServer, b.finClient, a.finServer, a.finClient = 541, 541.2, 541.3, 542
		}, 0},
		// the proxy gave up on the origin (its FIN upstream first)
		{"proxy closed upstream first", func(a, b *legSpec) { b.finClient, b.finServer = 3040, 3041 }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, b := waitClose()
			c.change(a, b)
			rec, _ := runLegs(t, a, b)
			fs := rec.ByRule(DumbProxyKeepAlive.ID)
			if len(fs) != c.want {
				t.Fatalf("findings: %d, want %d: %v", len(fs), c.want, fs)
			}
			if c.want == 0 {
				return
			}
			f := fs[0]
			if f.Attrs["gave_up"] != "proxy" || f.Attrs["stalled_tx"] != 1 || f.Severity != analyze.Error {
				t.Errorf("attrs %v", f.Attrs)
			}
			if h, _ := f.Attrs["hang_s"].(float64); h < 2.99 || h > 3.01 {
				t.Errorf("hang_s %v", f.Attrs["hang_s"])
			}
		})
	}
}

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
