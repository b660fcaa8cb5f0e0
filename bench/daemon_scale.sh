#!/usr/bin/env bash
# Benchmark (not a test): `wsprobe run` with N environments (default 10,000) on a one-minute
# schedule against one `wsprobe lab`, full exchange (bearer auth, jwt-auth subprotocol, welcome,
# echo check, ping/pong, close) as in `gen_config.py ... full`, but against the lab's /ws/healthy.
#
# The daemon probes every environment once at start, then on every slot. It runs from a start at
# second START_SEC of a minute (M0) until just before M0+1+CYCLES minutes, so CYCLES full cycles
# (slots M1 .. M1+CYCLES-1, M1 = M0+1 min) are measured; then SIGTERM (in-flight probes drain and
# are recorded), and the figures come from the SQLite file itself:
#   - share of environments with a run for each cycle's slot;
#   - start lag = started_at - slot, slot = the whole minute + the environment's jitter offset
#     (FNV-1a of the name mod jitter, as src/schedule/slot.rs), start-up probes excluded;
#     with jitter the lag against the whole minute alone is printed too;
#   - skipped slots (table skipped_slots) per cycle;
#   - daemon peak RSS (VmHWM) and RSS at the end, CPU (utime+stime) per probe: overall and from
#     M1 on (steady state, start-up cycle excluded); the lab's CPU beside it.
#
# Usage: bench/daemon_scale.sh            (N=10000 JITTER=0s CYCLES=3 START_SEC=5)
#        JITTER=30s bench/daemon_scale.sh
#        N=100000 PERIOD=5 JITTER=4m CYCLES=2 bench/daemon_scale.sh   (issue 28: `*/5 * * * *`)
# PERIOD=P (minutes, dividing 60) makes the schedule `*/P * * * *`: "minute" above is then a
# P-minute cycle, the start is at second START_SEC after a cycle's boundary.
# Env: WSPROBE_BIN (default target/release/wsprobe, built here if missing), KEEP=1 keeps the
# work dir (config, database, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
JITTER=${JITTER:-0s}
PERIOD=${PERIOD:-1}
cycle_s=$((PERIOD * 60))
if ((PERIOD == 1)); then schedule='* * * * *'; else schedule="*/$PERIOD * * * *"; fi
CYCLES=${CYCLES:-3}
START_SEC=${START_SEC:-5}
LAB_PORT=${LAB_PORT:-18771}
DAEMON_PORT=${DAEMON_PORT:-18772}
bin=${WSPROBE_BIN:-target/release/wsprobe}
if [[ -z ${WSPROBE_BIN:-} ]]; then cargo build --release --quiet; fi

