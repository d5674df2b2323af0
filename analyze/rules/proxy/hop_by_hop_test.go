package proxy

import (
	"slices"
	"testing"

	"github.com/connlint/connlint/analyze"
	"github.com/connlint/connlint/reassembly/http1"
)

// hopLegs: a client request and its upstream copy with the given headers
// (the response carries respC on the upstream leg and respP on the client leg).
func hopLegs(proto string, reqC, reqU, respU, respC []string, status int) []*legSpec {
	return []*legSpec{
		{id: 1, client: "10.0.0.1:50000", server: proxyIn, txs: [][2]*http1.Message{
			tx(lreq("GET", "http://o.example/x", proto, 0, reqC...), lresp(status, 21, 22, respC...))}},
		{id: 2, client: proxyOut, server: origin, txs: [][2]*http1.Message{
			tx(lreq("GET", "/x", proto, 2, reqU...), lresp(status, 20, 20.5, respU...))}},
	}
}

func TestHopByHopForwardedNamesHeaders(t *testing.T) {
	hop := []string{"Connection", "close, X-Hop", "Keep-Alive", "timeout=5, max=10", "Proxy-Connection", "keep-alive",
		"TE", "trailers", "Upgrade", "websocket", "X-Hop", "1", "Proxy-Authorization", "Basic eA=="}
	rec, _ := runLegs(t, hopLegs("HTTP/1.1", hop, append([]string{"Via", "1.0 dumb"}, hop...), nil, nil, 200)...)
	fs := rec.ByRule(HopByHopForwarded.ID)
	if len(fs) != 1 {
		t.Fatalf("findings: %v", fs)
	}
	f := fs[0]
	want := []string{"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Upgrade", "Proxy-Authorization", "X-Hop"}
	if hop, _ := f.Attrs["request_hop"].([]string); !slices.Equal(hop, want) || f.Attrs["proxy"] != "10.0.0.2:3128" ||
		f.Conn.ID != 0 || len(f.Related) != 2 || f.Related[1].ID != 2 || f.Severity != analyze.Error {
		t.Errorf("finding %+v\nwant request_hop %q", f, want)
	}
}

// What a proxy legitimately sends for its own hop is not a forwarded header.
func TestHopByHopForwardedSilent(t *testing.T) {
	for name, legs := range map[string][]*legSpec{
		// haproxy: HTTP/1.0 client keep-alive, its own lower-case connection: keep-alive upstream
		"haproxy-regenerated": hopLegs("HTTP/1.0", []string{"Connection", "Keep-Alive"}, []string{"connection", "keep-alive"},
			[]string{"Connection", "keep-alive"}, []string{"connection", "keep-alive"}, 200),
		// nginx: Connection: close on both legs, nothing else — indistinguishable from its own
		"close-only": hopLegs("HTTP/1.1", []string{"Connection", "close"}, []string{"Connection", "close"},
			[]string{"Connection", "close"}, []string{"Connection", "close"}, 200),
		// HTTP/1.1 keep-alive is the proxy's own business
		"keep-alive-1.1": hopLegs("HTTP/1.1", []string{"Connection", "keep-alive"}, []string{"Connection", "keep-alive"}, nil, nil, 200),
		// a proxy announcing its own Keep-Alive on the response
		"own-keep-alive": hopLegs("HTTP/1.1", nil, nil, []string{"Keep-Alive", "timeout=60"}, []string{"Keep-Alive", "timeout=5"}, 200),
		// TE the proxy added itself (not on the client's request)
		"own-te": hopLegs("HTTP/1.1", nil, []string{"TE", "trailers"}, nil, nil, 200),
		// a WebSocket upgrade that happened on both legs was meant
		"upgrade-101": hopLegs("HTTP/1.1", []string{"Connection", "Upgrade", "Upgrade", "websocket"},
			[]string{"Connection", "Upgrade", "Upgrade", "websocket"}, []string{"Connection", "Upgrade", "Upgrade", "websocket"},
			[]string{"Connection", "Upgrade", "Upgrade", "websocket"}, 101),
		// responses that carry Via
		"via": hopLegs("HTTP/1.1", nil, []string{"Via", "1.1 p"}, []string{"Via", "1.1 o"}, []string{"Via", "1.1 o, 1.1 p"}, 200),
	} {
		rec, _ := runLegs(t, legs...)
		if fs := rec.ByRule(HopByHopForwarded.ID); len(fs) != 0 {
			t.Errorf("%s: %s", name, fs[0].Message)
		}
		if fs := rec.ByRule(DumbProxyKeepAlive.ID); len(fs) != 0 {
			t.Errorf("%s: dumb-proxy-keepalive: %s", name, fs[0].Message)
		}
	}
}

// The response direction: the origin's Connection: keep-alive and
// Keep-Alive copied byte for byte to an HTTP/1.0 client.
func TestHopByHopForwardedResponse(t *testing.T) {
	ka := []string{"Connection", "Keep-Alive", "Keep-Alive", "timeout=5, max=100"}
	rec, _ := runLegs(t, hopLegs("HTTP/1.0", []string{"Connection", "Keep-Alive"}, []string{"connection", "keep-alive"}, ka, ka, 200)...)
	fs := rec.ByRule(HopByHopForwarded.ID)
	if len(fs) != 1 {
		t.Fatalf("findings: %v", fs)
	}
	// back to the client of connection 1 (10.0.0.1:50000)
	f := fs[0]
	if hop, _ := f.Attrs["response_hop"].([]string); !slices.Equal(hop, []string{"Connection", "Keep-Alive"}) ||
		f.Related[0].ID != 1 || f.Related[0].Client.String() != "10.0.0.1:50000" {
		t.Fatalf("finding %+v", f)
	}
}
