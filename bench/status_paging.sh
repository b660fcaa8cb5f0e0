#!/usr/bin/env bash
# Benchmark (not a test): the status page and the status API of a large fleet (issue 28: "the
# same 100,000 environments with the status page answering `/` and `/api/v1/status` with p99
# <= 50 ms under wrk -c50"). N environments (default 100,000) against one `wsprobe lab`,
# upgrade only, every 97th on a port that refuses (down), on a schedule that does not fire during the
# run (`0 0 1 1 *`): each is probed once at start. Once no environment is left unprobed (or
# after SETTLE seconds), wrk (-t2 -cCONNECTIONS -dDURATION --latency) loads, in turn: `/`, `/?page=3`,
# `/api/v1/status`, `/api/v1/status?status=down,degraded&limit=100` and an environment page.
# Printed per path: one warm request's size and time, then wrk's requests/s and latency
# distribution; the daemon's peak RSS at the end. wrk and the daemon share the machine.
#
# Needs: wrk, curl, python3.
# Env: WSPROBE_BIN (default target/release/wsprobe, built here if unset), N (100000),
# DURATION (10s), CONNECTIONS (50), SETTLE (300), KEEP=1 keeps the work dir, WORK=dir reuses one.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-100000}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
SETTLE=${SETTLE:-300}
LAB_PORT=${LAB_PORT:-18791}
DAEMON_PORT=${DAEMON_PORT:-18792}
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi
bin=$(realpath "$bin")

# WORK=dir (kept by an earlier KEEP=1 run, same ports) starts from its config and database:
# the daemon seeds every environment's latest result from the store, nothing to wait for.
work=${WORK:-$(mktemp -d /tmp/wsprobe-paging.XXXXXX)}
if [[ -n ${WORK:-} ]]; then KEEP=1; fi
lab_pid=; daemon_pid=
cleanup() {
  for p in $daemon_pid $lab_pid; do kill "$p" 2>/dev/null || true; done
  for p in $daemon_pid $lab_pid; do
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ -n ${KEEP:-} ]]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
wait_port() {
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open within $2 s" >&2; return 1
}

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
"$bin" lab --listen "127.0.0.1:$LAB_PORT" >"$work/lab.log" 2>&1 &
lab_pid=$!
wait_port "$LAB_PORT" 20
[[ -s $work/probes.yaml ]] || python3 - "$N" "$LAB_PORT" "$DAEMON_PORT" "$work" >"$work/probes.yaml" <<'PY'
import sys
n, lab, daemon, work = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
print('defaults:\n  timeout: 30s\n  schedule: "0 0 1 1 *"\n  subprotocols: ["jwt-auth"]\n  steps: []')
print("environments:")
for i in range(n):
    # Every 97th is down: its port refuses the connection (a close right after the upgrade
    # races the probe's own close when there are no steps).
    url = "ws://127.0.0.1:9/ws" if i % 97 == 0 else f"ws://127.0.0.1:{lab}/ws/healthy"
    print(f'  - {{ name: env-{i}, url: "{url}" }}')
print(f'server: {{ listen: "127.0.0.1:{daemon}" }}\nstorage: {{ path: "{work}/paging.db" }}')
PY
"$bin" run --config "$work/probes.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_port "$DAEMON_PORT" 120
base="http://127.0.0.1:$DAEMON_PORT"
unknown() {
  curl -fsS -m 30 "$base/api/v1/status?limit=1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["by_status"]["unknown"])' || echo "?"
}
end=$((SECONDS + SETTLE))
while ((SECONDS < end)) && [[ $(unknown) != 0 ]]; do sleep 2; done
echo "== status_paging: N=$N, $(unknown) not probed yet after $((SECONDS)) s; wrk -t2 -c$CONNECTIONS -d$DURATION"
curl -fsS "$base/api/v1/status?limit=1" | python3 -c 'import json,sys; print("summary:", json.load(sys.stdin)["summary"])'
for path in / "/?page=3" /api/v1/status "/api/v1/status?status=down,degraded&limit=100" /environments/env-97; do
  curl -fsS -o /dev/null "$base$path"   # warm the render
  echo "-- $path: $(curl -fsS -o /dev/null -w '%{size_download} bytes in %{time_total} s' "$base$path")"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path" |
    grep -E 'Requests/sec|Latency  |^ +(50|90|99)%|Non-2xx|errors'
done
# The uptime columns come from a summing of every environment's rollups that outlives a view's
# wait at this size: its figures reach the views that come after it.
curl -fsS "$base/api/v1/status?limit=1000" | python3 -c 'import json,sys
envs = json.load(sys.stdin)["environments"]
shown = sum(1 for e in envs if e["uptime"]["24h"] is not None)
print("uptime 24h shown for", shown, "of the first", len(envs))'
echo "daemon peak RSS: $(awk '/VmHWM/{print $2, $3}' "/proc/$daemon_pid/status")"
