#!/usr/bin/env python3
"""Seed a wsprobe store with a month of history, for benchmarks of the status page (not a test).

Default: 100 environments (env-0 .. env-99) x 30 days x one run every 5 minutes = 864,000 runs,
ending at the last 5-minute slot before now.

How, without touching src/:
1. A lab and a daemon run briefly against a tiny config of three environments on the lab
   (healthy, slow-welcome, internal-error): sqlx migrates the file (schema, `_sqlx_migrations`
   with its checksums, `meta` with the instance id) and stores three real runs through
   `Store::insert_result`.
2. Those rows and blobs are the templates. The encoders below mirror src/store/ (codec.rs,
   blobs.rs, runs.rs, rollups.rs, histogram.rs) and src/probe/diagnosis.rs for the three verdicts
   used, and are first checked against the templates byte for byte: blob JSON and hash (first 16
   bytes of SHA-256), the Sec-WebSocket-Accept of the lifted key, phases as INTEGER microseconds,
   the diagnosis sentence, the histogram bucket and encoding of each rollup.
3. The template rows are deleted (meta and `_sqlx_migrations` stay) and the history is inserted
   with python's sqlite3 the way the daemon would have written it: environments by id; blobs
   content-addressed with `refs` = the number of runs pointing at them (one context blob per
   environment, one header template per verdict shape, the shared welcome+pong message list);
   one runs row per probe with the per-request header values (key, accept) lifted out; rollups
   per (environment, UTC hour) with up/degraded/down counts and the sparse histogram of the
   serving runs' total latency. Then `PRAGMA wal_checkpoint(TRUNCATE)`.
4. Unless --no-verify: a copy of the file is served by a daemon whose config names the same
   environments at the same URLs (schedule `0 0 1 1 *`, retention 90d so nothing is pruned);
   its 100 start-up probes must reuse the seeded context and header blobs (no new blob: the
   encodings match the Rust ones), `/api/v1/environments/env-0/runs?limit=5` must return the
   daemon's run and then seeded runs 5 minutes apart, the whole history of env-0 must decode
   through the API, and `/api/v1/status` must show uptime for every environment.

Usage: bench/seed_store.py --db /tmp/wsprobe-bench/seeded.db [--bin target/release/wsprobe]
       [--envs 100] [--days 30] [--every 300] [--lab-port 18781] [--no-verify]
The lab port ends up in the stored `host` header and URLs: status_load.sh serves its lab on the
same port so that the daemon's own probes share the seeded blobs.
"""
import argparse
import base64
import hashlib
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEGRADED_AFTER_MS = 2000.0  # the default; gen_config.py does not set it

# codec.rs: stable codes.
STATUS = {"up": 0, "degraded": 1, "down": 2}
VERDICT = {"ok": 0, "slow": 1, "closed_before_ready": 12}

RUN_COLUMNS = [
    "env_id", "started_at_ns", "status", "verdict", "in_maintenance", "attempts", "failed_step",
    "http_status", "close_code", "close_reason", "close_after_ms",
    "token_ms", "health_ms", "dns_ms", "connect_ms", "tls_ms", "upgrade_ms", "ready_ms",
    "exchange_ms", "close_ms", "total_ms",
    "health_status", "health_ok", "health_error",
    "context_id", "headers_id", "header_values", "messages_id", "body_id", "error", "diagnosis",
    "trace_id",
]
PHASES = ["token", "health", "dns", "connect", "tls", "upgrade", "ready", "exchange", "close", "total"]


