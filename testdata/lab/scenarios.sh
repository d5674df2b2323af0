# Scenarios for lab.sh (sourced). Each scenario_N records one or more pcaps and calls
# `truth` for each; truth.py checks the wire and writes <name>.truth.json.
# Every client run is bounded (-max, -timeout); every server has a lifetime.

SRV=$S_IP:80     # lab server (misbehaving origin)
NGX=$S_IP:8081   # nginx, keepalive_timeout 5s
client() { # logname client-args...  (runs in the client namespace, JSON log kept)
	local name=$1; shift
	nsx $NS_C timeout 90 "$BIN/client" -max 60s "$@" >>"$WORK/$name.client.jsonl"
}
labserver() { bg $NS_S timeout 120 "$BIN/server" -listen "$SRV" "$@"; SERVER_PID=$LASTPID; wait_port $NS_S $S_IP 80; }
cap_client() { cap_start $NS_C c0 "$OUT/$1.pcap"; }
cap_proxy() { cap_start $NS_P p0 "$OUT/$1.pcap"; cap_start $NS_P p1 "$OUT/$1.pcap"; }

# 1. Nagle x delayed ACK: POST headers and body in two writes, Nagle on; control with TCP_NODELAY.
NAGLE_N=12
nagle_run() { # name nodelay lport
	local plan="conn $3" i
	for i in $(seq 1 $NAGLE_N); do plan+="; send POST /ok?size=32 body=48 split; read"; done
	plan+="; close"
	labserver
	cap_client "$1"
	client "$1" -addr $SRV -nodelay="$2" -plan "$plan"
	cap_stop; stop $SERVER_PID
	truth "$1" "$1.pcap" --client-log "$WORK/$1.client.jsonl"
}
scenario_1() {
	nagle_run nagle-delayed-ack false 41001
	nagle_run nagle-delayed-ack-nodelay true 41002
}

# 2. Delayed-ACK stall without Nagle: the server's congestion window is 1 segment (route
# initcwnd 1, as on stacks before RFC 3390) and the client delays its ACKs (TCP_QUICKACK=0,
# so not even the kernel's quick-ACK start helps): the server, TCP_NODELAY on, sends the first
# segment of a 3-segment response and waits for an ACK the client delays. Control: same, the
# client in quick-ACK mode.
stall_run() { # name quickack0
	nsx $NS_S ip route replace 198.18.1.0/24 via $P2_IP initcwnd 1
	labserver
	cap_client "$1"
	client "$1" -addr $SRV -nodelay -quickack0="$2" -repeat 3 -plan "conn; send GET /ok?size=4000; read; sleep 100; close"
	cap_stop; stop $SERVER_PID
	nsx $NS_S ip route replace 198.18.1.0/24 via $P2_IP
	truth "$1" "$1.pcap" --client-log "$WORK/$1.client.jsonl"
}
scenario_2() {
	stall_run delayed-ack-stall true
	stall_run delayed-ack-stall-quickack false
}

# 3. Handshake overhead: curl, one tiny GET per connection, 5 times, over the 2-link path.
scenario_3() {
	nginx_start $NS_S $S_IP 8081 5s
	cap_client handshake-overhead
	local i
	for i in 1 2 3 4 5; do nsx $NS_C curl -sS -m 5 -o /dev/null "http://$NGX/tiny.txt"; sleep 0.2; done
	cap_stop; stop $NGINX_PID
	truth handshake-overhead handshake-overhead.pcap --count 5
}

# 4. Slow start on a fresh connection while a warm one is idle.
scenario_4() {
	nsx $NS_S sysctl -qw net.ipv4.tcp_slow_start_after_idle=0
	nginx_start $NS_S $S_IP 8081 30s
	cap_client slow-start-fresh-connection
	# conn A: warm up with 2 large responses, then stay idle (kept open by the sleep);
	# conn B (opened while A idles): the same large response from a cold window.
	client slow-start-fresh-connection -addr $NGX -nodelay -timeout 5s \
		-plan "conn 41401; send GET /100k.txt; read; send GET /100k.txt; read; sleep 1500; close" &
	local a=$!
	sleep 0.9
	client slow-start-fresh-connection -addr $NGX -nodelay -timeout 5s -plan "conn 41402; send GET /100k.txt; read; close"
	wait $a
	cap_stop; stop $NGINX_PID
	nsx $NS_S sysctl -qw net.ipv4.tcp_slow_start_after_idle=1
	truth slow-start-fresh-connection slow-start-fresh-connection.pcap --client-log "$WORK/slow-start-fresh-connection.client.jsonl"
}

