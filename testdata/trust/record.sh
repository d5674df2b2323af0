#!/usr/bin/env bash
# Records the issue-12 trust captures from real programs into testdata/trust/<name>.pcap and
# writes <name>.truth.json with testdata/trust/truth.py (which checks each pcap with tshark and
# refuses to write a truth the wire does not show). Run as root:
#   bash testdata/trust/record.sh                 # all
#   TRUST_ONLY="a c" bash testdata/trust/record.sh  # only these items
#   TRUST_OUT=/tmp/x bash testdata/trust/record.sh  # write elsewhere
# It reuses the lab's topology and helpers (testdata/lab/lab.sh, sourced with LAB_LIB=1):
# namespaces cl-*, addresses 198.18.x.x that exist only inside them, the delay relay. Loopback
# items run on 127.0.0.1 inside the cl-client namespace. Every process is time-bounded and the
# lab's cleanup removes namespaces and processes on exit (also on failure or Ctrl-C).
set -euo pipefail
TRUST_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOUT="${TRUST_OUT:-$TRUST_DIR}"
ONLY="${TRUST_ONLY:-a b c d e f g h i}"
LAB_LIB=1
# shellcheck source=../lab/lab.sh
source "$TRUST_DIR/../lab/lab.sh"
OUT=$TOUT  # the lab's cap_proxy writes to $OUT

trust_packages() {
	local need=() pair
	for pair in tcpdump:tcpdump nginx:nginx-light ab:apache2-utils tshark:tshark mergecap:tshark \
		ethtool:ethtool ip:iproute2 curl:curl python3:python3 haproxy:haproxy fuser:psmisc; do
		command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q -o DPkg::Lock::Timeout=600 || true
	apt-get install -y -q -o DPkg::Lock::Timeout=600 "${need[@]}"
}
trust_build() {
	build_tools
	local p
	for p in oddserver gopool; do
		(cd "$ROOT" && go build -o "$BIN/$p" "./testdata/trust/$p") || die "go build $p"
	done
}
ttruth() { # name [args...]
	local n=$1; shift
	chrt -o 0 python3 "$TRUST_DIR/truth.py" --scenario "$n" --pcap "$TOUT/$n.pcap" --out "$TOUT" "$@"
}
# Loopback capture in the client namespace. A 32 MB buffer: at ab's rate the default one drops
# packets (truth.py refuses a pcap with incomplete connections). $2 = stop after N packets.
cap_lo() { # name [count]
	local f="$WORK/cap-lo-$1.pcap" cnt=()
	[ -n "${2:-}" ] && cnt=(-c "$2")
	ip netns exec $NS_C tcpdump -Z root --immediate-mode -B 32768 -i lo -w "$f" -s 0 -U -n "${cnt[@]}" 'tcp' 2>>"$WORK/tcpdump.log" &
	CAP_PIDS+=("$!:$f:$TOUT/$1.pcap")
	PIDS+=($!)
	local i
	for i in $(seq 1 50); do grep -q "listening on lo" "$WORK/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
	sleep 0.3
}

LO=127.0.0.1

# nginx on loopback in the client namespace; $3 = extra http{} directives
nginx_lo() { # port keepalive_timeout [directives]
	local port=$1 kt=$2 extra=${3:-}
	local d="$WORK/nginx-lo-$port"
	mkdir -p "$d/html" "$d/tmp"
	printf 'hello\n' >"$d/html/tiny.txt"
	head -c 4000000 /dev/zero | tr '\0' 'd' >"$d/html/4m.bin"
	cat >"$d/nginx.conf" <<NGX
worker_processes 1;
daemon off;
user root;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $d/tmp; proxy_temp_path $d/tmp; fastcgi_temp_path $d/tmp;
	uwsgi_temp_path $d/tmp; scgi_temp_path $d/tmp;
	keepalive_timeout $kt;
	sendfile off;
	$extra
	server {
		listen $LO:$port;
		root $d/html;
		location = /post { return 200 "posted\n"; }
	}
}
NGX
	bg $NS_C timeout 120 nginx -c "$d/nginx.conf"
	NGINX_PID=$LASTPID
	wait_port $NS_C $LO "$port"
}
curl_c() { nsx $NS_C timeout 30 curl -sS -m 20 "$@"; }

