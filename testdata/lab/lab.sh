#!/usr/bin/env bash
# connlint traffic lab: records real HTTP/TCP connection-management problems
# into testdata/lab/<scenario>.pcap with a ground-truth <scenario>.truth.json.
# Run as root:  make lab   (or: bash testdata/lab/lab.sh)
#   LAB_DELAY_MS=10          one-way delay of each link (client<->proxy, proxy<->server)
#   LAB_SCENARIOS="1 2 5"    record only these scenario numbers (default: all)
#   LAB_OUT=dir              where to write pcaps/truths (default: testdata/lab)
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$LAB_DIR/../.." && pwd)"
OUT="${LAB_OUT:-$LAB_DIR}"
DELAY_MS="${LAB_DELAY_MS:-10}"
SCENARIOS="${LAB_SCENARIOS:-1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19}"
WORK="$(mktemp -d /tmp/connlint-lab.XXXXXX)"
chmod 755 "$WORK"  # squid runs as user proxy
BIN="$WORK/bin"
P=cl  # namespace prefix
NS_C=${P}-client NS_P=${P}-proxy NS_S=${P}-server NS_M1=${P}-wire1 NS_M2=${P}-wire2
# Addresses from the benchmarking range (RFC 2544), only inside our namespaces.
C_IP=198.18.1.1 P1_IP=198.18.1.2 P2_IP=198.18.2.1 S_IP=198.18.2.2
PIDS=()
DELAY_MODE=""