work=$(mktemp -d /tmp/wsprobe-scale.XXXXXX)
lab_pid=; daemon_pid=; sampler_pid=
cleanup() {
  for p in $sampler_pid $daemon_pid $lab_pid; do kill "$p" 2>/dev/null || true; done
  for p in $sampler_pid $daemon_pid $lab_pid; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [[ -n ${KEEP:-} ]]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

wait_port() { # port, timeout s
  local end=$((SECONDS + $2))
  while ((SECONDS < end)); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "port $1 did not open within $2 s" >&2; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, clock ticks
hz=$(getconf CLK_TCK)

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
"$bin" lab --listen "127.0.0.1:$LAB_PORT" >"$work/lab.log" 2>&1 &
lab_pid=$!
wait_port "$LAB_PORT" 20

db="$work/scale.db"
python3 bench/gen_config.py "$N" "ws://127.0.0.1:$LAB_PORT/ws/healthy" full |
  awk -v j="$JITTER" -v s="$schedule" '{print} /^defaults:/{print "  schedule: \"" s "\""; print "  jitter: " j}' >"$work/probes.yaml"
printf 'server: { listen: "127.0.0.1:%s" }\nstorage: { path: "%s" }\n' "$DAEMON_PORT" "$db" >>"$work/probes.yaml"
"$bin" validate --config "$work/probes.yaml" >/dev/null

# Start at second START_SEC of a minute, so the start-up cycle has the rest of that minute.
now_s=$(date +%s)
wait_s=$(( (START_SEC - now_s % cycle_s + cycle_s) % cycle_s ))
echo "== daemon_scale: N=$N schedule='$schedule' jitter=$JITTER cycles=$CYCLES (waiting ${wait_s}s for :$(printf %02d "$START_SEC"))"
sleep "$wait_s"
t0_ns=$(date +%s%N)
"$bin" run --config "$work/probes.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_port "$DAEMON_PORT" 30
m1=$(( (t0_ns / 1000000000 / cycle_s + 1) * cycle_s ))   # first cycle boundary after the start
stop_at=$(( m1 + CYCLES * cycle_s - 1 ))

# Peak RSS per second (VmHWM is the figure; this only shows when it was reached).
( while kill -0 "$daemon_pid" 2>/dev/null; do
    printf '%s %s\n' "$(date +%s)" "$(awk '/^VmRSS/{print $2}' "/proc/$daemon_pid/status" 2>/dev/null)"
    sleep 1
  done ) >"$work/rss.txt" 2>/dev/null &
sampler_pid=$!

sleep_until_ns() {
  local ns=$(( $1 - $(date +%s%N) ))
  if ((ns > 0)); then sleep "$(printf '%d.%09d' $((ns / 1000000000)) $((ns % 1000000000)))"; fi
}
# CPU samples half a second before the first slot (start-up cycle long done, unless it is not)
# and just before the slot after the last measured cycle.
sleep_until_ns $(( m1 * 1000000000 - 500000000 ))
cpu_m1=$(cpu_ticks "$daemon_pid"); lab_cpu_m1=$(cpu_ticks "$lab_pid"); t_m1_ns=$(date +%s%N)
sleep_until_ns $(( stop_at * 1000000000 ))
cpu_end=$(cpu_ticks "$daemon_pid"); lab_cpu_end=$(cpu_ticks "$lab_pid"); t_end_ns=$(date +%s%N)
hwm_kb=$(awk '/^VmHWM/{print $2}' "/proc/$daemon_pid/status")
rss_kb=$(awk '/^VmRSS/{print $2}' "/proc/$daemon_pid/status")
threads=$(awk '/^Threads/{print $2}' "/proc/$daemon_pid/status")
kill -TERM "$daemon_pid"
for _ in $(seq 450); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done   # drain: timeout 30 s + 3 s
if kill -0 "$daemon_pid" 2>/dev/null; then echo "daemon still running 45 s after SIGTERM" >&2; fi
wait "$daemon_pid" 2>/dev/null || true
daemon_pid=
kill "$sampler_pid" 2>/dev/null || true; sampler_pid=

CYCLE_S=$cycle_s python3 - "$db" "$N" "$JITTER" "$t0_ns" "$m1" "$CYCLES" "$t_m1_ns" "$t_end_ns" \
  "$cpu_m1" "$cpu_end" "$lab_cpu_m1" "$lab_cpu_end" "$hz" "$hwm_kb" "$rss_kb" "$threads" "$work/rss.txt" <<'PY'
import os, re, sqlite3, statistics, sys
from collections import defaultdict

(db, n, jitter, t0_ns, m1, cycles, t_m1_ns, t_end_ns, cpu_m1, cpu_end, lab_m1, lab_end, hz,
 hwm_kb, rss_kb, threads, rss_file) = sys.argv[1:]
n, t0_ns, m1, cycles, t_m1_ns, t_end_ns = int(n), int(t0_ns), int(m1), int(cycles), int(t_m1_ns), int(t_end_ns)
cpu_m1, cpu_end, lab_m1, lab_end, hz = int(cpu_m1), int(cpu_end), int(lab_m1), int(lab_end), int(hz)

def parse_duration_ms(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)", text)
    return int(m[1]) * {"ms": 1, "s": 1000, "m": 60000}[m[2]]

def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h

span_ms = parse_duration_ms(jitter)
def offset_ns(name):
    return 0 if span_ms == 0 else (fnv1a(name.encode()) % span_ms) * 1_000_000

P = int(os.environ["CYCLE_S"])  # seconds from one slot of the schedule to the next
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
rows = con.execute("""SELECT e.name, r.started_at_ns, r.status, r.verdict, r.total_ms
                      FROM runs r JOIN environments e ON e.id = r.env_id
                      ORDER BY e.name, r.started_at_ns""").fetchall()
skipped = con.execute("""SELECT e.name, s.slot_ms FROM skipped_slots s
                         JOIN environments e ON e.id = s.env_id""").fetchall()

def total_ms(v):  # codec.rs: INTEGER microseconds, or the REAL milliseconds themselves
    return 0.0 if v is None else v / 1000 if isinstance(v, int) else v

by_env = defaultdict(list)
for name, at, status, verdict, total in rows:
    by_env[name].append((at, status, verdict, total))

def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values) + 0.5)) - 1))]

