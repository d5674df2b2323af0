#!/usr/bin/env bash
# Records the HTTPS-with-keys scenarios (issue 17) from real programs into testdata/tls/<name>.pcap,
# with the key log curl wrote (SSLKEYLOGFILE) as <name>.keys and a truth file <name>.truth.json in
# the lab's format. Each truth is cross-checked with tshark decrypting the same pcap with the same
# keys (tshark -o tls.keylog_file:KEYS ... -Y http): the request and response frames it finds are
# written into facts.tshark, and labtest/tls_test.go checks that connlint, given --keylog, finds the
# same transactions at the same frames. Run as root:
#   bash testdata/tls/record.sh                      # all
#   TLS_ONLY="python-tls-nagle" bash testdata/tls/record.sh
#   TLS_OUT=/tmp/x bash testdata/tls/record.sh       # write elsewhere
# Everything runs on 127.0.0.1 inside a private network namespace (cltls), removed on exit. The
# server certificate is self-signed, made here with openssl; curl is told -k.
set -euo pipefail
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${TLS_OUT:-$DIR}"
ONLY="${TLS_ONLY:-nginx-tls12-aesgcm nginx-tls13-aesgcm nginx-tls13-chacha python-tls-nagle nginx-tls12-full-repeated nginx-tls12-resumed nginx-tls13-full-repeated}"
NS=cltls
LO=127.0.0.1
WORK="$(mktemp -d /tmp/connlint-tls.XXXXXX)"
PIDS=()