log() { printf '[lab %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

cleanup() {
	local rc=$?
	set +e
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.2
	for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for ns in $NS_C $NS_P $NS_S $NS_M1 $NS_M2; do
		# anything still running inside one of our namespaces
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$WORK"
	[ $rc -eq 0 ] || log "failed (exit $rc); namespaces and processes cleaned up"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" -eq 0 ] || die "run as root (network namespaces, tcpdump)"

# ---------------------------------------------------------------- packages
wait_dpkg() {
	local i
	for i in $(seq 1 120); do  # up to 10 minutes
		if ! fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; then
			return 0
		fi
		log "waiting for the dpkg lock ($i)"
		sleep 5
	done
	die "dpkg lock still held after 10 minutes"
}
install_packages() {
	local need=() cmd pkg
	for pair in tcpdump:tcpdump nginx:nginx-light haproxy:haproxy squid:squid ethtool:ethtool ip:iproute2 \
		curl:curl python3:python3 tshark:tshark mergecap:tshark fuser:psmisc; do
		cmd=${pair%%:*} pkg=${pair#*:}
		command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	log "installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	command -v fuser >/dev/null 2>&1 && wait_dpkg
	apt-get update -q -o DPkg::Lock::Timeout=600 || true
	command -v fuser >/dev/null 2>&1 && wait_dpkg
	local i
	for i in 1 2 3 4 5 6; do
		apt-get install -y -q -o DPkg::Lock::Timeout=600 "${need[@]}" && return 0
		log "apt-get install failed (lock?), retry $i"; sleep 10
	done
	die "could not install ${need[*]}"
}

build_tools() {
	mkdir -p "$BIN"
	local p
	for p in relay client server dumbproxy; do
		(cd "$ROOT" && go build -o "$BIN/$p" "./testdata/lab/$p") || die "go build $p"
	done
}

# Timing scenarios need the lab's processes to run when their timers fire. On a shared,
# loaded machine a 10 ms sleep can take 100+ ms under the normal scheduler, so the script
# (and all it starts from here on: relays, servers, clients, tcpdump) runs SCHED_FIFO.
# None of them spins; the kernel's RT throttling still leaves 5 % to everyone else.
realtime() {
	if [ "${LAB_NO_RT:-}" != 1 ] && command -v chrt >/dev/null && chrt -f -p 20 $$ >/dev/null 2>&1; then
		log "running SCHED_FIFO 20 (LAB_NO_RT=1 to disable)"
	fi
}

# ---------------------------------------------------------------- topology
#   client ==[wire1]== proxy ==[wire2]== server
# Each [wire] is either netem on the host veths or a middle namespace whose two
# veths are bridged by the relay with DELAY_MS per direction.
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

quiet_ns() { # no IPv6 (no ND/RS noise in captures), loopback up
	nsx "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	nsx "$1" ip link set lo up
}
offloads_off() { nsx "$1" ethtool -K "$2" tso off gso off gro off tx off rx off >/dev/null 2>&1 || nsx "$1" ethtool -K "$2" tso off gso off gro off; }
mac_of() { nsx "$1" cat "/sys/class/net/$2/address"; }

make_link() { # name hostA ifA ipA hostB ifB ipB middle-ns
	local name=$1 na=$2 ia=$3 ipa=$4 nb=$5 ib=$6 ipb=$7 nm=$8
	ip link add "$ia" netns "$na" type veth peer name "${name}a" netns "$nm"
	ip link add "$ib" netns "$nb" type veth peer name "${name}b" netns "$nm"
	local x
	for x in "$na:$ia" "$nb:$ib" "$nm:${name}a" "$nm:${name}b"; do
		offloads_off "${x%%:*}" "${x#*:}"
		nsx "${x%%:*}" ip link set "${x#*:}" up
	done
	nsx "$nm" ip link set "${name}a" promisc on
	nsx "$nm" ip link set "${name}b" promisc on
	nsx "$na" ip addr add "$ipa/24" dev "$ia"
	nsx "$nb" ip addr add "$ipb/24" dev "$ib"
	# static ARP: captures hold only the scenario's traffic
	nsx "$na" ip neigh replace "$ipb" lladdr "$(mac_of "$nb" "$ib")" dev "$ia" nud permanent
	nsx "$nb" ip neigh replace "$ipa" lladdr "$(mac_of "$na" "$ia")" dev "$ib" nud permanent
	nsx "$na" sysctl -qw "net.ipv4.conf.$ia.arp_ignore=8" || true
	nsx "$nb" sysctl -qw "net.ipv4.conf.$ib.arp_ignore=8" || true
}

start_delay() { # middle-ns ifA-host ns-host ifB-host ns-host
	local nm=$1 name=$2 na=$3 ia=$4 nb=$5 ib=$6
	if [ -z "$DELAY_MODE" ]; then
		# try netem first; fall back to the relay
		if nsx "$na" tc qdisc add dev "$ia" root netem delay "${DELAY_MS}ms" 2>/dev/null; then
			nsx "$na" tc qdisc del dev "$ia" root
			DELAY_MODE=netem
		else
			DELAY_MODE=relay
		fi
		log "link delay via $DELAY_MODE (${DELAY_MS} ms each way per link)"
	fi
	if [ "$DELAY_MODE" = netem ]; then
		nsx "$na" tc qdisc add dev "$ia" root netem delay "${DELAY_MS}ms" limit 100000
		nsx "$nb" tc qdisc add dev "$ib" root netem delay "${DELAY_MS}ms" limit 100000
		# still need the middle namespace to pass frames: relay with zero delay
		ip netns exec "$nm" chrt -f 30 "$BIN/relay" -a "${name}a" -b "${name}b" -delay 0 2>>"$WORK/relay-$name.log" &
	else
		ip netns exec "$nm" chrt -f 30 "$BIN/relay" -a "${name}a" -b "${name}b" -delay "${DELAY_MS}ms" 2>>"$WORK/relay-$name.log" &
	fi
	PIDS+=($!)
}

setup_topology() {
	local ns
	for ns in $NS_C $NS_P $NS_S $NS_M1 $NS_M2; do
		ip netns del "$ns" 2>/dev/null || true
		ip netns add "$ns"
		quiet_ns "$ns"
	done
	make_link w1 $NS_C c0 $C_IP $NS_P p0 $P1_IP $NS_M1
	make_link w2 $NS_P p1 $P2_IP $NS_S s0 $S_IP $NS_M2
	nsx $NS_P sysctl -qw net.ipv4.ip_forward=1
	nsx $NS_C ip route add 198.18.2.0/24 via $P1_IP
	nsx $NS_S ip route add 198.18.1.0/24 via $P2_IP
	start_delay $NS_M1 w1 $NS_C c0 $NS_P p0
	start_delay $NS_M2 w2 $NS_P p1 $NS_S s0
	sleep 0.3
}

# ---------------------------------------------------------------- capture
CAP_PIDS=()
cap_start() { # ns iface file
	local f="$WORK/cap-$2-$(basename "$3")"
	ip netns exec "$1" tcpdump -Z root --immediate-mode -i "$2" -w "$f" -s 0 -U -n 'tcp or icmp' 2>>"$WORK/tcpdump.log" &
	CAP_PIDS+=("$!:$f:$3")
	PIDS+=($!)
	local i
	for i in $(seq 1 50); do grep -q "listening on $2" "$WORK/tcpdump.log" 2>/dev/null && break; sleep 0.1; done
	sleep 0.3
}
cap_stop() { # writes each capture's final file; merges when several target one file
	sleep 0.3
	local e pid f dst
	declare -A parts=()
	for e in "${CAP_PIDS[@]}"; do
		IFS=: read -r pid f dst <<<"$e"
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		parts[$dst]+="$f "
	done
	CAP_PIDS=()
	for dst in "${!parts[@]}"; do
		# shellcheck disable=SC2086
		set -- ${parts[$dst]}
		if [ $# -eq 1 ]; then cp "$1" "$dst"; else mergecap -F pcap -w "$dst" "$@"; fi
		rm -f "$@"
	done
	: >"$WORK/tcpdump.log"
}

# ---------------------------------------------------------------- servers
bg() { # ns cmd... ; runs in background, remembered for cleanup, pid in LASTPID
	local ns=$1; shift
	ip netns exec "$ns" "$@" >>"$WORK/bg.log" 2>&1 &
	LASTPID=$!
	PIDS+=("$LASTPID")
}
stop() { local pid; for pid in "$@"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
wait_port() { # ns ip port
	local i
	for i in $(seq 1 100); do
		nsx "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null && return 0
		sleep 0.05
	done
	die "nothing listening on $2:$3 in $1"
}

NGINX_PID=""
nginx_start() { # ns ip port keepalive_timeout
	local ns=$1 ip=$2 port=$3 kt=$4
	local d="$WORK/nginx-$port"
	mkdir -p "$d/html" "$d/tmp"
	printf 'hello\n' >"$d/html/tiny.txt"
	head -c 4000 /dev/zero | tr '\0' 'a' >"$d/html/4k.txt"
	head -c 60000 /dev/zero | tr '\0' 'b' >"$d/html/60k.txt"
	head -c 100000 /dev/zero | tr '\0' 'c' >"$d/html/100k.txt"
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
	keepalive_requests 1000;
	sendfile off;
	tcp_nopush off;
	server {
		listen $ip:$port reuseport backlog=4096;
		root $d/html;
		location = /post { return 200 "posted\n"; }
		location = /slow { return 200 "slow\n"; }
	}
}
NGX
	bg "$ns" nginx -c "$d/nginx.conf"
	NGINX_PID=$LASTPID
	wait_port "$ns" "$ip" "$port"
}

# ---------------------------------------------------------------- truth
truth() { # scenario pcap [key=value...]: verifies the pcap and writes the truth file
	local sc=$1 pcap=$2; shift 2
	chrt -o 0 python3 "$LAB_DIR/truth.py" --scenario "$sc" --pcap "$pcap" --out "$OUT" --delay-ms "$DELAY_MS" \
		--work "$WORK" "$@"
}

source "$LAB_DIR/scenarios.sh"

main() {
	install_packages
	command -v go >/dev/null || die "go toolchain needed to build the lab programs"
	build_tools
	realtime
	setup_topology
	local n failed=()
	for n in $SCENARIOS; do
		declare -F "scenario_$n" >/dev/null || die "no scenario $n"
		log "scenario $n"
		set +e
		( set -e; "scenario_$n" )
		local rc=$?
		set -e
		if [ $rc -ne 0 ]; then
			failed+=("$n")
			log "scenario $n FAILED (exit $rc)"
		fi
		stop_all_bg
	done
	if [ ${#failed[@]} -gt 0 ]; then die "failed scenarios: ${failed[*]}"; fi
	log "done: $(cd "$OUT" && du -ch ./*.pcap | tail -1)"
}
stop_all_bg() { # kill leftovers of a scenario in the host namespaces (not the relays)
	local ns pid
	for ns in $NS_C $NS_P $NS_S; do
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
	done
	return 0
}
# LAB_LIB=1: only define the functions (testdata/trust/record.sh sources this file).
if [ -n "${LAB_LIB:-}" ]; then :; elif [ -n "${LAB_DEBUG_SHELL:-}" ]; then build_tools; realtime; setup_topology; log "debug: topology up, running: $LAB_DEBUG_SHELL"; eval "$LAB_DEBUG_SHELL"; else main "$@"; fi