# a. two HTTP/1.0 keep-alive curls of one server, same path, the second 300 ms later.
item_a() {
	local n=two-curls-one-server
	nginx_lo 8096 5s
	cap_lo $n
	curl_c --http1.0 -H 'Connection: keep-alive' -o /dev/null "http://$LO:8096/tiny.txt" &
	local first=$!
	sleep 0.3
	curl_c --http1.0 -H 'Connection: keep-alive' -o /dev/null "http://$LO:8096/tiny.txt"
	wait "$first"  # only the curl: a bare wait would also wait for nginx and tcpdump
	cap_stop; stop $NGINX_PID
	ttruth $n
	# overlapping: oddserver answers the first /slowfirst after 300 ms and later ones at once;
	# the second curl starts 100 ms after the first, so its byte-identical request is sent and
	# answered while the first waits (the first is answered ~300 ms after its request).
	n=two-curls-overlap
	bg $NS_C timeout 60 "$BIN/oddserver" -listen $LO:8092
	local spid=$LASTPID
	wait_port $NS_C $LO 8092
	cap_lo $n
	curl_c --http1.0 -H 'Connection: keep-alive' -o /dev/null "http://$LO:8092/slowfirst" &
	first=$!
	sleep 0.1
	curl_c --http1.0 -H 'Connection: keep-alive' -o /dev/null "http://$LO:8092/slowfirst"
	wait "$first"
	cap_stop; stop $spid
	ttruth $n
}

# b. ab (HTTP/1.0, no keep-alive) -> nginx on loopback: nginx closes every connection first.
item_b() {
	local n=ab-nginx-churn
	nginx_lo 8097 5s
	cap_lo $n
	# three runs of 500, 0.6 s apart: the closes span more than the 1 s port-churn needs to
	# project a rate
	local r
	for r in 1 2 3; do
		nsx $NS_C timeout 60 ab -q -n 500 -c 4 "http://$LO:8097/tiny.txt" >>"$WORK/ab.txt"
		[ $r = 3 ] || sleep 0.6
	done
	cap_stop; stop $NGINX_PID
	grep -E 'Complete requests|Failed requests' "$WORK/ab.txt" >&2
	ttruth $n
}

# c. a download whose capture stops mid-body; near miss: the server FINs mid-body.
item_c() {
	local n=cut-download
	nginx_lo 8098 5s
	cap_lo $n 14  # tcpdump -c 14: the capture ends inside the 4 MB body
	local tpid=${CAP_PIDS[-1]%%:*}
	curl_c --limit-rate 2M -o /dev/null "http://$LO:8098/4m.bin" &
	local cpid=$!
	local i
	for i in $(seq 1 100); do kill -0 "$tpid" 2>/dev/null || break; sleep 0.05; done
	cap_stop
	kill "$cpid" 2>/dev/null || true; wait "$cpid" 2>/dev/null || true
	stop $NGINX_PID
	ttruth $n
	n=fin-before-body-end
	bg $NS_C timeout 60 "$BIN/server" -listen $LO:8099
	local spid=$LASTPID
	wait_port $NS_C $LO 8099
	cap_lo $n
	curl_c -o /dev/null "http://$LO:8099/lie/long-fin" || true   # curl: transfer closed with 60 bytes remaining
	cap_stop; stop $spid
	ttruth $n
}

# d. POST 2 MB with Expect: 100-continue, nginx refuses with 413 at once, curl never sends the
# body; near miss: a POST that sends 100 kB of its declared 2 MB and then closes.
item_d() {
	local n=expect-100-refused
	nginx_lo 8100 5s "client_max_body_size 1k;"
	head -c 2000000 /dev/zero | tr '\0' 'e' >"$WORK/2m.bin"
	cap_lo $n
	curl_c -o /dev/null -H 'Expect: 100-continue' --data-binary @"$WORK/2m.bin" "http://$LO:8100/post" || true
	cap_stop; stop $NGINX_PID
	ttruth $n
	n=post-partial-body-fin
	bg $NS_C timeout 60 "$BIN/server" -listen $LO:8101
	local spid=$LASTPID
	wait_port $NS_C $LO 8101
	cap_lo $n
	nsx $NS_C timeout 30 "$BIN/client" -max 20s -addr $LO:8101 -nodelay \
		-plan "conn 42401; send POST /ok body=100000 noclen h=Content-Length:~2000000; sleep 200; close" >/dev/null || true
	cap_stop; stop $spid
	ttruth $n
}

# e. Go net/http client, a pool of 4 keep-alive connections, to a Go server. No proxy.
item_e() {
	local n=go-client-pool
	bg $NS_C timeout 60 "$BIN/gopool" -serve $LO:8102
	local spid=$LASTPID
	wait_port $NS_C $LO 8102
	cap_lo $n
	nsx $NS_C timeout 30 "$BIN/gopool" -url "http://$LO:8102/item" -conns 4 -n 10 >&2
	cap_stop; stop $spid
	ttruth $n
}

