#!/usr/bin/env bash
# make bench: connlint beside tshark, tcpflow, tcptrace and the tcpdump read
# floor on the same real capture, plus the peak RSS on a 1 M-SYN flood.
# Speed is measured here, never asserted in a test.
#
#   BENCH_DIR   where the captures live (default /tmp/connlint-bench)
#   BENCH_PCAP  the capture to measure (default $BENCH_DIR/big-mtu1500.pcap,
#               recorded with ../shared/bench/make-captures.sh as root when
#               missing; falls back to a synthetic genpcap file when it
#               cannot be recorded)
#   BENCH_QUICK=1  measure the first 10 % of the capture only
#   BENCH_RUNS     runs per tool, the fastest is shown (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
D=${BENCH_DIR:-/tmp/connlint-bench}
mkdir -p "$D"
RECIPE=${BENCH_RECIPE:-../shared/bench/make-captures.sh}
[ -f "$RECIPE" ] || RECIPE=/work/shared/bench/make-captures.sh
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
PCAP=${BENCH_PCAP:-$D/big-mtu1500.pcap}
if [ ! -f "$PCAP" ]; then
  if [ -f "$RECIPE" ] && [ -z "${BENCH_PCAP:-}" ]; then
    need=""
    for p in nginx-light tcpdump wrk apache2-utils curl ethtool wireshark-common; do dpkg -s $p >/dev/null 2>&1 || need="$need $p"; done
    [ -z "$need" ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null
    echo "recording the benchmark capture into $D (root, about a minute)"
    (cd "$D" && BENCH_DIR="$D" $SUDO bash "$(realpath "$OLDPWD/$RECIPE")" 1 >"$D/make.log" 2>&1) || true
  fi
  if [ ! -f "$PCAP" ]; then
    PCAP=$D/genpcap.pcap
    [ -f "$PCAP" ] || go run ./scripts/genpcap -conns "${BENCH_CONNS:-3000}" -tx 20 -body 8000 -o "$PCAP"
  fi
fi
if [ "${BENCH_QUICK:-}" = 1 ]; then
  q=${PCAP%.pcap}-10pct.pcap
  if [ ! -f "$q" ]; then
    n=$(capinfos -c -M "$PCAP" | awk '/Number of packets/{print $NF}')
    tcpdump -r "$PCAP" -c $((n / 10)) -w "$q" 2>/dev/null
  fi
  PCAP=$q
fi
FLOOD=$D/synflood-1m.pcap
[ -f "$FLOOD" ] || go run ./scripts/synflood -n 1000000 -o "$FLOOD"

need=""
for t in tshark tcpflow tcptrace capinfos; do command -v $t >/dev/null || need="$need $t"; done
[ -x /usr/bin/time ] || need="$need time"
need=${need/capinfos/wireshark-common}
[ -z "$need" ] || DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $need >/dev/null || true

size=$(stat -c %s "$PCAP")
pkts=$(capinfos -c -M "$PCAP" | awk '/Number of packets/{print $NF}')
cat "$PCAP" >/dev/null # page cache warm for every tool
echo "capture: $PCAP ($((size / 1000000)) MB, $pkts packets)  load: $(cut -d' ' -f1-3 /proc/loadavg)  cpus: $(nproc)"
printf '%-26s %8s %8s %8s %9s %10s %10s\n' tool wall cpu rssMB MB/s pkts/s connlint×
R=$(mktemp); trap 'rm -f "$R"' EXIT
measure() { # name, command... : one line; the wall time is kept in $R for the ratio
  local name=$1; shift
  local tf; tf=$(mktemp)
  local best="" w u s r wall usr sys rss
  # best of BENCH_RUNS (default 3) by wall time: other work on the machine
  # only ever adds to a run
  for _ in $(seq "${BENCH_RUNS:-3}"); do
    /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" >/dev/null 2>&1 || true
    read -r w u s r < <(tail -1 "$tf")
    if [ -z "$best" ] || awk -v a="$w" -v b="$wall" 'BEGIN{exit !(a < b)}'; then
      best=1 wall=$w usr=$u sys=$s rss=$r
    fi
  done
  rm -f "$tf"
  echo "$name $wall" >>"$R"
  local cl; cl=$(awk 'NR==1{print $NF}' "$R")
  awk -v n="$name" -v w="$wall" -v u="$usr" -v s="$sys" -v r="$rss" -v b="$size" -v p="$pkts" -v c="$cl" 'BEGIN{
    if (w <= 0) w = 0.001
    printf "%-26s %7.2fs %7.2fs %8.0f %9.1f %10.0f %9.2fx\n", n, w, u+s, r/1024, b/w/1e6, p/w, w/c}'
}
measure "connlint analyze" ./bin/connlint analyze --format json "$PCAP"
# the defaults' two costs: one worker instead of the cores; no heap limit
measure "  --workers 1" ./bin/connlint analyze --workers 1 --format json "$PCAP"
measure "  --memory-limit 0" ./bin/connlint analyze --memory-limit 0 --format json "$PCAP"
command -v tshark >/dev/null && measure "tshark -q -z expert" tshark -q -z expert -r "$PCAP"
command -v tcpflow >/dev/null && { t=$(mktemp -d); measure "tcpflow -r" tcpflow -r "$PCAP" -o "$t"; rm -rf "$t"; }
command -v tcptrace >/dev/null && measure "tcptrace -n" tcptrace -n "$PCAP"
measure "tcpdump -r -w /dev/null" tcpdump -r "$PCAP" -w /dev/null
echo "(connlint× = the tool's wall time / connlint's: above 1 means connlint is faster)"
tf=$(mktemp)
/usr/bin/time -f '%e %M' -o "$tf" ./bin/connlint analyze --format json "$FLOOD" >/dev/null 2>&1 || true
read -r w r < <(tail -1 "$tf"); rm -f "$tf"
echo "SYN flood ($FLOOD, 1 M SYNs from distinct clients): ${w}s, peak RSS $((r / 1024)) MB"
if [ -z "${BENCH_NO_GO:-}" ]; then
  echo "go benchmarks:"
  go test -run "^$" -bench . -benchmem ./reassembly/ ./reassembly/http1/ ./cmd/connlint/ 2>/dev/null | grep -E '^Benchmark|^ok' || true
fi