# A run is its cycle's slot run when it started less than ON_SLOT after the slot; the first run
# otherwise is the start-up probe (not "the first run": a start-up result the spool dropped
# under load would make the first slot run look like one).
ON_SLOT = 30_000_000_000
startup, per_slot, duplicates, other = [], defaultdict(list), 0, 0
for name, runs in by_env.items():
    off = offset_ns(name)
    seen = set()
    for k, (at, status, verdict, total) in enumerate(runs):
        minute = (at - off) // (P * 1_000_000_000) * P   # the cycle whose slot this run belongs to
        lag = at - (minute * 1_000_000_000 + off)
        if k == 0 and lag >= ON_SLOT:
            startup.append(runs[0])
            continue
        if minute in seen:
            duplicates += 1
        seen.add(minute)
        per_slot[minute].append((name, at, lag, at - minute * 1_000_000_000, status, total))

print(f"environments with at least one run: {len(by_env)} of {n}; runs stored: {len(rows)}")
st = [r[0] for r in startup]
if st:
    print(f"start-up cycle: {len(startup)} probes stored (of {n}), first started {(min(st) - t0_ns) / 1e9:.2f} s after launch, "
          f"last {(max(st) - t0_ns) / 1e9:.2f} s after launch; "
          f"{sum(1 for r in startup if r[1] == 2)} down")
else:
    # A start-up probe is left out when the first slot comes within the timeout, and one made
    # less than ON_SLOT after its slot's offset is counted as that slot's run.
    print("start-up cycle: no run told apart from the slots")
if duplicates:
    print(f"WARNING: {duplicates} runs share an (environment, minute) with another: lag > 60 s?")
for minute in sorted(per_slot):
    if minute < m1 or minute >= m1 + cycles * P:
        print(f"  outside the measured cycles: {len(per_slot[minute])} runs for the slot of minute "
              f"M1{(minute - m1) // P:+d} (with jitter, offsets past the start second fire in M0)")

print(f"{'cycle':>5} {'done':>7} {'share':>8} {'down':>5} {'skipped':>7} {'lag p50':>9} {'lag p99':>9} "
      f"{'lag max':>9} {'last start':>10} {'last end':>9}" + ("  lag vs whole minute p50/p99" if span_ms else ""))
