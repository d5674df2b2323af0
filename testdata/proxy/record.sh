#!/usr/bin/env bash
# Records two-leg proxy captures on loopback for the proxy rules
# (hop-by-hop-forwarded, dumb-proxy-keepalive) and writes measured.json with
# what the client measured (from curl's own --trace-time log, not from
# connlint). Re-runnable; run as root:  bash testdata/proxy/record.sh
#
#   client 127.0.0.2 ──▶ proxy 127.0.0.3:18080 (dumbproxy) or :18090 (haproxy)
#                          └─(from 127.0.0.1, the kernel's loopback source)──▶ origin nginx 127.0.0.4:18081
#
# One tcpdump on lo sees both legs. The dumb proxy is the lab's
# (testdata/lab/dumbproxy: forwards headers verbatim, waits for the origin to
# close); haproxy is the well-behaved control. The client is curl -0 with
# Connection: Keep-Alive asking for two URLs, so it reuses the connection for
# the second one — and hangs behind the dumb proxy.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${PROXY_OUT:-$HERE}"
WORK="$(mktemp -d /tmp/connlint-proxy.XXXXXX)"
C=127.0.0.2 P=127.0.0.3 O=127.0.0.4
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || { echo "run as root (tcpdump)" >&2; exit 1; }
for c in tcpdump nginx haproxy curl python3 go; do
	command -v $c >/dev/null || { echo "need $c (apt-get install -y tcpdump nginx-light haproxy curl)" >&2; exit 1; }
done
(cd "$ROOT" && go build -o "$WORK/dumbproxy" ./testdata/lab/dumbproxy)

