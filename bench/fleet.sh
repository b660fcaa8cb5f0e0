#!/usr/bin/env bash
# Benchmark (not a test): a fleet of INSTANCES `wsprobe run` processes (default 3) sharing one
# local PostgreSQL, N environments (default 1,000) on a one-minute schedule with JITTER
# (default 30s) against one `wsprobe lab`, full exchange as in `gen_config.py ... full`.
#
# LAYOUT=replicas (default): one location, the instances are its replicas and split its slots.
# LAYOUT=locations: every instance is a location of its own and probes every slot.
#
# The fleet starts at second START_SEC of a minute (M0) and runs CYCLES full cycles (slots in
# M1 .. M1+CYCLES-1); then SIGTERM, and the figures come from the database:
#   - per cycle and location: environments whose slot was probed, and slots probed twice;
#   - start lag = started_at - slot (the slot includes the environment's jitter offset):
#     p50 / p99 / max over every slot run of the measured cycles;
#   - slots taken per instance (how the replicas split them);
#   - CPU (utime+stime) per probe over the measured cycles: PostgreSQL (postmaster and its
#     backends) and the wsprobe instances, beside each other.
# The SQLite single node on the same load: N=1000 JITTER=30s bench/daemon_scale.sh.
#
# Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin: apt install postgresql) and
# psql. Env: WSPROBE_BIN (default target/release/wsprobe, built here if missing), KEEP=1.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000}
INSTANCES=${INSTANCES:-3}
LAYOUT=${LAYOUT:-replicas}
JITTER=${JITTER:-30s}
CYCLES=${CYCLES:-3}
START_SEC=${START_SEC:-5}
LAB_PORT=${LAB_PORT:-18871}
PG_PORT=${PG_PORT:-18872}
FIRST_PORT=${FIRST_PORT:-18880}
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $pgbin/initdb ]] || { echo "no PostgreSQL server binaries (apt install postgresql)" >&2; exit 1; }

work=$(mktemp -d /tmp/wsprobe-fleet.XXXXXX)
chmod 755 "$work"
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
lab_pid=; pg_pid=; pids=()
cleanup() {
  for p in "${pids[@]}" $lab_pid; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}" $lab_pid; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ -n $pg_pid ]]; then
    kill -INT "$pg_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [[ -n ${KEEP:-} ]]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_port() { # port, timeout s
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open within $2 s" >&2; return 1
}
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
hz=$(getconf CLK_TCK)
sql() { psql -h 127.0.0.1 -p "$PG_PORT" -U wsprobe -d wsprobe -Atq -F ' ' -c "$1"; }

mkdir "$work/pg"
[[ $(id -u) == 0 ]] && chown postgres: "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" -A trust -U wsprobe --no-sync -E UTF8 >/dev/null
as_pg "$pgbin/postgres" -D "$work/pg/data" -p "$PG_PORT" -k "$work/pg" \
  -c listen_addresses=127.0.0.1 -c max_connections=100 >"$work/pg.log" 2>&1 &
pg_pid=$!
wait_port "$PG_PORT" 30
for _ in $(seq 50); do psql -h 127.0.0.1 -p "$PG_PORT" -U wsprobe -d postgres -qc 'CREATE DATABASE wsprobe' 2>/dev/null && break; sleep 0.2; done

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
"$bin" lab --listen "127.0.0.1:$LAB_PORT" >"$work/lab.log" 2>&1 &
lab_pid=$!
wait_port "$LAB_PORT" 20

python3 bench/gen_config.py "$N" "ws://127.0.0.1:$LAB_PORT/ws/healthy" full |
  awk -v j="$JITTER" '{print} /^defaults:/{print "  schedule: \"* * * * *\""; print "  jitter: " j}' >"$work/probes.yaml"
printf 'location: ${LOC}\nserver: { listen: "127.0.0.1:${PORT}" }\nstorage: { url: "postgres://wsprobe@127.0.0.1:%s/wsprobe" }\nalerts: { channels: [ { name: console, kind: log } ] }\n' "$PG_PORT" >>"$work/probes.yaml"
LOC=bench PORT=1 "$bin" validate --config "$work/probes.yaml" >/dev/null