# 5. Safe pipelining: 4 GETs in one write to nginx.
scenario_5() {
	nginx_start $NS_S $S_IP 8081 5s
	cap_client pipelining
	client pipelining -addr $NGX -nodelay -plan "conn 41501; pipe GET /tiny.txt|GET /4k.txt|HEAD /tiny.txt|GET /tiny.txt; read 4; sleep 100; close"
	cap_stop; stop $NGINX_PID
	truth pipelining pipelining.pcap --client-log "$WORK/pipelining.client.jsonl"
}

# 6. Unsafe pipelining: POST behind a GET; GET behind a POST (nginx).
scenario_6() {
	nginx_start $NS_S $S_IP 8081 5s
	cap_client pipelined-unsafe-method
	client pipelined-unsafe-method -addr $NGX -nodelay -plan "conn 41601; pipe GET /tiny.txt|POST /post body=20; read 2; sleep 100; close"
	client pipelined-unsafe-method -addr $NGX -nodelay -plan "conn 41602; pipe POST /post body=20|GET /tiny.txt; read 2; sleep 100; close"
	cap_stop; stop $NGINX_PID
	truth pipelined-unsafe-method pipelined-unsafe-method.pcap --client-log "$WORK/pipelined-unsafe-method.client.jsonl"
}

# 7. Content-Length lies: overrun, truncated by FIN, by RST, by capture end.
scenario_7() {
	labserver
	local n=content-length-mismatch
	cap_client $n
	client $n -addr $SRV -nodelay -plan "conn 41701; send GET /lie/short; read; sleep 300; close" || true
	client $n -addr $SRV -nodelay -plan "conn 41702; send GET /lie/long-fin; read; close" || true
	client $n -addr $SRV -nodelay -plan "conn 41703; send GET /lie/long-rst; read; close" || true
	client $n -addr $SRV -nodelay -timeout 10s -plan "conn 41704; send GET /lie/long-hang; read; close" &
	local h=$!
	sleep 1
	cap_stop   # the capture ends inside the body of 41704
	kill $h 2>/dev/null || true; wait $h 2>/dev/null || true
	stop $SERVER_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 8. Conflicting framing: CL+TE, two CLs, invalid CL.
scenario_8() {
	labserver
	local n=conflicting-framing p
	cap_client $n
	for p in 41801:/frame/cl-te 41802:/frame/two-cl 41803:/frame/bad-cl; do
		client $n -addr $SRV -nodelay -timeout 1s -plan "conn ${p%%:*}; send GET ${p#*:}; read; sleep 200; close" || true
	done
	cap_stop; stop $SERVER_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 9. Unframed response on a connection the server keeps open; control: close-delimited.
scenario_9() {
	labserver
	cap_client unframed-persistent-response
	client unframed-persistent-response -addr $SRV -nodelay -timeout 1500ms -plan "conn 41901; send GET /unframed/keep; read; close" || true
	cap_stop
	cap_client unframed-close-delimited
	client unframed-close-delimited -addr $SRV -nodelay -plan "conn 41902; send GET /unframed/close; read; close"
	cap_stop; stop $SERVER_PID
	truth unframed-persistent-response unframed-persistent-response.pcap --client-log "$WORK/unframed-persistent-response.client.jsonl"
	truth unframed-close-delimited unframed-close-delimited.pcap --client-log "$WORK/unframed-close-delimited.client.jsonl"
}

# 10. Body on HEAD / 204 / 304.
scenario_10() {
	labserver
	local n=body-on-bodiless-response
	cap_client $n
	client $n -addr $SRV -nodelay -plan "conn 42001; send HEAD /bodiless; read; sleep 200; close"
	client $n -addr $SRV -nodelay -plan "conn 42002; send GET /204; read; sleep 200; close"
	client $n -addr $SRV -nodelay -plan "conn 42003; send GET /304 h=If-None-Match:~\"lab\"; read; sleep 200; close"
	cap_stop; stop $SERVER_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 11. Request after Connection: close (received from the server; sent by the client itself).
scenario_11() {
	labserver
	local n=request-after-close
	cap_client $n
	client $n -addr $SRV -nodelay -plan "conn 42101; send GET /close-then-linger; read; sleep 20; send GET /ok; read; close" || true
	client $n -addr $SRV -nodelay -plan "conn 42102; send GET /ok h=Connection:~close; read; sleep 20; send GET /ok; read; close" || true
	cap_stop; stop $SERVER_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 12. Keep-alive race: nginx keepalive_timeout 1s; reuse after idles around 1 s.
scenario_12() {
	nginx_start $NS_S $S_IP 8081 1s
	local n=keepalive-race idle port=42200
	cap_client $n
	for idle in 900 955 975 990 1010 1040; do
		port=$((port + 1))
		client $n -addr $NGX -nodelay -timeout 1s -plan "conn $port; send GET /tiny.txt; read; sleep $idle; send GET /tiny.txt; read; close" || true
	done
	cap_stop; stop $NGINX_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 13. Abortive close: 3 pipelined GETs, the server answers the first with a 60 kB
# Connection: close response and close()s with the other two unread -> RST.
scenario_13() {
	labserver
	local n=abortive-close
	cap_client $n
	client $n -addr $SRV -nodelay -plan "conn 42301; pipe GET /abort?size=60000|GET /ok|GET /ok; read 3; close" || true
	cap_stop; stop $SERVER_PID
	truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
}

# 14. No connection reuse: curl once per request; control: one curl for all (reuses).
scenario_14() {
	nginx_start $NS_S $S_IP 8081 5s
	local i urls=()
	cap_client no-connection-reuse
	for i in $(seq 1 10); do nsx $NS_C curl -sS -m 5 -o /dev/null "http://$NGX/tiny.txt"; urls+=("http://$NGX/tiny.txt"); done
	cap_stop
	cap_client no-connection-reuse-pooled
	nsx $NS_C curl -sS -m 10 "${urls[@]}" >/dev/null
	cap_stop; stop $NGINX_PID
	truth no-connection-reuse no-connection-reuse.pcap --count 10
	truth no-connection-reuse-pooled no-connection-reuse-pooled.pcap --count 10
}

# 15. Port churn: 800 short connections in ~1.4 s from a 500-port range, TIME_WAIT reuse on.
scenario_15() {
	nsx $NS_C sysctl -qw net.ipv4.ip_local_port_range="40000 40499" net.ipv4.tcp_tw_reuse=1
	nginx_start $NS_S $S_IP 8081 5s
	cap_client port-churn
	client port-churn -addr $NGX -nodelay -par 80 -repeat 800 -plan "conn; send GET /tiny.txt; read; close" >/dev/null
	cap_stop; stop $NGINX_PID
	nsx $NS_C sysctl -qw net.ipv4.ip_local_port_range="32768 60999" net.ipv4.tcp_tw_reuse=2
	truth port-churn port-churn.pcap --client-log "$WORK/port-churn.client.jsonl" --port-range 40000-40499
}

# 16. Parallel connections: 10 concurrent slow GETs; control: 6.
scenario_16() {
	labserver
	cap_client parallel-connections
	client parallel-connections -addr $SRV -nodelay -par 10 -repeat 10 -plan "conn; send GET /ok?delay=400; read; close"
	cap_stop
	cap_client parallel-connections-six
	client parallel-connections-six -addr $SRV -nodelay -par 6 -repeat 6 -plan "conn; send GET /ok?delay=400; read; close"
	cap_stop; stop $SERVER_PID
	truth parallel-connections parallel-connections.pcap --count 10
	truth parallel-connections-six parallel-connections-six.pcap --count 6
}

# 17. Dumb proxy keep-alive hang (HTTP/1.0 Keep-Alive through dumbproxy); control: haproxy.
haproxy_start() {
	cat >"$WORK/haproxy.cfg" <<HAP
global
	maxconn 256
defaults
	mode http
	timeout connect 3s
	timeout client 5s
	timeout server 5s
	option http-keep-alive
frontend fe
	bind $P1_IP:8080
	default_backend be
backend be
	server origin $NGX
HAP
	bg $NS_P haproxy -db -f "$WORK/haproxy.cfg"
	PROXY_PID=$LASTPID
	wait_port $NS_P $P1_IP 8080
}
squid_start() {
	mkdir -p "$WORK/squid"; chmod 777 "$WORK/squid"
	cat >"$WORK/squid/squid.conf" <<SQ
http_port $P1_IP:8080
http_access allow all
cache deny all
cache_mem 8 MB
pid_filename $WORK/squid/squid.pid
access_log none
cache_log $WORK/squid/cache.log
cache_effective_user proxy
coredump_dir $WORK/squid
dns_nameservers 127.0.0.1
shutdown_lifetime 1 seconds
SQ
	bg $NS_P squid -N -f "$WORK/squid/squid.conf"
	PROXY_PID=$LASTPID
	wait_port $NS_P $P1_IP 8080
}
dumbproxy_start() { bg $NS_P timeout 60 "$BIN/dumbproxy" -listen $P1_IP:8080 -origin $NGX; PROXY_PID=$LASTPID; wait_port $NS_P $P1_IP 8080; }
ka10="v=1.0 h=Connection:~Keep-Alive"
scenario_17() {
	nginx_start $NS_S $S_IP 8081 3s
	local n port=41750
	for n in dumb-proxy-keepalive dumb-proxy-keepalive-haproxy dumb-proxy-keepalive-squid; do
		case $n in *haproxy) haproxy_start ;; *squid) squid_start ;; *) dumbproxy_start ;; esac
		cap_proxy $n
		port=$((port + 1))
		client $n -addr $P1_IP:8080 -host $NGX -nodelay -timeout 2s \
			-plan "conn $port; send GET http://$NGX/tiny.txt $ka10; read; sleep 100; send GET http://$NGX/4k.txt $ka10; read; close" || true
		sleep 1.5  # the origin's keepalive_timeout (3 s) closes the proxy's server leg
		cap_stop; stop $PROXY_PID
	done
	stop $NGINX_PID
	for n in dumb-proxy-keepalive dumb-proxy-keepalive-haproxy dumb-proxy-keepalive-squid; do
		truth $n $n.pcap --client-log "$WORK/$n.client.jsonl"
	done
}

# 18. Hop-by-hop headers forwarded on the second leg; control: haproxy.
hop="h=Connection:~close,~X-Lab-Hop h=Keep-Alive:~timeout=5,~max=10 h=Proxy-Connection:~keep-alive h=TE:~trailers h=Upgrade:~websocket h=X-Lab-Hop:~1"
scenario_18() {
	nginx_start $NS_S $S_IP 8081 3s
	local n
	for n in hop-by-hop-forwarded hop-by-hop-haproxy hop-by-hop-squid; do
		case $n in *haproxy) haproxy_start ;; *squid) squid_start ;; *) dumbproxy_start ;; esac
		cap_proxy $n
		client $n -addr $P1_IP:8080 -host $NGX -nodelay -timeout 2s -plan "conn; send GET http://$NGX/tiny.txt $hop; read; sleep 100; close" || true
		sleep 0.3
		cap_stop; stop $PROXY_PID
	done
	stop $NGINX_PID
	for n in hop-by-hop-forwarded hop-by-hop-haproxy hop-by-hop-squid; do truth $n $n.pcap; done
}

# 19. Unsafe retry: POST, the connection dies without a response, the client resends it on a
# new connection; control: the same with GET.
scenario_19() {
	labserver
	cap_client unsafe-retry
	client unsafe-retry -addr $SRV -nodelay -plan "conn 41951; send POST /die body=32; readretry; close"
	cap_stop
	cap_client retry-idempotent
	client retry-idempotent -addr $SRV -nodelay -plan "conn 41952; send GET /die; readretry; close"
	cap_stop; stop $SERVER_PID
	truth unsafe-retry unsafe-retry.pcap --client-log "$WORK/unsafe-retry.client.jsonl"
	truth retry-idempotent retry-idempotent.pcap --client-log "$WORK/retry-idempotent.client.jsonl"
}