log() { printf '[tls %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }
cleanup() {
	local rc=$?
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.2
	for p in $(ip netns pids $NS 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del $NS 2>/dev/null
	rm -rf "$WORK"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
[ "$(id -u)" -eq 0 ] || die "run as root (network namespace, tcpdump)"
for c in nginx curl tshark tcpdump openssl python3 ip; do command -v $c >/dev/null || die "needs $c"; done

ip netns del $NS 2>/dev/null || true
ip netns add $NS
ip netns exec $NS ip link set lo up
nsx() { ip netns exec $NS "$@"; }

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=connlint.test" \
	-addext "subjectAltName=DNS:connlint.test" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
mkdir -p "$WORK/html"
printf 'hello over TLS\n' >"$WORK/html/a.txt"
printf 'second file\n' >"$WORK/html/b.txt"

wait_port() { # port
	local i
	for i in $(seq 1 50); do nsx bash -c "exec 3<>/dev/tcp/$LO/$1" 2>/dev/null && return 0; sleep 0.1; done
	die "nothing listens on $1"
}

nginx_tls() { # port ssl_protocols ssl_ciphers(TLS1.2) ssl_conf_command(TLS1.3 suites)
	local d="$WORK/nginx-$1"
	mkdir -p "$d/tmp"
	cat >"$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
	keepalive_timeout 5s;
	sendfile off;
	server {
		listen $LO:$1 ssl;
		server_name connlint.test;
		ssl_certificate $WORK/cert.pem;
		ssl_certificate_key $WORK/key.pem;
		ssl_protocols $2;
		ssl_ciphers $3;
		$4
		root $WORK/html;
	}
}
NGX
	nsx timeout 60 nginx -c "$d/nginx.conf" &
	PIDS+=($!)
	wait_port "$1"
}

cap_start() { # name
	rm -f "$WORK/tcpdump.log"
	nsx tcpdump -Z root --immediate-mode -i lo -w "$WORK/$1.pcap" -s 0 -U -n tcp 2>"$WORK/tcpdump.log" &
	CAP=$!
	local i
	for i in $(seq 1 50); do grep -q "listening on lo" "$WORK/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
	sleep 0.3
}
cap_stop() { # name
	sleep 0.5
	kill $CAP; wait $CAP 2>/dev/null || true
	cp "$WORK/$1.pcap" "$OUT/$1.pcap"
}

curl_k() { # name curl-args...
	local n=$1; shift
	rm -f "$OUT/$n.keys"
	nsx env SSLKEYLOGFILE="$OUT/$n.keys" timeout 30 curl -sS -k -m 20 --http1.1 \
		--resolve connlint.test:"$PORT":$LO "$@" -o /dev/null -o /dev/null -o /dev/null -o /dev/null
}

truth() { # name description expectations-json [expectations-without-keys-json]
	python3 - "$OUT" "$1" "$2" "$3" "${4:-[]}" <<'PY'
import json, subprocess, sys
out, name, desc, expect, nokeys = sys.argv[1:]
pcap, keys = f"{out}/{name}.pcap", f"{out}/{name}.keys"
# http.desegment_body off: tshark shows a message at the frame of its header block, as connlint does.
rows = subprocess.run(["tshark", "-o", f"tls.keylog_file:{keys}", "-o", "http.desegment_body:FALSE",
                       "-r", pcap, "-Y", "http", "-T", "fields", "-e", "frame.number",
                       "-e", "http.request.method", "-e", "http.response.code"],
                      check=True, capture_output=True, text=True).stdout.split("\n")
req, resp = [], []
for r in rows:
    f = r.split("\t")
    if len(f) < 3:
        continue
    if f[1]:
        req.append([int(f[0]), f[1]])
    if f[2]:
        resp.append([int(f[0]), int(f[2])])
if not req or len(req) != len(resp):
    sys.exit(f"{name}: tshark decrypted {len(req)} requests and {len(resp)} responses: refusing to write a truth")
hs = subprocess.run(["tshark", "-o", f"tls.keylog_file:{keys}", "-r", pcap, "-Y", "tls.handshake.type == 2",
                     "-T", "fields", "-e", "tls.handshake.ciphersuite", "-e", "tls.handshake.extensions.supported_version",
                     "-e", "tls.handshake.version"], check=True, capture_output=True, text=True).stdout.split()
# Handshakes per connection, from tshark with the keys (TLS 1.3 encrypts Certificate and
# NewSessionTicket): the ClientHello's frame, whether the server resumed (no Certificate) and
# whether it offered resumption (a non-empty TLS 1.2 session ID, or a NewSessionTicket).
rows = subprocess.run(["tshark", "-o", f"tls.keylog_file:{keys}", "-r", pcap, "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2 || tls.handshake.type == 11 || tls.handshake.type == 4",
                       "-T", "fields", "-e", "tcp.stream", "-e", "frame.number", "-e", "tls.handshake.type",
                       "-e", "tls.handshake.session_id_length"],
                      check=True, capture_output=True, text=True).stdout.strip().split("\n")
streams = {}
for r in rows:
    f = r.split("\t") + [""] * 5
    if not f[0]:
        continue
    s = streams.setdefault(int(f[0]), {"stream": int(f[0]), "client_hello": 0, "certificate": False, "offered": False})
    types = f[2].split(",")
    if "1" in types and not s["client_hello"]:
        s["client_hello"] = int(f[1])
    if "11" in types:
        s["certificate"] = True
    if "4" in types or ("2" in types and f[3].split(",")[-1] not in ("", "0")):
        s["offered"] = True
handshakes = [dict(v, resumed=not v["certificate"]) for _, v in sorted(streams.items())]
for h in handshakes:
    del h["certificate"]
t = {"scenario": name, "description": desc, "pcap": f"{name}.pcap", "source": "recorded",
     "rtt_ms": 0.05, "expect": json.loads(expect), "expect_without_keys": json.loads(nokeys), "quiet": ["error"],
     "transactions": len(req), "all_answered": True,
     "facts": {"keylog": f"{name}.keys", "tshark": {"requests": req, "responses": resp},
               "server_hello": hs, "handshakes": handshakes}}
with open(f"{out}/{name}.truth.json", "w") as fh:
    json.dump(t, fh, indent=1)
    fh.write("\n")
print(f"{name}: {len(req)} transactions; requests at frames {[r[0] for r in req]}, responses at {[r[0] for r in resp]}", file=sys.stderr)
PY
}

URLS() { echo "https://connlint.test:$PORT/a.txt https://connlint.test:$PORT/b.txt https://connlint.test:$PORT/a.txt"; }
NOFIRE='[{"rule": "content-length-mismatch", "fire": false}, {"rule": "unsolicited-response", "fire": false}]'

for n in $ONLY; do
	log "recording $n"
	case $n in
	nginx-tls12-aesgcm)
		PORT=8443
		nginx_tls $PORT TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 ""
		cap_start $n
		# shellcheck disable=SC2046
		curl_k $n --tlsv1.2 --tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256 $(URLS)
		cap_stop $n
		truth $n "curl fetches three URLs over one keep-alive TLS 1.2 connection (ECDHE-RSA-AES128-GCM-SHA256) to nginx; with curl's key log every transaction is decrypted at the frames tshark shows and nothing is wrong." "$NOFIRE"
		;;
	nginx-tls13-aesgcm)
		PORT=8444
		nginx_tls $PORT TLSv1.3 HIGH "ssl_conf_command Ciphersuites TLS_AES_256_GCM_SHA384;"
		cap_start $n
		# shellcheck disable=SC2046
		curl_k $n --tlsv1.3 --tls13-ciphers TLS_AES_256_GCM_SHA384 $(URLS)
		cap_stop $n
		truth $n "curl fetches three URLs over one keep-alive TLS 1.3 connection (TLS_AES_256_GCM_SHA384, with the NewSessionTicket records after the handshake) to nginx; decrypted with curl's key log, every transaction matches tshark." "$NOFIRE"
		;;
	nginx-tls13-chacha)
		PORT=8445
		nginx_tls $PORT TLSv1.3 HIGH "ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;"
		cap_start $n
		# shellcheck disable=SC2046
		curl_k $n --tlsv1.3 --tls13-ciphers TLS_CHACHA20_POLY1305_SHA256 $(URLS)
		cap_stop $n
		truth $n "curl fetches three URLs over one keep-alive TLS 1.3 connection with ChaCha20-Poly1305 to nginx; decrypted with curl's key log, every transaction matches tshark." "$NOFIRE"
		;;
	python-tls-nagle)
		PORT=8446
		cat >"$WORK/pyserve.py" <<PY
