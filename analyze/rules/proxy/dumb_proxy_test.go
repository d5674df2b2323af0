package proxy

import (
	"testing"
	"time"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

// The lab's shape: HTTP/1.0 Keep-Alive through a proxy that relays it
// verbatim; nginx keeps the upstream connection open; the client's second
// request is never answered and the client gives up after 2 s.
func dumbLegs() (*legSpec, *legSpec) {
	client := &legSpec{id: 1, client: "198.18.1.1:41751", server: "198.18.1.2:8080", txs: [][2]*http1.Message{
		tx(lreq("GET", "http://198.18.2.2:8081/tiny.txt", "HTTP/1.0", 0, "Host", "198.18.2.2:8081", "Connection", "Keep-Alive"),
			lresp(200, 41.1, 41.2, "Content-Length", "6", "Connection", "keep-alive")),
		tx(lreq("GET", "http://198.18.2.2:8081/4k.txt", "HTTP/1.0", 141, "Host", "198.18.2.2:8081", "Connection", "Keep-Alive"), nil),
	}, finClient: 2142, rstServer: 3100}
	up := &legSpec{id: 2, client: "198.18.2.1:53248", server: "198.18.2.2:8081", txs: [][2]*http1.Message{
		tx(lreq("GET", "/tiny.txt", "HTTP/1.0", 21, "Via", "1.0 dumbproxy", "Host", "198.18.2.2:8081", "Connection", "Keep-Alive"),
			lresp(200, 41, 41.05, "Content-Length", "6", "Connection", "keep-alive")),
	}, finServer: 3041, syn: 20.5} // the proxy connected once the request arrived
	return client, up
}

func TestDumbProxyHangClientGaveUp(t *testing.T) {
	client, up := dumbLegs()
	rec, sum := runLegs(t, client, up)
	fs := rec.ByRule(DumbProxyKeepAlive.ID)
	if len(fs) != 1 {
		t.Fatalf("findings: %d %v", len(fs), fs)
	}
	f := fs[0]
	want := 2142*time.Millisecond - 141010*time.Microsecond // request 2's last byte → client FIN
	if f.Severity != analyze.Error || f.Duration != want || f.Related[0].ID != 1 || f.Attrs["stalled_tx"] != 2 || f.Attrs["gave_up"] != "client" {
		t.Errorf("finding = %+v", f)
	}
	if f.Attrs["proxy"] != "198.18.1.2:8080" || f.Attrs["origin_keepalive_s"] != nil {
		t.Errorf("attrs: %v", f.Attrs)
	}
	if len(sum.ProxyChains) != 1 || sum.ProxyChains[0].ClientConn != 1 || sum.ProxyChains[0].OriginConn != 2 {
		t.Errorf("chains: %+v", sum.ProxyChains)
	}
	// and the forwarded Connection: Keep-Alive (HTTP/1.0 both legs)
	if hs := rec.ByRule(HopByHopForwarded.ID); len(hs) != 1 {
		t.Errorf("hop-by-hop: %v", hs)
	} else if hop, _ := hs[0].Attrs["request_hop"].([]string); len(hop) == 0 || hop[0] != "Connection" {
		t.Errorf("hop-by-hop request_hop: %v", hs[0].Attrs)
	}
}

func TestDumbProxyHangOriginClosedFirst(t *testing.T) {
	client, up := dumbLegs()
	client.finClient, client.rstServer = 0, 0
	client.finServer = 2045 // the proxy closes once the origin did
	up.finServer = 2041
	rec, _ := runLegs(t, client, up)
	fs := rec.ByRule(DumbProxyKeepAlive.ID)
	if len(fs) != 1 || fs[0].Attrs["gave_up"] != "proxy" {
		t.Fatalf("findings: %v", fs)
	}
	// the origin closed its idle connection 2041 − 41.05 ms after the response
	if ka, _ := fs[0].Attrs["origin_keepalive_s"].(float64); ka < 1.99 || ka > 2.0 {
		t.Errorf("origin_keepalive_s %v", fs[0].Attrs["origin_keepalive_s"])
	}
}

// Silent: a well-behaved proxy (answers the second request), an origin that
// closed right after the response, a client that asked for nothing.
func TestDumbProxyHangSilent(t *testing.T) {
	client, up := dumbLegs()
	client.txs[1][1] = lresp(200, 180, 181)
	client.finClient, client.rstServer = 200, 0
	rec, _ := runLegs(t, client, up)
	if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
		t.Errorf("answered: %v", fs[0].Message)
	}

	client, up = dumbLegs()
	up.finServer = 42 // origin closed: the proxy would have finished
	rec, _ = runLegs(t, client, up)
	if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
		t.Errorf("origin closed: %v", fs[0].Message)
	}

	client, up = dumbLegs()
	client.txs[0][0].Headers = client.txs[0][0].Headers[:1] // no Keep-Alive asked
	up.txs[0][0].Headers = up.txs[0][0].Headers[:2]
	rec, _ = runLegs(t, client, up)
	if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
		t.Errorf("no keep-alive: %v", fs[0].Message)
	}
}

func TestDumbProxyOneLeg(t *testing.T) {
	at := func(q *http1.Message) *legSpec {
		return &legSpec{id: 1, client: "10.0.0.2:40001", server: "10.0.0.9:80", txs: [][2]*http1.Message{tx(q, lresp(200, 10, 11))}}
	}
	// the precondition at the origin: warning, not error
	rec, _ := runLegs(t, at(lreq("GET", "/", "HTTP/1.0", 0, "Via", "1.0 squid", "Connection", "Keep-Alive")))
	fs := rec.ByRule(DumbProxyKeepAlive.ID)
	if len(fs) != 1 || fs[0].Severity != analyze.Warning || fs[0].Attrs["one_leg"] != true || fs[0].Attrs["kept"] != "Connection: Keep-Alive" {
		t.Fatalf("one leg: %v", fs)
	}
	rec, _ = runLegs(t, at(lreq("GET", "/", "HTTP/1.1", 0, "Proxy-Connection", "keep-alive")))
	if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 1 {
		t.Errorf("Proxy-Connection at the origin: %v", fs)
	}
	for name, q := range map[string]*http1.Message{
		// HTTP/1.1 through a load balancer that keeps its own keep-alive
		"xff-1.1": lreq("GET", "/", "HTTP/1.1", 0, "X-Forwarded-For", "1.2.3.4", "Connection", "keep-alive"),
		// the client→proxy leg: Proxy-Connection to a proxy is legitimate
		"client-leg": lreq("GET", "http://o.example/", "HTTP/1.0", 0, "Proxy-Connection", "Keep-Alive", "Via", "1.0 x"),
		// no sign of a proxy
		"direct": lreq("GET", "/", "HTTP/1.0", 0, "Connection", "Keep-Alive"),
		// a tunnel
		"connect": lreq("CONNECT", "o.example:443", "HTTP/1.1", 0, "Proxy-Connection", "keep-alive"),
	} {
		rec, _ := runLegs(t, at(q))
		if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
			t.Errorf("%s: %s", name, fs[0].Message)
		}
	}
	// a response that merely carries Via
	rec, _ = runLegs(t, &legSpec{id: 1, client: "10.0.0.1:40001", server: "10.0.0.2:3128", txs: [][2]*http1.Message{
		tx(lreq("GET", "/", "HTTP/1.1", 0), lresp(200, 10, 11, "Via", "1.1 squid", "Connection", "keep-alive")),
	}})
	if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
		t.Errorf("response Via: %s", fs[0].Message)
	}
}