# ---------------------------------------------------------------- encoders mirroring src/store
def to_json(value):
    """serde_json::to_string: compact, non-ASCII kept, key order as given."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def blob_hash(body):
    """blobs.rs: the first 16 bytes of SHA-256 of the body."""
    return hashlib.sha256(body.encode()).digest()[:16]


def context_json(url, subprotocol):
    """codec.rs Context: url, then location/subprotocol/version/tls only when set."""
    ctx = {"url": url}
    if subprotocol is not None:
        ctx["subprotocol"] = subprotocol
    return to_json(ctx)


def encode_ms_from_micros(us):
    """codec.rs encode_ms: a value that is an exact count of microseconds is stored as INTEGER
    microseconds. Phases here are generated as whole microseconds, so always that branch."""
    return None if us is None else int(us)


def powi(a, b):
    """Rust f64::powi with a runtime exponent: compiler-builtins' square-and-multiply."""
    recip, n, mul = b < 0, abs(b), 1.0
    while True:
        if n & 1:
            mul *= a
        n >>= 1
        if n == 0:
            break
        a *= a
    return 1.0 / mul if recip else mul


MIN_MS, GROWTH, BUCKETS, FORMAT = 0.1, 1.3, 53, 1


def lower_bound(i):
    return 0.0 if i == 0 else MIN_MS * powi(GROWTH, i - 1)


def bucket_of(ms):
    """histogram.rs bucket_of, including the correction at exact bounds."""
    if math.isnan(ms) or ms < MIN_MS:
        return 0
    last = BUCKETS - 1
    guess = math.floor(math.log(ms / MIN_MS) / math.log(GROWTH)) + 1.0
    i = min(int(max(guess, 1.0)), last) if math.isfinite(guess) else last
    while i < last and ms >= lower_bound(i + 1):
        i += 1
    while i > 1 and ms < lower_bound(i):
        i -= 1
    return i


def encode_histogram(counts):
    """histogram.rs encode: FORMAT, then (bucket index, LEB128 count) per non-empty bucket."""
    out = bytearray([FORMAT])
    for i, n in enumerate(counts):
        if n == 0:
            continue
        out.append(i)
        while True:
            byte = n & 0x7F
            n >>= 7
            if n == 0:
                out.append(byte)
                break
            out.append(byte | 0x80)
    return bytes(out)


# ------------------------------------------------------- diagnosis.rs, for the verdicts used
def ms_text(v):
    if v is None:
        return "?"
    return f"{v:.1f} ms" if v < 10.0 else f"{v:.0f} ms"


def diagnosis_ok(ph, subprotocol):
    text = f"All steps passed in {ms_text(ph['total'])}"
    if ph["ready"] is not None:
        text += f" (welcome after {ms_text(ph['ready'])})"
    if subprotocol is not None:
        text += f", subprotocol {subprotocol}"
    return text + "."


def diagnosis_slow(ph):
    slowest = None
    for name in PHASES:
        if name in ("total", "token", "health") or ph[name] is None:
            continue
        if slowest is None or ph[name] >= slowest[1]:  # Iterator::max_by keeps the last maximum
            slowest = (name, ph[name])
    if slowest is None:
        culprit = "no phase stands out"
    elif slowest[0] == "ready":
        culprit = (f"most of it ({ms_text(slowest[1])}) waiting for the welcome message, "
                   "so the backend is slow to set up the session")
    elif slowest[0] in ("connect", "dns", "tls"):
        culprit = f"{ms_text(slowest[1])} of it in the network before the upgrade"
    else:
        culprit = f"the slowest phase was {slowest[0]} at {ms_text(slowest[1])}"
    return (f"Every step passed but took {ms_text(ph['total'])} against a degraded_after of "
            f"{ms_text(DEGRADED_AFTER_MS)}, {culprit}.")


def diagnosis_closed_1011(close_after_ms):
    # closed_before_ready with 1011 "Internal error", no health check configured.
    after = f" {ms_text(close_after_ms)} after accept" if close_after_ms is not None else ""
    return (f'The server closed with 1011 "Internal error"{after}, before the welcome message: '
            "the backend hit an internal error while setting up the session.")


def accept_for(key):
    return base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()


# ------------------------------------------------------------------------ process helpers
def header_values(key, traceparent, echoed):
    """The lifted per-request header values in the store's order: the key and traceparent sent,
    the accept returned, the traceparent the backend echoed (when it answered with the echo)."""
    return [key, traceparent, accept_for(key)] + ([traceparent] if echoed else [])


