#!/usr/bin/env bash
# Benchmark (not a test): resident memory of an idle `wsprobe run` with 10 environments on
# `*/5 * * * *` (full exchange against a local `wsprobe lab`): the daemon probes all of them once
# at start; 20 s after the last of those results is visible in /api/v1/status, print VmRSS and
# VmHWM from /proc. OTLP export (metrics every 5 s, and the probes' traces) goes to a local sink
# (`otlp_sink.py`) and `/metrics` is scraped once before the reading, so both ways out are on.
# Env: N (10), SETTLE (20 s), OTLP (1; 0 for none), SMAPS (a file to copy /proc/PID/smaps to), WSPROBE_BIN (default target/release/wsprobe,
# built if unset).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10}
SETTLE=${SETTLE:-20}
LAB_PORT=${LAB_PORT:-18773}
DAEMON_PORT=${DAEMON_PORT:-18774}
OTLP_PORT=${OTLP_PORT:-18775}
OTLP=${OTLP:-1}
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi

work=$(mktemp -d /tmp/wsprobe-idle.XXXXXX)
lab_pid=; daemon_pid=; sink_pid=
cleanup() {
  for p in $daemon_pid $lab_pid $sink_pid; do kill "$p" 2>/dev/null || true; done
  for p in $daemon_pid $lab_pid $sink_pid; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
wait_port() {
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open within $2 s" >&2; return 1
}

"$bin" lab --listen "127.0.0.1:$LAB_PORT" >"$work/lab.log" 2>&1 &
lab_pid=$!
wait_port "$LAB_PORT" 20
python3 bench/gen_config.py "$N" "ws://127.0.0.1:$LAB_PORT/ws/healthy" full |
  awk '{print} /^defaults:/{print "  schedule: \"*/5 * * * *\""}' >"$work/probes.yaml"
printf 'server: { listen: "127.0.0.1:%s" }\nstorage: { path: "%s" }\n' "$DAEMON_PORT" "$work/idle.db" >>"$work/probes.yaml"
if ((OTLP)); then
  python3 bench/otlp_sink.py "$OTLP_PORT" &
  sink_pid=$!
  wait_port "$OTLP_PORT" 20
  printf 'telemetry: { otlp: { endpoint: "http://127.0.0.1:%s", interval: 5s } }\n' "$OTLP_PORT" >>"$work/probes.yaml"
fi

"$bin" run --config "$work/probes.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_port "$DAEMON_PORT" 30
probed=0
for _ in $(seq 300); do   # at most 30 s for the start-up probes
  probed=$(curl -fsS "http://127.0.0.1:$DAEMON_PORT/api/v1/status" |
    python3 -c 'import json,sys; print(sum(e["last_run"] is not None and not e["running"] for e in json.load(sys.stdin)["environments"]))')
  ((probed >= N)) && break
  sleep 0.1
done
echo "== daemon_idle: N=$N schedule='*/5 * * * *': $probed of $N start-up probes done; settling ${SETTLE}s"
sleep "$SETTLE"
curl -fsS "http://127.0.0.1:$DAEMON_PORT/metrics" >/dev/null
sleep 1
status=/proc/$daemon_pid/status
printf '  VmRSS %.1f MiB   VmHWM %.1f MiB   threads %s   (%s)\n' \
  "$(awk '/^VmRSS/{print $2/1024}' "$status")" "$(awk '/^VmHWM/{print $2/1024}' "$status")" \
  "$(awk '/^Threads/{print $2}' "$status")" \
  "$(curl -fsS "http://127.0.0.1:$DAEMON_PORT/api/v1/status" | python3 -c 'import json,sys,collections; print(dict(collections.Counter(e["verdict"] for e in json.load(sys.stdin)["environments"])))')"
awk '/^(Rss|Anonymous|Shared_Clean|Private_Clean|Private_Dirty):/{printf "  %s %.1f MiB", $1, $2/1024} END{print ""}' "/proc/$daemon_pid/smaps_rollup"
if ((OTLP)); then echo "  OTLP sink received: $(curl -fsS "http://127.0.0.1:$OTLP_PORT/counts")"; fi
ps -o cputime= -p "$daemon_pid" | xargs echo "  daemon CPU time"
if [[ -n ${SMAPS:-} ]]; then cp "/proc/$daemon_pid/smaps" "$SMAPS"; fi
echo "  daemon log WARN/ERROR lines: $(sed 's/\x1b\[[0-9;]*m//g' "$work/daemon.log" | grep -cE ' (WARN|ERROR) ' || true)"
