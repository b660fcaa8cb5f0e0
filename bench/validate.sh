#!/usr/bin/env bash
# Benchmark (not a test): CPU seconds and peak RSS of `wsprobe validate` over N environments
# (default 1,000 and 10,000) of the full-exchange shape `gen_config.py` writes, three runs each.
# Usage: bench/validate.sh            Env: WSPROBE_BIN (default: target/release/wsprobe, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%8s %4s %10s %12s\n' N run cpu_s peak_rss_MiB
for n in ${SIZES:-1000 10000}; do
  python3 bench/gen_config.py "$n" "ws://127.0.0.1:18766/" full > "$work/p$n.yaml"
  for run in 1 2 3; do
    /usr/bin/time -f "%U %S %M" -o "$work/time" "$bin" validate --config "$work/p$n.yaml" > /dev/null
    read -r user sys rss < "$work/time"
    printf '%8d %4d %10.2f %12.1f\n' "$n" "$run" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
  done
done