def wait_port(port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"port {port} did not open within {timeout} s")


def port_free(port):
    with socket.socket() as s:
        # As a server binds: connections of an earlier run in TIME-WAIT do not make it busy.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class Procs:
    """Every process started here, stopped (SIGTERM, then SIGKILL) on the way out."""

    def __init__(self):
        self.procs = []

    def start(self, args, log):
        p = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, timeout=40):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def stop_all(self):
        for p in reversed(list(self.procs)):
            self.stop(p, timeout=10)


def full_config(envs, storage, listen, extra_defaults="", retention=None):
    """gen_config.py's "full" steps, with the given (name, url) environments."""
    lines = ["defaults:", "  timeout: 30s"]
    lines += [l for l in extra_defaults.splitlines() if l]
    lines += [
        "  auth: { kind: bearer, token: bench-token-0123456789abcdef }",
        '  headers: { Authorization: "Bearer {token}" }',
        '  subprotocols: ["jwt-auth"]',
        "  expect_subprotocol: jwt-auth",
        "  steps:",
        "    - expect: { within: 10s, json: { /type: system_message } }",
        "    - send: '{\"type\":\"ping\"}'",
        "    - expect: { within: 10s, json: { /type: pong } }",
        "  echo: { pointer: /data/headers_received, require: [authorization] }",
        "environments:",
    ]
    lines += [f'  - {{ name: {name}, url: "{url}" }}' for name, url in envs]
    lines.append(f'server: {{ listen: "127.0.0.1:{listen}" }}')
    storage_line = f'storage: {{ path: "{storage}"'
    if retention:
        storage_line += f", retention: {retention}"
    lines.append(storage_line + " }")
    return "\n".join(lines) + "\n"


def count_runs(db):
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT count(*) FROM runs").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return -1