import http.server, ssl
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def __init__(self, *a, **k): super().__init__(*a, directory="$WORK/html", **k)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("$LO", $PORT), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain("$WORK/cert.pem", "$WORK/key.pem")
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
		nsx timeout 60 python3 "$WORK/pyserve.py" &
		PIDS+=($!)
		wait_port $PORT
		cap_start $n
		curl_k $n "https://connlint.test:$PORT/a.txt" "https://connlint.test:$PORT/a.txt" \
			"https://connlint.test:$PORT/a.txt" "https://connlint.test:$PORT/a.txt"
		cap_stop $n
		truth $n "python3's http.server wrapped in TLS (HTTP/1.1 keep-alive) writes each response's headers and body in two TLS records, with Nagle on; curl fetches the same URL four times on one connection and delays its ACKs, so every body record waits ~40 ms for the delayed ACK. Only visible with the keys: the stall is a true finding inside TLS." \
			'[{"rule": "nagle-delayed-ack", "fire": true, "min_count": 1, "message_contains": "headers"}, {"rule": "content-length-mismatch", "fire": false}]' \
			'[{"rule": "nagle-delayed-ack", "fire": true, "min_count": 3, "message_contains": "judged from TLS records"}, {"rule": "content-length-mismatch", "fire": false}]'
		;;
	nginx-tls12-full-repeated)
		PORT=8447
		nginx_tls $PORT TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 "ssl_session_cache shared:cltls:1m; ssl_session_tickets on;"
		cap_start $n
		rm -f "$OUT/$n.keys"
		for i in 1 2 3 4 5 6; do
			# a new curl process per request: no session cache, no connection to reuse
			nsx env SSLKEYLOGFILE="$OUT/$n.keys" timeout 30 curl -sS -k -m 20 --http1.1 --tlsv1.2 --tls-max 1.2 \
				--resolve connlint.test:$PORT:$LO "https://connlint.test:$PORT/a.txt" -o /dev/null
			sleep 0.05
		done
		cap_stop $n
		truth $n "six curl processes, one GET each, to nginx over TLS 1.2 with a session cache and tickets: every connection is a full handshake (certificate, key exchange, two round trips) although the server offered resumption in each ServerHello (session ID and ticket), and nginx offered to keep each connection open. tls-full-handshake-repeated and no-connection-reuse fire, with and without the keys." \
			'[{"rule": "tls-full-handshake-repeated", "fire": true, "min_count": 1, "severity": "info", "message_contains": "5 connections"}, {"rule": "no-connection-reuse", "fire": true, "min_count": 1}]' \
			'[{"rule": "tls-full-handshake-repeated", "fire": true, "min_count": 1, "severity": "info", "message_contains": "5 connections"}, {"rule": "no-connection-reuse", "fire": true, "min_count": 1, "message_contains": "judged from TLS records"}]'
		;;
	nginx-tls12-resumed)
		PORT=8448
		nginx_tls $PORT TLSv1.2 ECDHE-RSA-AES128-GCM-SHA256 "ssl_session_cache shared:cltls:1m; ssl_session_tickets on;"
		cap_start $n
		# one curl, six URLs, Connection: close: a new connection per request (nginx closes each), and
		# curl's session cache resumes the session on connections 2-6: the near miss
		curl_k $n --tlsv1.2 --tls-max 1.2 -H "Connection: close" "https://connlint.test:$PORT/a.txt" "https://connlint.test:$PORT/b.txt" \
			"https://connlint.test:$PORT/a.txt" "https://connlint.test:$PORT/b.txt" "https://connlint.test:$PORT/a.txt" "https://connlint.test:$PORT/b.txt" \
			-o /dev/null -o /dev/null
		cap_stop $n
		truth $n "one curl process fetches six URLs with Connection: close: nginx closes each connection, curl opens a new one and resumes the TLS 1.2 session (abbreviated handshake, no certificate) on connections 2 to 6. The near miss of tls-full-handshake-repeated; the server closing first is no no-connection-reuse." \
			'[{"rule": "tls-full-handshake-repeated", "fire": false}, {"rule": "no-connection-reuse", "fire": false}]' \
			'[{"rule": "tls-full-handshake-repeated", "fire": false}, {"rule": "no-connection-reuse", "fire": false}]'
		;;
	nginx-tls13-full-repeated)
		PORT=8449
		nginx_tls $PORT TLSv1.3 HIGH "ssl_session_cache shared:cltls13:1m; ssl_session_tickets on;"
		cap_start $n
		rm -f "$OUT/$n.keys"
		for i in 1 2 3 4 5 6; do
			nsx env SSLKEYLOGFILE="$OUT/$n.keys" timeout 30 curl -sS -k -m 20 --http1.1 --tlsv1.3 \
				--resolve connlint.test:$PORT:$LO "https://connlint.test:$PORT/a.txt" -o /dev/null
			sleep 0.05
		done
		cap_stop $n
		truth $n "six curl processes, one GET each, to nginx over TLS 1.3: full handshakes every time although nginx sent NewSessionTickets. TLS 1.3 encrypts the tickets, so the offer is seen with the keys only: with them tls-full-handshake-repeated fires; without them it stays silent (no offer seen) while no-connection-reuse still fires from the records." \
			'[{"rule": "tls-full-handshake-repeated", "fire": true, "min_count": 1, "message_contains": "TLS 1.3"}, {"rule": "no-connection-reuse", "fire": true, "min_count": 1}]' \
			'[{"rule": "tls-full-handshake-repeated", "fire": false}, {"rule": "no-connection-reuse", "fire": true, "min_count": 1, "message_contains": "judged from TLS records"}]'
		;;
	*) die "unknown scenario $n" ;;
	esac
done
log "done: $ONLY"
