package proxy

import (
	"fmt"
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

func TestLegPairAbsoluteVsOriginForm(t *testing.T) {
	client := &legSpec{id: 1, client: "10.0.0.1:50000", server: proxyIn, txs: [][2]*http1.Message{
		tx(lreq("GET", "http://Origin.example:80/a?x=1", "HTTP/1.1", 0, "Host", "origin.example"), lresp(200, 30, 31, "Content-Length", "5")),
	}}
	up := &legSpec{id: 2, client: proxyOut, server: origin, txs: [][2]*http1.Message{
		tx(lreq("GET", "/a?x=1", "HTTP/1.1", 2, "Host", "origin.example", "Via", "1.1 proxy"), lresp(200, 20, 21, "Content-Length", "5")),
	}}
	wantPairs(t, pairs(nil, client, up), "1/1>2/1")

	// the chain: what each hop added
	a, b := client.summary().Data[LegsPass.Name].(*legConn).txs[0], up.summary().Data[LegsPass.Name].(*legConn).txs[0]
	a.conn.fillConn(client.summary())
	b.conn.fillConn(up.summary())
	ch := newProxyChain(a, b)
	if ch.ProxyInDelay != 2*time.Millisecond || ch.OriginDelay != 18*time.Millisecond-10*time.Microsecond ||
		ch.ProxyOutDelay != 10*time.Millisecond || ch.Total != 31*time.Millisecond || !ch.Answered {
		t.Errorf("chain = %+v", ch)
	}
	// a different path or body length is another transaction
	up.txs[0][0].Target = "/a?x=2"
	wantPairs(t, pairs(nil, client, up))
	up.txs[0][0].Target = "/a?x=1"
	up.txs[0][0].BodyLength = 3
	wantPairs(t, pairs(nil, client, up))
}

// Three clients ask the proxy for the same URL at once; it forwards them out
// of order on three upstream connections. Each pairs with the copy whose
// request and response timing fit.
func TestLegPairSeveralClientsAtOnce(t *testing.T) {
	get := func(ms float64) *http1.Message {
		return lreq("GET", "http://o.example/same", "HTTP/1.1", ms, "Host", "o.example")
	}
	up := func(ms float64) *http1.Message { return lreq("GET", "/same", "HTTP/1.1", ms, "Host", "o.example") }
	specs := []*legSpec{
		{id: 1, client: "10.0.0.11:50000", server: proxyIn, txs: [][2]*http1.Message{tx(get(0), lresp(200, 13, 13.5))}},
		{id: 2, client: "10.0.0.12:50000", server: proxyIn, txs: [][2]*http1.Message{tx(get(1), lresp(200, 11, 11.5))}},
		{id: 3, client: "10.0.0.13:50000", server: proxyIn, txs: [][2]*http1.Message{tx(get(2), lresp(200, 15, 15.5))}},
		{id: 4, client: "10.0.0.2:40001", server: origin, txs: [][2]*http1.Message{tx(up(3), lresp(200, 10, 10.5))}},  // B's
		{id: 5, client: "10.0.0.2:40002", server: origin, txs: [][2]*http1.Message{tx(up(4), lresp(200, 12, 12.5))}},  // A's
		{id: 6, client: "10.0.0.2:40003", server: origin, txs: [][2]*http1.Message{tx(up(5), lresp(200, 14, 14.5))}},  // C's
		{id: 7, client: "10.0.0.77:40003", server: origin, txs: [][2]*http1.Message{tx(up(6), lresp(200, 14, 14.5))}}, // another client of the origin
	}
	wantPairs(t, pairs(nil, specs...), "1/1>5/1", "2/1>4/1", "3/1>6/1")
}

// Responses cross: the proxy forwards /slow then /fast on one pooled
// upstream connection pair, /fast comes back first; and the same with two
// identical requests, where only the timing tells them apart.
func TestLegPairResponsesCross(t *testing.T) {
	specs := []*legSpec{
		{id: 1, client: "10.0.0.11:50000", server: proxyIn, txs: [][2]*http1.Message{
			tx(lreq("GET", "http://o.example/slow", "HTTP/1.1", 0), lresp(200, 51, 52))}},
		{id: 2, client: "10.0.0.12:50000", server: proxyIn, txs: [][2]*http1.Message{
			tx(lreq("GET", "http://o.example/fast", "HTTP/1.1", 1), lresp(200, 6, 7))}},
		{id: 3, client: proxyOut, server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", "/slow", "HTTP/1.1", 2, "Host", "o.example"), lresp(200, 50, 51))}},
		{id: 4, client: "10.0.0.2:40002", server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", "/fast", "HTTP/1.1", 3, "Host", "o.example"), lresp(200, 5, 5.5))}},
	}
	wantPairs(t, pairs(nil, specs...), "1/1>3/1", "2/1>4/1")

	same := []*legSpec{
		{id: 1, client: "10.0.0.11:50000", server: proxyIn, txs: [][2]*http1.Message{
			tx(lreq("GET", "http://o.example/x", "HTTP/1.1", 0), lresp(200, 21, 22))}},
		{id: 2, client: "10.0.0.12:50000", server: proxyIn, txs: [][2]*http1.Message{
			tx(lreq("GET", "http://o.example/x", "HTTP/1.1", 1), lresp(200, 6, 7))}},
		{id: 3, client: proxyOut, server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", "/x", "HTTP/1.1", 2, "Host", "o.example"), lresp(200, 20, 21))}},
		{id: 4, client: "10.0.0.2:40002", server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", "/x", "HTTP/1.1", 3, "Host", "o.example"), lresp(200, 5, 5.5))}},
	}
	wantPairs(t, pairs(nil, same...), "1/1>3/1", "2/1>4/1")
}

// A reverse proxy rewrites Host (www.example.com → backend:8080); the pair
// still forms, and a candidate whose Host matches ranks first.
func TestLegPairHostRewrite(t *testing.T) {
	client := &legSpec{id: 1, client: "10.0.0.1:50000", server: "10.0.0.2:80", txs: [][2]*http1.Message{
		tx(lreq("POST", "/api/v1", "HTTP/1.1", 0, "Host", "www.example.com"), lresp(201, 30, 31)),
	}}
	client.txs[0][0].BodyLength = 12
	up := &legSpec{id: 2, client: "10.0.0.2:40001", server: "10.0.0.9:8080", txs: [][2]*http1.Message{
		tx(lreq("POST", "/api/v1", "HTTP/1.1", 2, "Host", "backend:8080", "X-Forwarded-For", "10.0.0.1"), lresp(201, 20, 21)),
	}}
	up.txs[0][0].BodyLength = 12
	wantPairs(t, pairs(nil, client, up), "1/1>2/1")

	same := &legSpec{id: 3, client: "10.0.0.2:40002", server: "10.0.0.8:80", txs: [][2]*http1.Message{
		tx(lreq("POST", "/api/v1", "HTTP/1.1", 3, "Host", "www.example.com"), lresp(201, 22, 23)),
	}}
	same.txs[0][0].BodyLength = 12
	wantPairs(t, pairs(nil, client, up, same), "1/1>3/1")
}

// The proxy talks upstream from another address (two interfaces, as in the
// lab): a unique match pairs, an ambiguous one does not.
func TestLegPairOtherProxyAddress(t *testing.T) {
	client := &legSpec{id: 1, client: "198.18.1.1:41751", server: "198.18.1.2:8080", txs: [][2]*http1.Message{
		tx(lreq("GET", "http://198.18.2.2:8081/tiny.txt", "HTTP/1.0", 0, "Connection", "Keep-Alive"), lresp(200, 41.1, 41.2)),
	}}
	up := &legSpec{id: 2, client: "198.18.2.1:53248", server: "198.18.2.2:8081", txs: [][2]*http1.Message{
		tx(lreq("GET", "/tiny.txt", "HTTP/1.0", 21, "Via", "1.0 dumbproxy", "Connection", "Keep-Alive"), lresp(200, 41, 41.05)),
	}, syn: 1}
	wantPairs(t, pairs(nil, client, up), "1/1>2/1")

	// a second upstream copy from yet another address: ambiguous, no pair
	up2 := &legSpec{id: 3, client: "198.18.3.1:53248", server: "198.18.2.2:8081", txs: [][2]*http1.Message{
		tx(lreq("GET", "/tiny.txt", "HTTP/1.0", 22, "Via", "1.0 other"), lresp(200, 40, 40.05)),
	}, syn: 1.5}
	wantPairs(t, pairs(nil, client, up, up2))

	// a client that gave up and retried on a new connection: the abandoned
	// request and the retry could both be leg 1; the retry's timing wins
	gaveUp := &legSpec{id: 4, client: "198.18.1.1:41760", server: "198.18.1.2:8080", txs: [][2]*http1.Message{
		tx(lreq("GET", "http://198.18.2.2:8081/4k.txt", "HTTP/1.0", 100), nil),
	}, finClient: 2100}
	retry := &legSpec{id: 5, client: "198.18.1.1:41761", server: "198.18.1.2:8080", txs: [][2]*http1.Message{
		tx(lreq("GET", "http://198.18.2.2:8081/4k.txt", "HTTP/1.0", 2101), lresp(200, 2141.2, 2142)),
	}}
	upRetry := &legSpec{id: 6, client: "198.18.2.1:53250", server: "198.18.2.2:8081", txs: [][2]*http1.Message{
		tx(lreq("GET", "/4k.txt", "HTTP/1.0", 2121, "Via", "1.0 dumbproxy"), lresp(200, 2141, 2141.5)),
	}, syn: 2101.5}
	wantPairs(t, pairs(nil, gaveUp, retry, upRetry), "5/1>6/1")

	// NAT: the same bytes between other addresses is not a proxy
	nat := &legSpec{id: 7, client: "192.168.1.5:41751", server: "198.18.9.9:80", txs: [][2]*http1.Message{
		tx(lreq("GET", "/n", "HTTP/1.1", 0, "Host", "n.example"), lresp(200, 10, 11)),
	}}
	natOut := &legSpec{id: 8, client: "203.0.113.1:61000", server: "198.18.9.8:80", txs: [][2]*http1.Message{
		tx(lreq("GET", "/n", "HTTP/1.1", 1, "Host", "n.example"), lresp(200, 9, 9.5)),
	}}
	wantPairs(t, pairs(nil, nat, natOut))
}

func TestLegPairSilent(t *testing.T) {
	mk := func(cStart, uStart, uResp, cResp float64) (*legSpec, *legSpec) {
		return &legSpec{id: 1, client: "10.0.0.1:50000", server: proxyIn, txs: [][2]*http1.Message{
				tx(lreq("GET", "http://o.example/a", "HTTP/1.1", cStart), lresp(200, cResp, cResp+1)),
			}}, &legSpec{id: 2, client: proxyOut, server: origin, txs: [][2]*http1.Message{
				tx(lreq("GET", "/a", "HTTP/1.1", uStart, "Host", "o.example"), lresp(200, uResp, uResp+1)),
			}}
	}
	// the upstream request left before the client's arrived
	wantPairs(t, pairs(nil, func() []*legSpec { a, b := mk(5, 2, 10, 12); return []*legSpec{a, b} }()...))
	// the client got its response before the origin sent one
	wantPairs(t, pairs(nil, func() []*legSpec { a, b := mk(0, 2, 10, 8); return []*legSpec{a, b} }()...))
	// beyond ProxyLegWindow
	cfg := analyze.DefaultConfig()
	cfg.ProxyLegWindow = time.Millisecond
	wantPairs(t, pairs(cfg, func() []*legSpec { a, b := mk(0, 2, 10, 12); return []*legSpec{a, b} }()...))
	// a capture gap on either leg
	a, b := mk(0, 2, 10, 12)
	b.gap = true
	wantPairs(t, pairs(nil, a, b))
	// the statuses disagree (the proxy answered itself)
	a, b = mk(0, 2, 10, 12)
	a.txs[0][1].Status = 502
	wantPairs(t, pairs(nil, a, b))
	// CONNECT is a tunnel, never a leg
	c := &legSpec{id: 1, client: "10.0.0.1:50000", server: proxyIn, txs: [][2]*http1.Message{
		tx(lreq("CONNECT", "o.example:443", "HTTP/1.1", 0), lresp(200, 5, 5)),
	}}
	if got := c.summary().Data[LegsPass.Name].(*legConn).txs; len(got) != 0 {
		t.Errorf("CONNECT collected: %d", len(got))
	}
}

// Memory stays bounded by CrossMaxEntries however many connections come.
func TestLegPairBounded(t *testing.T) {
	cfg := analyze.DefaultConfig()
	cfg.CrossMaxEntries = 10
	p := newLegPairer(cfg)
	for i := 0; i < 500; i++ {
		s := &legSpec{id: uint64(i + 1), client: fmt.Sprintf("10.0.%d.%d:5000", i/200, i%200+1), server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", fmt.Sprintf("/u%d", i), "HTTP/1.1", float64(i)), lresp(200, float64(i)+0.5, float64(i)+0.6)),
		}}
		p.add(s.summary(), legsData(s.summary()))
		if p.stored > 10 || len(p.queue) > 10 || len(p.index) > 10 {
			t.Fatalf("after %d: stored %d, queue %d, keys %d", i, p.stored, len(p.queue), len(p.index))
		}
	}
	p.flush()
	if p.stored != 0 || len(p.index) != 0 {
		t.Errorf("after flush: stored %d, keys %d", p.stored, len(p.index))
	}
}

func TestSplitTarget(t *testing.T) {
	for _, c := range []struct{ target, host, auth, path string }{
		{"http://Example.COM:80/a?b", "", "example.com", "/a?b"},
		{"http://example.com", "", "example.com", "/"},
		{"http://u:p@example.com:8080?q", "", "example.com:8080", "/?q"},
		{"https://example.com:443/x", "", "example.com", "/x"},
		{"/x", "Example.com:80", "example.com", "/x"},
	} {
		a, p, _ := splitTarget(c.target, c.host)
		if a != c.auth || p != c.path {
			t.Errorf("splitTarget(%q, %q) = %q %q, want %q %q", c.target, c.host, a, p, c.auth, c.path)
		}
	}
}

// legsData is the collector's record on a summary, as the pass reads it.
func legsData(s *analyze.ConnSummary) *legConn {
	c, _ := s.Data[LegsPass.Name].(*legConn)
	return c
}
