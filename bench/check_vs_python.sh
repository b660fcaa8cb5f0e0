#!/usr/bin/env bash
# Benchmark (not a test): `wsprobe check` of N full exchanges (gen_config.py ... full,
# --concurrency 256) beside the Python reference client (py_check.py) doing the same, each
# against its own ws_server.py, all at the same time (the CPU figures of a loaded machine only
# compare when taken together). With BEFORE_BIN, a second wsprobe runs alongside too.
# Prints wall s, user s, sys s and peak RSS (GNU time) per client, RUNS times.
# Env: N (1000), RUNS (3), WSPROBE_BIN (target/release/wsprobe), BEFORE_BIN (none).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
RUNS=${RUNS:-3}
bin=${WSPROBE_BIN:-target/release/wsprobe}
work=$(mktemp -d /tmp/wsprobe-check.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
ports=(18961 18962 18963)
for port in "${ports[@]}"; do python3 bench/ws_server.py "$port" >/dev/null & done
for port in "${ports[@]}"; do
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
for i in 0 1 2; do
  python3 bench/gen_config.py "$N" "ws://127.0.0.1:${ports[$i]}/" full >"$work/c$i.yaml"
done
fmt="%e %U %S %M"
ok() { python3 -c "import json,collections;r=json.load(open('$1'))['results'];print(dict(collections.Counter(x['verdict'] for x in r)))"; }
for run in $(seq "$RUNS"); do
  pids=()
  /usr/bin/time -f "$fmt" -o "$work/t0" "$bin" check --config "$work/c0.yaml" --format json --concurrency 256 >"$work/o0.json" &
  pids+=($!)
  /usr/bin/time -f "$fmt" -o "$work/t1" python3 bench/py_check.py "$N" "ws://127.0.0.1:${ports[1]}/" >"$work/o1.txt" &
  pids+=($!)
  if [[ -n ${BEFORE_BIN:-} ]]; then
    /usr/bin/time -f "$fmt" -o "$work/t2" "$BEFORE_BIN" check --config "$work/c2.yaml" --format json --concurrency 256 >"$work/o2.json" &
    pids+=($!)
  fi
  wait "${pids[@]}" || true  # check exits non-zero when a probe fails; the counts say so
  report() { read -r wall user sys rss <"$2"; printf '  run %s %-8s wall %5.2f s  CPU %5.2f s (user %.2f sys %.2f)  peak RSS %5.1f MiB  %s\n' \
    "$run" "$1" "$wall" "$(echo "$user + $sys" | bc)" "$user" "$sys" "$(echo "scale=1; $rss / 1024" | bc)" "$3"; }
  report wsprobe "$work/t0" "$(ok "$work/o0.json")"
  report python "$work/t1" "$(cat "$work/o1.txt")"
  if [[ -n ${BEFORE_BIN:-} ]]; then report before "$work/t2" "$(ok "$work/o2.json")"; fi
done
