package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryRuleFiresAndHasANearMiss: for every rule, one capture where it
// must fire and one near miss where it must stay silent — lab recordings
// from real programs first, third-party corpus captures where they show the
// case better. (labtest checks the same lab captures against the
// generator's truth files, with timings; this is the per-rule index.)
func TestEveryRuleFiresAndHasANearMiss(t *testing.T) {
	lab := func(name string) string { return filepath.Join("..", "..", "testdata", "lab", name+".pcap") }
	corpus := func(p string) string { return "corpus:/" + p }
	tlsCap := func(name string) string { return filepath.Join("..", "..", "testdata", "tls", name+".pcap") }
	cases := []struct {
		rule       string
		fires      string
		nearMiss   string
		whyNearMis string
	}{
		{"content-length-mismatch", lab("content-length-mismatch"), lab("unframed-close-delimited"), "a close-delimited body ended by the server's FIN is complete"},
		{"conflicting-framing", lab("conflicting-framing"), corpus("zeek/traces/http/fake-content-length.pcap"), "a decoy Content-Len header is not Content-Length"},
		{"body-on-bodiless-response", lab("body-on-bodiless-response"), corpus("arkime/http-500-head.pcap"), "a HEAD answered without body bytes"},
		{"unframed-persistent-response", lab("unframed-persistent-response"), lab("unframed-close-delimited"), "the server closes right after the unframed body"},
		{"pipelining", lab("pipelining"), corpus("zeek/traces/http/pipelined-requests.pcap"), "keep-alive reuse, each request after the previous response"},
		{"pipelined-unsafe-method", lab("pipelined-unsafe-method"), lab("pipelining"), "pipelined GETs only"},
		{"request-after-close", lab("request-after-close"), corpus("zeek/traces/http/version-mismatch.pcap"), "the close comes on the last response"},
		{"unsolicited-response", corpus("zeek/traces/http/http-desync-request-response-5.pcap"), corpus("suricata-verify/tcp-stream-after-swap/http-start-from-response.pcap"), "mid-stream: the first response's request precedes the capture"},
		{"inconsistent-overlap", corpus("zeek/traces/tcp/qi_internet_SYNACK_curl_jsonip.pcap"), corpus("zeek/traces/http/m57-long-49583-80.pcap"), "every packet twice, identical"},
		{"delayed-ack-stall", lab("delayed-ack-stall"), lab("delayed-ack-stall-quickack"), "the receiver ACKs at once"},
		{"nagle-delayed-ack", lab("nagle-delayed-ack"), lab("nagle-delayed-ack-nodelay"), "TCP_NODELAY"},
		{"handshake-overhead", lab("handshake-overhead"), lab("nagle-delayed-ack"), "twelve transactions on one connection"},
		{"slow-start-fresh-connection", lab("slow-start-fresh-connection"), lab("no-connection-reuse-pooled"), "small responses on one warm connection"},
		{"abortive-close", lab("abortive-close"), corpus("zeek/traces/http/m57-long-49583-80.pcap"), "RST after both FINs, everything acknowledged"},
		{"keepalive-race", lab("keepalive-race"), lab("no-connection-reuse-pooled"), "reuse well inside the server's timeout"},
		{"keepalive-misuse", corpus("arkime/http-wrapped-header.pcap"), corpus("zeek/traces/http/pipelined-requests.pcap"), "ordinary Keep-Alive headers"},
		{"unsafe-retry", lab("unsafe-retry"), lab("retry-idempotent"), "a GET retried"},
		{"no-connection-reuse", lab("no-connection-reuse"), lab("no-connection-reuse-pooled"), "one pooled connection"},
		{"parallel-connections", lab("parallel-connections"), lab("parallel-connections-six"), "exactly six at once"},
		{"port-churn", lab("port-churn"), lab("no-connection-reuse"), "ten short connections"},
		{"hop-by-hop-forwarded", lab("hop-by-hop-forwarded"), lab("hop-by-hop-squid"), "squid strips hop-by-hop headers"},
		{"tls-full-handshake-repeated", tlsCap("nginx-tls12-full-repeated"), tlsCap("nginx-tls12-resumed"), "curl's session cache resumes the TLS 1.2 session on every new connection"},
		{"dumb-proxy-keepalive", lab("dumb-proxy-keepalive"), lab("dumb-proxy-keepalive-squid"), "squid answers the HTTP/1.0 keep-alive client properly"},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.rule] = true
		t.Run(c.rule, func(t *testing.T) {
			for _, probe := range []struct {
				path string
				fire bool
			}{{c.fires, true}, {c.nearMiss, false}} {
				path := probe.path
				if rest, ok := cutPrefix(path, "corpus:/"); ok {
					path = filepath.Join(sharedDir(t, "corpus"), rest)
				}
				if _, err := os.Stat(path); err != nil {
					t.Skipf("%s: %v", path, err)
				}
				doc, code, stderr := analyzeJSON(t, path)
				if code != 0 {
					t.Fatalf("%s: exit %d %s", path, code, stderr)
				}
				n := doc.Summary.FindingsByRule[c.rule]
				if probe.fire && n == 0 {
					t.Errorf("%s: %s must fire", path, c.rule)
				}
				if !probe.fire && n != 0 {
					t.Errorf("%s: %s must stay silent (%s), fired %d times", path, c.rule, c.whyNearMis, n)
				}
			}
		})
	}
	code, out, _ := runCLI("rules", "--format", "json")
	if code == 0 {
		for _, r := range ruleIDs(out) {
			if !covered[r] {
				t.Errorf("rule %s has no fires/near-miss pair here", r)
			}
		}
	}
}

func cutPrefix(s, p string) (string, bool) { return strings.CutPrefix(s, p) }

func ruleIDs(rulesJSON string) []string {
	var rows []struct{ ID string }
	json.Unmarshal([]byte(rulesJSON), &rows)
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.ID)
	}
	return ids
}
