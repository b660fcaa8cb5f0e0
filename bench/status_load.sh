#!/usr/bin/env bash
# Benchmark (not a test): the status page `/`, `/api/v1/status` and an environment page
# (`/environments/env-0`: its runs, incidents, and the latency chart and 90 uptime bars drawn
# from 90 days of rollups) under load, with the daemon
# serving a month of history: 100 environments x 30 days x every 5 minutes = 864,000 runs,
# seeded by bench/seed_store.py (made once, then reused; SEED=1 re-seeds).
#
# The daemon runs on a copy of the seeded file, with the seeded environments at the seeded URLs
# (on a local `wsprobe lab`: its one start-up probe per environment is cheap and reuses the
# seeded blobs), a schedule that does not fire during the run (`0 0 1 1 *`) and `retention: 90d`
# (the default 30d would start pruning the oldest seeded runs). Once the start-up probes are
# stored, wrk (100 connections, 2 threads, 15 s, --latency) loads each path in turn, then
# (for comparison) with one connection for 5 s. Printed: one
# warm request (size, time), requests/s, p50/p90/p99/max latency, errors, the daemon's CPU during
# the run and its peak RSS; then bytes per stored run (database + -wal after
# `PRAGMA wal_checkpoint(TRUNCATE)`, over the runs stored) for the seeded file and for the copy.
# The target is p99 <= 20 ms. wrk and the daemon share the machine's 2 cores.
#
# Needs: wrk (apt-get install -y wrk), curl, python3, sqlite3.
# Env: WSPROBE_BIN (default target/release/wsprobe, built here if unset), SEEDED (default
# /tmp/wsprobe-bench/seeded.db), SEED=1 to re-seed with WSPROBE_BIN, DURATION (15s),
# CONNECTIONS (100), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi
bin=$(realpath "$bin")
SEEDED=${SEEDED:-/tmp/wsprobe-bench/seeded.db}
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-100}
THREADS=${THREADS:-2}
LAB_PORT=18781      # the seeded URLs and `host` header name this port (seed_store.py --lab-port)
DAEMON_PORT=18782
ENVS=100

if [[ ! -f $SEEDED || -n ${SEED:-} ]]; then
  python3 bench/seed_store.py --db "$SEEDED" --bin "$bin" --lab-port "$LAB_PORT" --daemon-port "$DAEMON_PORT" --envs "$ENVS"
fi