def get_json(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def env_url(lab_port, name):
    return f"ws://127.0.0.1:{lab_port}/ws/healthy?env={name}"


# ------------------------------------------------------------------------------ the seeding
def make_templates(args, procs, work):
    lab_log = open(os.path.join(work, "lab.log"), "w")
    lab = procs.start([args.bin, "lab", "--listen", f"127.0.0.1:{args.lab_port}"], lab_log)
    wait_port(args.lab_port, 20)
    base = f"ws://127.0.0.1:{args.lab_port}/ws"
    cfg = os.path.join(work, "template.yaml")
    with open(cfg, "w") as f:
        f.write(full_config([("tpl-ok", env_url(args.lab_port, "tpl-ok")),
                             ("tpl-slow", f"{base}/slow-welcome"),
                             ("tpl-down", f"{base}/internal-error")],
                            args.db, args.daemon_port,
                            # A slot that never comes: the three runs are the start-up probes,
                            # which a slot due within `timeout` would otherwise replace.
                            extra_defaults='  schedule: "0 0 1 1 *"'))
    daemon = procs.start([args.bin, "run", "--config", cfg], open(os.path.join(work, "template-daemon.log"), "w"))
    end = time.monotonic() + 30
    while count_runs(args.db) < 3:
        if time.monotonic() > end or daemon.poll() is not None:
            raise SystemExit("the template daemon did not store its three runs; see " + work)
        time.sleep(0.2)
    procs.stop(daemon)
    procs.stop(lab)

    con = sqlite3.connect(args.db)
    con.row_factory = sqlite3.Row
    tpl = {}
    for row in con.execute("SELECT e.name, r.* FROM runs r JOIN environments e ON e.id = r.env_id"):
        row = dict(row)
        blobs = {}
        for col in ("context_id", "headers_id", "messages_id", "body_id"):
            if row[col] is not None:
                b = con.execute("SELECT hash, body FROM blobs WHERE id = ?", (row[col],)).fetchone()
                blobs[col] = (bytes(b["hash"]), b["body"])
        hist = con.execute("SELECT histogram FROM rollups WHERE env_id = ?", (row["env_id"],)).fetchone()[0]
        tpl[row["name"]] = (row, blobs, hist)
    con.close()
    return tpl


KNOWN_TABLES = {"environments", "blobs", "runs", "skipped_slots", "rollups", "meta"}
# Written only by alerting (migrations 0007-0009); a seeded history without incidents is one the
# daemon could have written with no alert channels, and the status page reads them cheaply.
LEFT_EMPTY = {"incidents", "outbox", "alert_state"}


def check_schema(db):
    """The seeder fills the tables of migrations 0001-0006. A binary whose migrations add a
    table or a runs column (say, a cache the store maintains on insert) needs the seeder taught
    first: stop rather than produce a file that the daemon would never have written."""
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name != '_sqlx_migrations'")} - LEFT_EMPTY
    columns = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
    con.close()
    if tables != KNOWN_TABLES:
        raise SystemExit(f"schema has tables {sorted(tables - KNOWN_TABLES)} this seeder does not know "
                         f"(and lacks {sorted(KNOWN_TABLES - tables)}): teach bench/seed_store.py first")
    if columns != ["id"] + RUN_COLUMNS:
        raise SystemExit(f"runs columns changed: {columns}: teach bench/seed_store.py first")


def check_encoders(tpl, lab_port):
    """Every encoder used below must reproduce the daemon's own rows exactly."""
    for name, (row, blobs, hist) in tpl.items():
        for col, (h, body) in blobs.items():
            assert blob_hash(body) == h, (name, col, "hash")
            assert to_json(json.loads(body)) == body, (name, col, "JSON re-encoding")
        ctx = json.loads(blobs["context_id"][1])
        assert context_json(ctx["url"], ctx.get("subprotocol")) == blobs["context_id"][1], name
        assert set(ctx) <= {"url", "subprotocol"}, f"{name}: context has {set(ctx)}: extend context_json"
        template = json.loads(blobs["headers_id"][1])
        echoed = ["traceparent"] if name != "tpl-down" else []
        lifted = {"sent": ["sec-websocket-key", "traceparent"], "response": ["sec-websocket-accept"]}
        assert template["lifted"] == (lifted | {"echoed": echoed} if echoed else lifted), name
        values = json.loads(row["header_values"])
        assert values == header_values(values[0], values[1], bool(echoed)), (name, "lifted values")
        assert template["sent"]["host"] == f"127.0.0.1:{lab_port}"
        ph = {p: row[f"{p}_ms"] for p in PHASES}
        # INTEGER microseconds, or REAL milliseconds where the microseconds would not read back
        # as the same float (codec.rs encode_ms): a sum of phases can land there.
        assert all(v is None or isinstance(v, (int, float)) for v in ph.values()), (name, "phases")
        ph_ms = {p: (None if v is None else v / 1000.0 if isinstance(v, int) else v) for p, v in ph.items()}
        if name == "tpl-ok":
            assert row["verdict"] == VERDICT["ok"] and row["status"] == STATUS["up"]
            assert diagnosis_ok(ph_ms, ctx.get("subprotocol")) == row["diagnosis"], row["diagnosis"]
        elif name == "tpl-slow":
            assert row["verdict"] == VERDICT["slow"] and row["status"] == STATUS["degraded"]
            assert diagnosis_slow(ph_ms) == row["diagnosis"], row["diagnosis"]
        else:
            assert row["verdict"] == VERDICT["closed_before_ready"] and row["status"] == STATUS["down"]
            assert (row["close_code"], row["close_reason"]) == (1011, "Internal error")
            assert isinstance(row["close_after_ms"], int)
            assert diagnosis_closed_1011(row["close_after_ms"] / 1000.0) == row["diagnosis"], row["diagnosis"]
        if row["status"] == STATUS["down"]:
            assert hist is None, name
        else:
            counts = [0] * BUCKETS
            counts[bucket_of(ph_ms["total"])] += 1
            assert encode_histogram(counts) == bytes(hist), (name, "histogram")
    for ms, want in [(0.099, 0), (0.1, 1), (0.13, 2), (1.0, 9), (10.0, 18), (100.0, 27),
                     (1000.0, 36), (60_000.0, 51), (64_700.0, 51), (64_800.0, 52), (1e12, 52)]:
        assert bucket_of(ms) == want, (ms, bucket_of(ms), want)
    # The two welcomes differ only in the traceparent each probe sent, which the lab echoes.
    same = [json.loads(tpl[n][1]["messages_id"][1]) for n in ("tpl-ok", "tpl-slow")]
    assert len(same[0]) == len(same[1]) and same[0][1:] == same[1][1:]


def seed(args, tpl):
    rng = random.Random(args.seed)
    names = [f"env-{i}" for i in range(args.envs)]
    slots = args.days * 86400 // args.every
    last = (int(time.time()) // args.every) * args.every - args.every
    first = last - (slots - 1) * args.every

    ok_row, ok_blobs, _ = tpl["tpl-ok"]
    down_row, down_blobs, _ = tpl["tpl-down"]
    subprotocol = json.loads(ok_blobs["context_id"][1]).get("subprotocol")

    con = sqlite3.connect(args.db, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")  # this connection only; the file stays WAL
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("BEGIN IMMEDIATE")
    for table in ("outbox", "incidents", "alert_state", "runs", "rollups", "skipped_slots", "blobs", "environments"):
        con.execute(f"DELETE FROM {table}")
    con.executemany("INSERT INTO environments (id, name) VALUES (?, ?)",
                    [(i + 1, n) for i, n in enumerate(names)])

    # Blobs: ids fixed here, refs counted while generating, rows written at the end.
    blob_ids, blob_bodies, refs = {}, {}, defaultdict(int)

    def blob(body):
        if body not in blob_ids:
            blob_ids[body] = len(blob_ids) + 1
            blob_bodies[blob_ids[body]] = body
        bid = blob_ids[body]
        refs[bid] += 1
        return bid

    ok_headers, down_headers = ok_blobs["headers_id"][1], down_blobs["headers_id"][1]
    # The welcome echoes each probe's traceparent, so the daemon stores one message list per
    # run; the seed shares the template's (the status page never reads messages in bulk).
    messages = ok_blobs["messages_id"][1]
    # Stored URLs lose their query string (it can hold tokens), so every environment on
    # /ws/healthy?env=… shares one context, as the daemon writes it.
    contexts = [context_json(env_url(args.lab_port, n).split("?")[0] + "?…", subprotocol) for n in names]

    # Per environment: a typical latency (log-uniform 1 ms .. 300 ms: loopback to another
    # continent), a few outages (runs of closed_before_ready 1011) and rare slow runs.
    base_ms = [math.exp(rng.uniform(math.log(1.0), math.log(300.0))) for _ in names]
    down_slots = []
    for _ in names:
        down = set()
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3, 4])):
            start = rng.randrange(slots)
            down.update(range(start, min(slots, start + rng.randint(1, 24))))
        for _ in range(int(slots * 0.001)):
            down.add(rng.randrange(slots))
        down_slots.append(down)
    share = (0.19, 0.40, 0.03, 0.23, 0.09)  # connect upgrade ready exchange close, as on the lab

    rollup = {}  # (env_id, hour) -> [runs, up, degraded, down, counts]
    insert = ("INSERT INTO runs (" + ", ".join(RUN_COLUMNS) + ") VALUES ("
              + ", ".join("?" * len(RUN_COLUMNS)) + ")")
    batch, verdicts = [], defaultdict(int)
    for s in range(slots):
        slot = first + s * args.every
        hour = slot // 3600 * 3600
        for e, name in enumerate(names):
            env_id = e + 1
            started_ns = slot * 1_000_000_000 + rng.randint(100_000, 3_000_000)
            key = base64.b64encode(rng.getrandbits(128).to_bytes(16, "little")).decode()
            traceparent = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
            down = s in down_slots[e]
            lifted_values = to_json(header_values(key, traceparent, not down))
            spike = 3.0 if rng.random() < 0.01 else 1.0
            scale = base_ms[e] * spike * math.exp(rng.gauss(0.0, 0.25))
            us = [max(1, round(scale * f * 1000 * math.exp(rng.gauss(0.0, 0.2)))) for f in share]
            connect, upgrade = us[0], us[1]
            row = dict.fromkeys(RUN_COLUMNS)
            row.update(env_id=env_id, started_at_ns=started_ns, in_maintenance=0, attempts=1,
                       http_status=101, token_ms=rng.randint(1, 3), connect_ms=connect,
                       upgrade_ms=upgrade, context_id=blob(contexts[e]), header_values=lifted_values)
            if down:
                close_after = rng.randint(62_000, 70_000) + round(scale * 100)
                total = connect + upgrade + close_after + rng.randint(50, 900)
                row.update(status=STATUS["down"], verdict=VERDICT["closed_before_ready"],
                           close_code=1011, close_reason="Internal error", close_after_ms=close_after,
                           total_ms=total, headers_id=blob(down_headers),
                           diagnosis=diagnosis_closed_1011(close_after / 1000.0))
                verdict = "closed_before_ready"
            else:
                ready, exchange, close = us[2], us[3], us[4]
                if rng.random() < 0.003:  # a slow welcome, as /ws/slow-welcome
                    ready += rng.randint(2_000_000, 4_000_000)
                total = connect + upgrade + ready + exchange + close + rng.randint(20, 300)
                ph = {"token": None, "health": None, "dns": None, "connect": connect / 1000, "tls": None,
                      "upgrade": upgrade / 1000, "ready": ready / 1000, "exchange": exchange / 1000,
                      "close": close / 1000, "total": total / 1000}
                slow = total / 1000 > DEGRADED_AFTER_MS
                verdict = "slow" if slow else "ok"
                row.update(status=STATUS["degraded" if slow else "up"], verdict=VERDICT[verdict],
                           ready_ms=ready, exchange_ms=exchange, close_ms=close, total_ms=total,
                           headers_id=blob(ok_headers), messages_id=blob(messages),
                           diagnosis=diagnosis_slow(ph) if slow else diagnosis_ok(ph, subprotocol))
            verdicts[verdict] += 1
            r = rollup.get((env_id, hour))
            if r is None:
                r = rollup[(env_id, hour)] = [0, 0, 0, 0, None]
            r[0] += 1
            r[1 + row["status"]] += 1
            if row["status"] != STATUS["down"]:
                if r[4] is None:
                    r[4] = [0] * BUCKETS
                r[4][bucket_of(total / 1000.0)] += 1
            batch.append(tuple(row[c] for c in RUN_COLUMNS))
        if len(batch) >= 20_000:
            con.executemany(insert, batch)
            batch.clear()
    con.executemany(insert, batch)
    con.executemany("INSERT INTO blobs (id, hash, refs, body) VALUES (?, ?, ?, ?)",
                    [(bid, blob_hash(body), refs[bid], body) for bid, body in blob_bodies.items()])
    con.executemany(
        "INSERT INTO rollups (env_id, hour, runs, up, degraded, down, skipped, histogram) "
        "VALUES (?, ?, ?, ?, ?, ?, 0, ?)",
        [(env_id, hour, r[0], r[1], r[2], r[3], None if r[4] is None else encode_histogram(r[4]))
         for (env_id, hour), r in sorted(rollup.items())])
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    n_runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
    n_blobs = con.execute("SELECT count(*) FROM blobs").fetchone()[0]
    n_rollups = con.execute("SELECT count(*) FROM rollups").fetchone()[0]
    con.close()
    return dict(runs=n_runs, blobs=n_blobs, rollups=n_rollups, first=first, last=last,
                verdicts=dict(verdicts))