slot_skips = defaultdict(int)
for name, slot_ms in skipped:
    slot_skips[(slot_ms - offset_ns(name) // 1_000_000) // (P * 1000) * P] += 1
all_lags = []
for k in range(cycles):
    minute = m1 + k * P
    runs = per_slot.get(minute, [])
    envs = {r[0] for r in runs}
    lags = [r[2] / 1e6 for r in runs]
    all_lags += lags
    down = sum(1 for r in runs if r[4] == 2)
    last_start = max((r[2] for r in runs), default=0) / 1e9
    last_end = max((r[2] / 1e6 + total_ms(r[5]) for r in runs), default=0) / 1e3
    line = (f"{k + 1:>5} {len(envs):>7} {len(envs) / n:>8.2%} {down:>5} {slot_skips.get(minute, 0):>7} "
            f"{pct(lags, .5):>7.1f}ms {pct(lags, .99):>7.1f}ms {max(lags, default=float('nan')):>7.1f}ms "
            f"{last_start:>9.1f}s {last_end:>8.1f}s")
    if span_ms:
        whole = [r[3] / 1e6 for r in runs]
        line += f"  {pct(whole, .5) / 1e3:.1f}s / {pct(whole, .99) / 1e3:.1f}s"
    print(line)
print(f"all {cycles} cycles: start lag p50 {pct(all_lags, .5):.1f} ms, p99 {pct(all_lags, .99):.1f} ms, "
      f"max {max(all_lags, default=float('nan')):.1f} ms  (lag = started_at - slot; 'last start' / 'last end'"
      f" = slowest lag, and lag + total, after the slot)")
print(f"skipped slots recorded: {len(skipped)} in total ({sum(1 for _, s in skipped if s < m1 * 1000)} before M1)")

probes_total = sum(1 for r in rows if r[1] < t_end_ns)
probes_steady = sum(1 for r in rows if t_m1_ns <= r[1] < t_end_ns)
cpu_total_s = cpu_end / hz
cpu_steady_s = (cpu_end - cpu_m1) / hz
print(f"daemon CPU (utime+stime): {cpu_total_s:.2f} s over {probes_total} probes started before the "
      f"last sample = {cpu_total_s / max(probes_total, 1) * 1e3:.3f} ms/probe (start-up included)")
print(f"daemon CPU from M1 on:    {cpu_steady_s:.2f} s over {probes_steady} probes = "
      f"{cpu_steady_s / max(probes_steady, 1) * 1e3:.3f} ms/probe (steady cycles only)")
print(f"lab CPU from M1 on:       {(lab_end - lab_m1) / hz:.2f} s = "
      f"{(lab_end - lab_m1) / hz / max(probes_steady, 1) * 1e3:.3f} ms/probe (the probed server, same 2 cores)")
rss = [tuple(map(int, l.split())) for l in open(rss_file) if len(l.split()) == 2]
peak_at = max(rss, key=lambda x: x[1]) if rss else (0, 0)
print(f"daemon VmHWM (peak RSS) {int(hwm_kb) / 1024:.1f} MiB, VmRSS at the end {int(rss_kb) / 1024:.1f} MiB, "
      f"threads {threads}; sampled RSS peaked {peak_at[1] / 1024:.1f} MiB at "
      f"{peak_at[0] - t0_ns // 1_000_000_000} s after launch")
def rss_at(t):
    before = [kb for at, kb in rss if at <= t]
    return f"{before[-1] / 1024:.0f}" if before else "?"
print("daemon VmRSS (MiB) just after launch " + rss_at(t0_ns // 1_000_000_000 + 1)
      + ", before each slot: " + ", ".join(f"M1{'+' + str(k) if k else ''} {rss_at(m1 + P * k - 1)}" for k in range(cycles + 1)))
PY

echo "daemon log: $(wc -l <"$work/daemon.log") lines; WARN/ERROR lines by message:"
{ sed 's/\x1b\[[0-9;]*m//g' "$work/daemon.log" | grep -E ' (WARN|ERROR) ' || true; } |
  sed -E 's/^[^ ]+ +//; s/environment=[^ ]+ ?//; s/slot=[^ ]+ ?//; s/[0-9]+(\.[0-9]+)?/N/g' |
  sort | uniq -c | sort -rn | head -n 10 | grep . || echo "     none"
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores, shared with other work: figures carry CPU contention)"