wait_port() { local i; for i in $(seq 1 100); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on $1:$2" >&2; exit 1; }

NGINX_PID=""
nginx_start() { # keepalive_timeout
	local d="$WORK/nginx"
	mkdir -p "$d/html" "$d/tmp"
	printf 'hello\n' >"$d/html/tiny.txt"
	head -c 4000 /dev/zero | tr '\0' 'a' >"$d/html/4k.txt"
	cat >"$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
	keepalive_timeout $1;
	sendfile off;
	server { listen $O:18081; root $d/html; }
}
NGX
	nginx -c "$d/nginx.conf" 2>>"$WORK/bg.log" &
	NGINX_PID=$!; PIDS+=($NGINX_PID)
	wait_port $O 18081
}
PROXY_PID=""
dumb_start() {
	"$WORK/dumbproxy" -listen $P:18080 -origin $O:18081 -life 60s 2>>"$WORK/bg.log" &
	PROXY_PID=$!; PIDS+=($PROXY_PID)
	wait_port $P 18080
}
haproxy_start() {
	cat >"$WORK/haproxy.cfg" <<HAP
global
	maxconn 64
defaults
	mode http
	timeout connect 3s
	timeout client 10s
	timeout server 10s
	option http-keep-alive
frontend fe
	bind $P:18090
	default_backend be
backend be
	server origin $O:18081
HAP
	haproxy -db -f "$WORK/haproxy.cfg" >>"$WORK/bg.log" 2>&1 &
	PROXY_PID=$!; PIDS+=($PROXY_PID)
	wait_port $P 18090
}
stop() { local pid; for pid in "$@"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
CAP_PID=""
cap_start() {
	tcpdump -Z root -i lo -w "$WORK/$1.pcap" -s 0 -U -n "tcp and (port 18080 or port 18081 or port 18090)" 2>"$WORK/tcpdump.log" &
	CAP_PID=$!; PIDS+=($CAP_PID)
	local i; for i in $(seq 1 50); do grep -q "listening on lo" "$WORK/tcpdump.log" && break; sleep 0.1; done
	sleep 0.3
}
cap_stop() { sleep 0.3; kill -INT "$CAP_PID"; wait "$CAP_PID" 2>/dev/null || true; cp "$WORK/$1.pcap" "$OUT/$1.pcap"; }

# curl_run name proxy-port max-time extra-curl-args...: two URLs over one connection
curl_run() {
	local name=$1 port=$2 max=$3; shift 3
	curl -0 -sS --interface $C -H 'Connection: Keep-Alive' -x "http://$P:$port" --max-time "$max" \
		--trace-ascii "$WORK/$name.trace" --trace-time "$@" \
		-o /dev/null -o /dev/null "http://$O:18081/tiny.txt" "http://$O:18081/4k.txt" 2>>"$WORK/$name.curl.log" || true
	cp "$WORK/$name.trace" "$OUT/$name.curl-trace.txt"
}
# one URL, the hop-by-hop header set
HOP=(-H 'Connection: close, X-Hop' -H 'Keep-Alive: timeout=5, max=10' -H 'Proxy-Connection: keep-alive'
	-H 'TE: trailers' -H 'Upgrade: websocket' -H 'X-Hop: 1')
hop_run() {
	local name=$1 port=$2
	curl -sS --interface $C -x "http://$P:$port" --max-time 3 "${HOP[@]}" \
		--trace-ascii "$WORK/$name.trace" --trace-time -o /dev/null "http://$O:18081/tiny.txt" 2>>"$WORK/$name.curl.log" || true
	cp "$WORK/$name.trace" "$OUT/$name.curl-trace.txt"
}

# 1. client gives up first: curl --max-time 3, origin keepalive_timeout 6 s
nginx_start 6s; dumb_start
cap_start dumb-keepalive-client-timeout
curl_run dumb-keepalive-client-timeout 18080 3
sleep 0.5
cap_stop dumb-keepalive-client-timeout; stop $PROXY_PID $NGINX_PID

# 2. origin gives up first: origin keepalive_timeout 2 s, curl --max-time 8; the
#    dumb proxy closes the client's connection only once the origin closed its own
nginx_start 2s; dumb_start
cap_start dumb-keepalive-origin-timeout
curl_run dumb-keepalive-origin-timeout 18080 8
sleep 0.5
cap_stop dumb-keepalive-origin-timeout; stop $PROXY_PID $NGINX_PID

# 3. control: the same through haproxy. curl adds "Proxy-Connection:
#    Keep-Alive" when it talks to a proxy, and haproxy 2.6 forwards it (so
#    hop-by-hop-forwarded fires, rightly); 3b. the same without it (curl
#    drops a header given empty): nothing to report.
nginx_start 6s; haproxy_start
cap_start haproxy-keepalive
curl_run haproxy-keepalive 18090 3
sleep 0.5
cap_stop haproxy-keepalive
cap_start haproxy-keepalive-clean
curl_run haproxy-keepalive-clean 18090 3 -H 'Proxy-Connection:'
sleep 0.5
cap_stop haproxy-keepalive-clean; stop $PROXY_PID $NGINX_PID

# 4. hop-by-hop headers through the dumb proxy; 5. the same through haproxy,
#    which forwards all but Connection itself (haproxy 2.6 only acts on the
#    close/keep-alive tokens): a finding there is correct, not a false one
nginx_start 2s; dumb_start
cap_start hop-by-hop-dumb
hop_run hop-by-hop-dumb 18080
sleep 0.3
cap_stop hop-by-hop-dumb; stop $PROXY_PID
haproxy_start
cap_start hop-by-hop-haproxy
hop_run hop-by-hop-haproxy 18090
sleep 0.3
cap_stop hop-by-hop-haproxy; stop $PROXY_PID $NGINX_PID

# What the client measured: from curl's trace, the time it sent its second
# request to the time it reported the end of that transfer (timeout or the
# proxy's close). Only curl's log is used.
python3 - "$OUT" <<'PY'
import json, re, sys, datetime
out = sys.argv[1]
res = {}
def t(line):
    h, m, s = line.split()[0].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
for name in ["dumb-keepalive-client-timeout", "dumb-keepalive-origin-timeout", "haproxy-keepalive", "haproxy-keepalive-clean"]:
    lines = open(f"{out}/{name}.curl-trace.txt").read().splitlines()
    sends = [i for i, l in enumerate(lines) if "=> Send header" in l]
    r = {"requests_sent": len(sends)}
    if len(sends) >= 2:
        i = sends[1]
        r["second_request_sent"] = lines[i].split()[0]
        for l in lines[i + 1:]:
            if "<= Recv header" in l:
                r["second_response_after_s"] = round(t(l) - t(lines[i]), 6)
                break
            if "== Info:" in l and re.search(r"timed out|Empty reply|closed|failure|reset", l, re.I):
                r["hang_s"] = round(t(l) - t(lines[i]), 6)
                r["ended_by"] = l.split("== Info:", 1)[1].strip()
                break
    res[name] = r
json.dump(res, open(f"{out}/measured.json", "w"), indent=1, sort_keys=True)
print(json.dumps(res, indent=1, sort_keys=True))
PY
ls -la "$OUT"/*.pcap
