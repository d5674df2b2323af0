#!/usr/bin/env bash
# make bench: connlint beside tshark and tcpflow on the same large capture.
# Speed is measured here, never asserted in a test.
set -euo pipefail
cd "$(dirname "$0")/.."
PCAP=${BENCH_PCAP:-/tmp/connlint-bench.pcap}
if [ ! -f "$PCAP" ]; then
  go run ./scripts/genpcap -conns "${BENCH_CONNS:-3000}" -tx 20 -body 8000 -o "$PCAP"
fi
for t in tshark tcpflow; do
  command -v $t >/dev/null || { SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get install -y -qq $t >/dev/null || true; }
done
size=$(stat -c %s "$PCAP")
echo "capture: $PCAP ($((size/1000000)) MB)"
measure() { # name, command...
  local name=$1; shift
  local start end rss
  start=$(date +%s.%N)
  local tf; tf=$(mktemp)
  /usr/bin/time -f '%M' -o "$tf" "$@" >/dev/null 2>&1 || true
  rss=$(tail -1 "$tf"); rm -f "$tf"
  end=$(date +%s.%N)
  awk -v n="$name" -v s="$start" -v e="$end" -v b="$size" -v r="$rss" 'BEGIN{d=e-s; printf "%-28s %7.2f s  %7.1f MB/s  max RSS %s kB\n", n, d, b/d/1e6, r}'
}
[ -x /usr/bin/time ] || apt-get install -y -qq time >/dev/null 2>&1 || true
measure "connlint analyze" ./bin/connlint analyze --format json "$PCAP"
measure "connlint (no rules)" ./bin/connlint analyze --format json --enable inconsistent-overlap "$PCAP"
command -v tshark >/dev/null && measure "tshark -z conv,tcp" tshark -r "$PCAP" -q -z conv,tcp
command -v tshark >/dev/null && measure "tshark -Y http (parse)" tshark -r "$PCAP" -Y http -T fields -e frame.number
command -v tcpflow >/dev/null && { d=$(mktemp -d); measure "tcpflow (reassemble)" tcpflow -r "$PCAP" -o "$d"; rm -rf "$d"; }
echo "go benchmarks:"
go test -run '^$' -bench . -benchmem ./reassembly/ ./reassembly/http1/ ./cmd/connlint/ 2>/dev/null | grep -E '^Benchmark|^ok' || true