now_s=$(date +%s)
wait_s=$(( (START_SEC - now_s % 60 + 60) % 60 ))
echo "== fleet: N=$N instances=$INSTANCES layout=$LAYOUT schedule='* * * * *' jitter=$JITTER cycles=$CYCLES (waiting ${wait_s}s for :$(printf %02d "$START_SEC"))"
sleep "$wait_s"
t0=$(date +%s)
for i in $(seq "$INSTANCES"); do
  loc=bench; [[ $LAYOUT == locations ]] && loc="loc$i"
  port=$((FIRST_PORT + i))
  LOC=$loc PORT=$port WSPROBE_INSTANCE="i$i" "$bin" run --config "$work/probes.yaml" >"$work/i$i.log" 2>&1 &
  pids+=($!)
done
for i in $(seq "$INSTANCES"); do wait_port $((FIRST_PORT + i)) 60; done
m1=$(( (t0 / 60 + 1) * 60 ))
stop_at=$(( m1 + CYCLES * 60 - 1 ))

# CPU from M1 on: the start-up cycle (connecting, migrating, the first claims) left out.
sleep $(( m1 - $(date +%s) > 0 ? m1 - $(date +%s) : 0 ))
# The postmaster is runuser's child when run as root: read its pid from its data directory.
postmaster=$(head -1 "$work/pg/data/postmaster.pid")
pg_procs() { echo "$postmaster $(pgrep -P "$postmaster" | tr '\n' ' ')"; }
pg_t1=$(ticks $(pg_procs)); ws_t1=$(ticks "${pids[@]}")
sleep $(( stop_at - $(date +%s) > 0 ? stop_at - $(date +%s) : 0 ))
pg_t2=$(ticks $(pg_procs)); ws_t2=$(ticks "${pids[@]}")
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()

from_ms=$((m1 * 1000)); to_ms=$(( (m1 + CYCLES * 60) * 1000 ))
echo "-- per cycle and location: environments probed (of $N), slots probed twice"
sql "SELECT to_char(to_timestamp((slot_ms / 60000) * 60), 'HH24:MI'), location,
            COUNT(DISTINCT environment), COUNT(*) - COUNT(DISTINCT environment)
     FROM runs WHERE slot_ms >= $from_ms AND slot_ms < $to_ms
     GROUP BY slot_ms / 60000, location ORDER BY 1, 2" |
  awk '{printf "   cycle %s  %-6s  %5d / '"$N"'  twice: %d\n", $1, $2, $3, $4}'
echo "-- start lag (started_at - slot), measured cycles"
sql "SELECT COUNT(*),
            round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lag)::numeric, 1),
            round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lag)::numeric, 1),
            round(MAX(lag)::numeric, 1)
     FROM (SELECT started_at_ns / 1e6 - slot_ms AS lag FROM runs
           WHERE slot_ms >= $from_ms AND slot_ms < $to_ms) l" |
  awk '{printf "   %d slot runs: p50 %s ms, p99 %s ms, max %s ms\n", $1, $2, $3, $4}'
echo "-- slots taken per instance"
sql "SELECT instance, COUNT(*) FROM runs WHERE slot_ms >= $from_ms AND slot_ms < $to_ms
     GROUP BY instance ORDER BY instance" | awk '{printf "   %s: %d\n", $1, $2}'
probes=$(sql "SELECT COUNT(*) FROM runs WHERE slot_ms >= $from_ms AND slot_ms < $to_ms")
awk -v pg=$((pg_t2 - pg_t1)) -v ws=$((ws_t2 - ws_t1)) -v n="$probes" -v hz="$hz" -v c="$CYCLES" 'BEGIN {
  printf "-- CPU over %d cycles, %d probes\n", c, n
  printf "   PostgreSQL: %.2f s, %.3f ms per probe\n", pg / hz, pg / hz * 1000 / n
  printf "   wsprobe (all instances): %.2f s, %.3f ms per probe\n", ws / hz, ws / hz * 1000 / n
}'