# f. dumbproxy listening on 198.18.1.2:8080, connecting upstream from 198.18.2.1, forwarding
# the absolute-form request line and every header byte for byte (no Via).
item_f() {
	local n=dumbproxy-verbatim
	nginx_start $NS_S $S_IP 8081 3s
	bg $NS_P timeout 60 "$BIN/dumbproxy" -listen $P1_IP:8080 -origin $NGX -verbatim -source $P2_IP
	local ppid=$LASTPID
	wait_port $NS_P $P1_IP 8080
	cap_proxy $n
	nsx $NS_C timeout 30 "$BIN/client" -max 20s -addr $P1_IP:8080 -host $NGX -nodelay -timeout 2s \
		-plan "conn 42501; send GET http://$NGX/tiny.txt $ka10; read; sleep 100; send GET http://$NGX/4k.txt $ka10; read; close" >/dev/null || true
	sleep 1.5  # nginx's keepalive_timeout (3 s) closes the upstream leg
	cap_stop; stop $ppid $NGINX_PID
	ttruth $n
}

# g. HTTP/1.0 Keep-Alive client through dumbproxy, ONE request, then it waits for the close;
# the proxy closes the client leg right after nginx's 3 s idle close upstream. Near miss:
# haproxy closes the idle client leg on its own 1 s timer.
item_g() {
	local n=dumbproxy-wait-close
	nginx_start $NS_S $S_IP 8081 3s
	bg $NS_P timeout 60 "$BIN/dumbproxy" -listen $P1_IP:8080 -origin $NGX
	local ppid=$LASTPID
	wait_port $NS_P $P1_IP 8080
	cap_proxy $n
	nsx $NS_C timeout 30 "$BIN/client" -max 20s -addr $P1_IP:8080 -host $NGX -nodelay \
		-plan "conn 42601; send GET http://$NGX/tiny.txt $ka10; read; sleep 5000; close" >/dev/null || true
	cap_stop; stop $ppid
	n=smartproxy-wait-close
	cat >"$WORK/haproxy-g.cfg" <<HAP
global
	maxconn 256
defaults
	mode http
	timeout connect 3s
	timeout client 5s
	timeout server 5s
	timeout http-keep-alive 1s
	option http-keep-alive
frontend fe
	bind $P1_IP:8080
	default_backend be
backend be
	server origin $NGX
HAP
	bg $NS_P timeout 60 haproxy -db -f "$WORK/haproxy-g.cfg"
	ppid=$LASTPID
	wait_port $NS_P $P1_IP 8080
	cap_proxy $n
	nsx $NS_C timeout 30 "$BIN/client" -max 20s -addr $P1_IP:8080 -host $NGX -nodelay \
		-plan "conn 42602; send GET http://$NGX/tiny.txt $ka10; read; sleep 5000; close" >/dev/null || true
	cap_stop; stop $ppid $NGINX_PID
	ttruth dumbproxy-wait-close
	ttruth $n
}

# h. a stray CRLF after a Content-Length body; near miss: 8 bytes of garbage after the body.
item_h() {
	bg $NS_C timeout 60 "$BIN/oddserver" -listen $LO:8093
	local spid=$LASTPID
	wait_port $NS_C $LO 8093
	cap_lo stray-crlf
	curl_c -o /dev/null -o /dev/null "http://$LO:8093/crlf" "http://$LO:8093/ok" || true
	cap_stop
	cap_lo garbage-after-body
	curl_c -o /dev/null -o /dev/null "http://$LO:8093/garbage" "http://$LO:8093/ok" || true
	cap_stop; stop $spid
	ttruth stray-crlf
	ttruth garbage-after-body
}

# i. python3 http.server, HTTP/1.1 keep-alive, curl fetching 6 URLs on one connection.
item_i() {
	local n=python-http-server d="$WORK/pyhttp"
	mkdir -p "$d"; printf 'hello from python\n' >"$d/a.txt"
	bg $NS_C timeout 60 python3 -m http.server --protocol HTTP/1.1 --bind $LO --directory "$d" 8095
	local spid=$LASTPID
	wait_port $NS_C $LO 8095
	cap_lo $n
	local u="http://$LO:8095/a.txt"
	curl_c -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null "$u" "$u" "$u" "$u" "$u" "$u"
	cap_stop; stop $spid
	ttruth $n
}

trust_main() {
	trust_packages
	command -v go >/dev/null || die "go toolchain needed"
	trust_build
	realtime
	setup_topology
	mkdir -p "$TOUT"
	local x failed=()
	for x in $ONLY; do
		log "item $x"
		set +e
		( set -e; "item_$x" )
		local rc=$?
		set -e
		[ $rc -eq 0 ] || { failed+=("$x"); log "item $x FAILED (exit $rc)"; }
		stop_all_bg
	done
	[ ${#failed[@]} -eq 0 ] || die "failed items: ${failed[*]}"
	log "done"
}
trust_main "$@"