work=$(mktemp -d /tmp/wsprobe-status-load.XXXXXX)
lab_pid=; daemon_pid=
cleanup() {
  for p in $daemon_pid $lab_pid; do kill "$p" 2>/dev/null || true; done
  for p in $daemon_pid $lab_pid; do
    for _ in $(seq 400); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
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
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
bytes_per_run() { # db -> "size runs bytes/run", after a TRUNCATE checkpoint
  sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
  local size runs
  size=$(( $(stat -c %s "$1") + $( [[ -f $1-wal ]] && stat -c %s "$1-wal" || echo 0) ))
  runs=$(sqlite3 "$1" 'SELECT count(*) FROM runs;')
  echo "$size $runs $(python3 -c "print(f'{$size / $runs:.1f}')")"
}

read -r s_size s_runs s_per < <(bytes_per_run "$SEEDED")
cp "$SEEDED" "$work/status.db"
"$bin" lab --listen "127.0.0.1:$LAB_PORT" >"$work/lab.log" 2>&1 &
lab_pid=$!
wait_port "$LAB_PORT" 20
python3 - "$work/probes.yaml" "$work/status.db" "$LAB_PORT" "$DAEMON_PORT" "$ENVS" <<'PY'
import sys
sys.path.insert(0, "bench")
from seed_store import env_url, full_config
out, db, lab, daemon, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
open(out, "w").write(full_config([(f"env-{i}", env_url(lab, f"env-{i}")) for i in range(n)], db, daemon,
                                 extra_defaults='  schedule: "0 0 1 1 *"', retention="90d"))
PY
"$bin" run --config "$work/probes.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_port "$DAEMON_PORT" 60
want=$((s_runs + ENVS))
for _ in $(seq 600); do   # at most 60 s for the start-up probes to be stored
  (( $(sqlite3 "file:$work/status.db?mode=ro" 'SELECT count(*) FROM runs;') >= want )) && break
  sleep 0.1
done
base=http://127.0.0.1:$DAEMON_PORT
echo "== status_load: $(basename "$bin") at $bin, $s_runs seeded runs + $ENVS start-up runs, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
for path in / /api/v1/status /environments/env-0; do
  curl -fsS -o /dev/null "$base$path"   # warm-up
  printf '  one request %-15s %8s bytes  %6.1f ms\n' "$path" \
    $(curl -fsS -o /dev/null -w '%{size_download} %{time_total}' "$base$path" | awk '{print $1, $2 * 1000}')
done
printf '  %-15s %4s %9s %9s %9s %9s %9s %9s %10s  %s\n' path conn req/s p50 p90 p99 max requests "cpu/req" errors
# The 100-connection runs are the figures asked for; one connection (5 s, one wrk thread) shows
# the cost of a request without queueing behind 99 others.
for run in "/ $CONNECTIONS $THREADS $DURATION" "/api/v1/status $CONNECTIONS $THREADS $DURATION" \
           "/environments/env-0 $CONNECTIONS $THREADS $DURATION" \
           "/ 1 1 5s" "/api/v1/status 1 1 5s" "/environments/env-0 1 1 5s"; do
  read -r path conns threads duration <<<"$run"
  c0=$(cpu_ticks "$daemon_pid")
  wrk -t"$threads" -c"$conns" -d"$duration" --timeout 10s --latency "$base$path" >"$work/wrk.txt" 2>&1 || true
  c1=$(cpu_ticks "$daemon_pid")
  cat "$work/wrk.txt" >>"$work/wrk-all.txt"
  awk -v path="$path" -v conns="$conns" -v cpu="$(( c1 - c0 ))" -v hz="$hz" '
    /^ +50%/ {p50=$2} /^ +90%/ {p90=$2} /^ +99%/ {p99=$2}
    /^ +Latency / && !max {max=$4}
    / requests in / {n=$1}
    /^Requests\/sec:/ {rps=$2}
    /Non-2xx/ {err = err " non2xx=" $NF}
    /Socket errors/ {sub(/^ *Socket errors: */, ""); err = err " socket(" $0 ")"}
    END {printf "  %-15s %4s %9s %9s %9s %9s %9s %9s %8.2fms  %s\n", path, conns, rps, p50, p90, p99, max, n,
           (n ? cpu / hz * 1000 / n : 0), (err ? err : "none")}' "$work/wrk.txt"
done
printf '  daemon VmHWM %.1f MiB, VmRSS %.1f MiB after the runs; load average %s (2 cores; wrk runs on them too)\n' \
  "$(awk '/^VmHWM/{print $2/1024}' "/proc/$daemon_pid/status")" "$(awk '/^VmRSS/{print $2/1024}' "/proc/$daemon_pid/status")" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$daemon_pid"
for _ in $(seq 400); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
daemon_pid=
read -r c_size c_runs c_per < <(bytes_per_run "$work/status.db")
echo "  bytes per stored run: seeded file $s_size B / $s_runs runs = $s_per B/run; after the daemon ran: $c_size B / $c_runs runs = $c_per B/run"
echo "  daemon log WARN/ERROR lines, by message (numbers as N):"
{ sed 's/\x1b\[[0-9;]*m//g' "$work/daemon.log" | grep -E ' (WARN|ERROR) ' || true; } |
  sed -E 's/^[^ ]+ +//; s/environment=[^ ]+ ?//; s/[0-9]+(\.[0-9]+)?/N/g' | sort | uniq -c | sort -rn | head -n 10 | grep . || echo "     none"