def file_bytes(db):
    return sum(os.path.getsize(p) for p in (db, db + "-wal") if os.path.exists(p))


def verify(args, procs, work, seeded):
    copy = os.path.join(work, "verify.db")
    shutil.copyfile(args.db, copy)
    names = [f"env-{i}" for i in range(args.envs)]
    lab = procs.start([args.bin, "lab", "--listen", f"127.0.0.1:{args.lab_port}"],
                      open(os.path.join(work, "verify-lab.log"), "w"))
    wait_port(args.lab_port, 20)
    cfg = os.path.join(work, "verify.yaml")
    with open(cfg, "w") as f:
        f.write(full_config([(n, env_url(args.lab_port, n)) for n in names], copy, args.daemon_port,
                            extra_defaults='  schedule: "0 0 1 1 *"', retention="90d"))
    log_path = os.path.join(work, "verify-daemon.log")
    daemon = procs.start([args.bin, "run", "--config", cfg], open(log_path, "w"))
    wait_port(args.daemon_port, 60)
    end = time.monotonic() + 60
    while count_runs(copy) < seeded["runs"] + args.envs:
        if time.monotonic() > end or daemon.poll() is not None:
            raise SystemExit(f"the verify daemon did not store its {args.envs} start-up runs; see {log_path}")
        time.sleep(0.2)
    base = f"http://127.0.0.1:{args.daemon_port}"
    problems = []

    page = get_json(f"{base}/api/v1/environments/env-0/runs?limit=5")["runs"]
    print("  /api/v1/environments/env-0/runs?limit=5:")
    for r in page:
        print(f"    id {r['id']:>7}  {r['started_at']}  {r['status']:<8} {r['verdict']:<20} "
              f"total {r['phases_ms']['total']:>9} ms  {r['diagnosis'][:70]}")
    if len(page) != 5:
        problems.append(f"{len(page)} runs instead of 5")
    ids_seeded = [r for r in page if r["id"] <= seeded["runs"]]
    gaps = {round((time_ns(a["started_at"]) - time_ns(b["started_at"])) / 1e9 / args.every)
            for a, b in zip(ids_seeded, ids_seeded[1:])}
    if page and page[0]["id"] <= seeded["runs"]:
        problems.append("the newest run of env-0 is not the daemon's start-up probe")
    if gaps != {1}:
        problems.append(f"seeded runs are not one slot apart: {gaps}")
    if not ids_seeded or set(page[0]) != set(ids_seeded[0]):
        problems.append("no seeded run, or seeded and daemon runs have different fields")

    # The whole history of env-0 through the API: every row decodes.
    n, before, t = 0, None, time.monotonic()
    while True:
        q = f"{base}/api/v1/environments/env-0/runs?limit=1000" + (f"&before={before}" if before else "")
        body = get_json(q)
        n += len(body["runs"])
        before = body["next_before"]
        if not before:
            break
    expected = seeded["runs"] // args.envs + 1
    print(f"  env-0 history through the API: {n} runs (expected {expected}), {time.monotonic() - t:.1f} s")
    if n != expected:
        problems.append(f"env-0 pages hold {n} runs, expected {expected}")

    t = time.monotonic()
    status = get_json(f"{base}/api/v1/status")
    took = time.monotonic() - t
    envs = status["environments"]
    up = [e["uptime"] for e in envs]
    lat = [e["latency_ms"] for e in envs]
    missing = [e["name"] for e in envs if None in (e["uptime"]["24h"], e["uptime"]["7d"], e["uptime"]["30d"])]
    month = sorted(u["30d"] for u in up if u["30d"] is not None)
    print(f"  /api/v1/status: {len(envs)} environments in {took * 1000:.0f} ms (one cold request); "
          f"store ok={status['store']['ok']}; uptime 30d min {month[0]:.4f} median "
          f"{month[len(month) // 2]:.4f} max {month[-1]:.4f}; env-0 uptime {envs[0]['uptime']} "
          f"latency {envs[0]['latency_ms']}")
    if len(envs) != args.envs or missing or not status["store"]["ok"]:
        problems.append(f"status: {len(envs)} environments, without uptime: {missing[:5]}, store {status['store']}")
    if any(l["p50"] is None for l in lat):
        problems.append("an environment has no latency percentiles")
    procs.stop(daemon)
    procs.stop(lab)
    con = sqlite3.connect(copy)
    blobs_after = con.execute("SELECT count(*) FROM blobs").fetchone()[0]
    # Each probe's own message list (its echoed traceparent) is new by design; nothing else.
    new_messages = con.execute("SELECT count(DISTINCT messages_id) FROM runs WHERE id > ? AND messages_id"
                               " NOT IN (SELECT messages_id FROM runs WHERE id <= ? AND messages_id IS NOT NULL)",
                               (seeded["runs"], seeded["runs"])).fetchone()[0]
    con.close()
    reused = blobs_after - new_messages == seeded["blobs"]
    print(f"  blobs after the daemon's own {args.envs} probes: {blobs_after} (seeded {seeded['blobs']}, "
          f"{new_messages} new message lists): "
          + ("the daemon reused every other seeded blob" if reused else "NEW BLOBS"))
    if not reused:
        problems.append("the daemon wrote new blobs for identical content: the encodings differ")
    errors = [l for l in open(log_path) if " ERROR " in l or " WARN " in l]
    if errors:
        problems.append(f"{len(errors)} WARN/ERROR lines in {log_path}, first: {errors[0].strip()}")
    return problems


def time_ns(rfc3339):
    # "2026-11-23T12:38:19.129412567Z" -> ns, without losing the nanoseconds
    from datetime import datetime, timezone
    date, frac = rfc3339.rstrip("Z").split(".") if "." in rfc3339 else (rfc3339.rstrip("Z"), "0")
    secs = int(datetime.strptime(date, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp())
    return secs * 1_000_000_000 + int(frac.ljust(9, "0"))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", default="/tmp/wsprobe-bench/seeded.db")
    p.add_argument("--bin", default=os.path.join(ROOT, "target/release/wsprobe"))
    p.add_argument("--envs", type=int, default=100)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--every", type=int, default=300, help="seconds between runs")
    p.add_argument("--lab-port", type=int, default=18781)
    p.add_argument("--daemon-port", type=int, default=18782)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-verify", action="store_true")
    args = p.parse_args()
    args.db = os.path.abspath(args.db)
    args.bin = os.path.abspath(args.bin)
    for port in (args.lab_port, args.daemon_port):
        if not port_free(port):
            raise SystemExit(f"port {port} is in use")
    os.makedirs(os.path.dirname(args.db), exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(args.db + suffix):
            os.remove(args.db + suffix)

    # SIGTERM (a caller's trap) unwinds through `finally`, which stops the lab and daemon.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    procs = Procs()
    work = tempfile.mkdtemp(prefix="wsprobe-seed.")
    ok = False
    try:
        t = time.monotonic()
        tpl = make_templates(args, procs, work)
        check_schema(args.db)
        check_encoders(tpl, args.lab_port)
        print(f"== seed_store: schema by `{args.bin} run`; encoders match its 3 template runs byte for byte")
        seeded = seed(args, tpl)
        size = file_bytes(args.db)
        print(f"  seeded {seeded['runs']:,} runs ({args.envs} environments x {args.days} days x every "
              f"{args.every} s, {time.strftime('%Y-%m-%d %H:%M', time.gmtime(seeded['first']))} .. "
              f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(seeded['last']))} UTC), {seeded['blobs']} blobs, "
              f"{seeded['rollups']:,} rollups in {time.monotonic() - t:.0f} s; verdicts {seeded['verdicts']}")
        print(f"  {args.db}: {size:,} bytes incl. -wal after wal_checkpoint(TRUNCATE) = "
              f"{size / seeded['runs']:.1f} bytes per stored run")
        if not args.no_verify:
            problems = verify(args, procs, work, seeded)
            if problems:
                print("  VERIFY FAILED:\n    " + "\n    ".join(problems))
                sys.exit(1)
            print("  verified: the daemon serves the seeded file")
        ok = True
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"  logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
