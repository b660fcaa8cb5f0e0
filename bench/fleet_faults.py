#!/usr/bin/env python3
"""Benchmark (not a test): a fleet through its database's faults, judged from outside.

INSTANCES (default 3) `wsprobe run` replicas of one location share a PostgreSQL of this
script's own (initdb in a temporary directory), reached through this script's TCP proxy. N
(default 10) environments on `*/2 * * * * *` point at this script's slot recorder, a WebSocket
server that records which replica (the `X-Instance` header) opened each probe and when; a
webhook receiver counts the pages. Faults, one after the other on the same fleet, each judged
over its own window (from 4 s before the fault to 16 s after it ends):

  down      PostgreSQL stopped (fast shutdown) for DOWN_S (75) s, then started again
  lock      `LOCK TABLE slots, runs` held for LOCK_S (20) s
  slow      the proxy delays each direction by 500 ms for SLOW_S (30) s
  partition the proxy blackholes (accepts, forwards nothing) for PART_S (20) s

For each: slots probed once / twice / missed, probe start lag (arrival at the recorder minus
the slot) p50/p95/p99, pages sent, and runs kept (runs in the database for the window's slots
against slots probed), and each replica's /readyz asked every 0.5 s from the fault's start to
the window's end: the slowest answer, those not answered within 1 s, and the 503s (with one
reason). Needs PostgreSQL's server binaries and psql; WSPROBE_BIN (default
target/debug/wsprobe, built if missing). SCENARIOS=down,lock,slow,partition picks some;
LOG sets the replicas' RUST_LOG, DETAIL=1 lists each slot probed twice, KEEP=1 keeps the logs.
"""

import asyncio
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("N", "10"))
INSTANCES = int(os.environ.get("INSTANCES", "3"))
PERIOD_MS = 2000
DOWN_S = float(os.environ.get("DOWN_S", "75"))
LOCK_S = float(os.environ.get("LOCK_S", "20"))
SLOW_S = float(os.environ.get("SLOW_S", "30"))
PART_S = float(os.environ.get("PART_S", "20"))
SCENARIOS = os.environ.get("SCENARIOS", "down,lock,slow,partition").split(",")
BEFORE_S, AFTER_S = 4.0, 16.0


def as_pg(args):
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def pg_bin():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not versions:
        sys.exit("no PostgreSQL server binaries (apt install postgresql)")
    return versions[-1].parent


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proxy:
    """TCP proxy: pass, delay each direction, or blackhole (hold everything until it passes)."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.delay = 0.0
        self.blackhole = False
        self.changed = asyncio.Event()

    def set(self, delay=0.0, blackhole=False):
        self.delay, self.blackhole = delay, blackhole
        self.changed.set()
        self.changed = asyncio.Event()

    async def pump(self, reader, writer):
        queue = asyncio.Queue()

        async def read():
            while chunk := await reader.read(65536):
                await queue.put((time.monotonic(), chunk))
            await queue.put(None)

        async def write():
            while (item := await queue.get()) is not None:
                arrived, chunk = item
                while True:
                    changed = self.changed
                    if self.blackhole:
                        await changed.wait()
                        continue
                    wait = arrived + self.delay - time.monotonic()
                    if wait <= 0:
                        break
                    try:
                        await asyncio.wait_for(changed.wait(), wait)
                    except asyncio.TimeoutError:
                        break
                writer.write(chunk)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(read(), write())
        except (ConnectionError, OSError):
            writer.close()

    async def handle(self, client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_w.close()
            return
        try:
            await asyncio.gather(self.pump(client_r, server_w), self.pump(server_r, client_w))
        except asyncio.CancelledError:
            # The bench is over: links still open are dropped quietly.
            client_w.close()
            server_w.close()


class Recorder:
    """A WebSocket server recording (instance, path, time) of each upgrade."""

    def __init__(self):
        self.probes = []

    async def handle(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        at = time.time()
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
        self.probes.append((headers.get("x-instance", "?"), path, at))
        accept = base64.b64encode(
            hashlib.sha1((headers.get("sec-websocket-key", "") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        ).decode()
        writer.write(
            f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
        )
        try:
            await writer.drain()
            # Answer the probe's close frame with ours, then let it go.
            while True:
                first = await asyncio.wait_for(reader.readexactly(2), 10)
                length = first[1] & 0x7F
                if length == 126:
                    length = int.from_bytes(await reader.readexactly(2), "big")
                elif length == 127:
                    length = int.from_bytes(await reader.readexactly(8), "big")
                await reader.readexactly(length + (4 if first[1] & 0x80 else 0))
                if first[0] & 0x0F == 0x8:
                    writer.write(b"\x88\x02\x03\xe8")
                    await writer.drain()
                    break
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


class Hook:
    """A webhook receiver: every POST's JSON, with its arrival."""

    def __init__(self):
        self.pages = []

    async def handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            body = await reader.readexactly(length)
            self.pages.append((time.time(), json.loads(body or b"{}")))
        except Exception:
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


def percentile(values, p):
    if not values:
        return 0
    values = sorted(values)
    return values[max(0, min(len(values) - 1, -(-len(values) * p // 100) - 1))]


def judge(probes, start, end):
    """Slots in [start, end] of every environment: once, twice, missed, lags (ms)."""
    by_slot, lags = {}, []
    for inst, path, at in probes:
        at_ms = int(at * 1000)
        slot = (at_ms + PERIOD_MS // 2) // PERIOD_MS * PERIOD_MS
        if start * 1000 <= slot <= end * 1000:
            by_slot.setdefault((path, slot), []).append(inst)
            lags.append(at_ms - slot)
    first = int(start * 1000) // PERIOD_MS * PERIOD_MS + PERIOD_MS
    once = twice = missed = 0
    for env in range(N):
        for slot in range(first, int(end * 1000) + 1, PERIOD_MS):
            who = by_slot.get((f"/e{env}", slot), [])
            count = len(who)
            once += count == 1
            twice += count > 1
            if count > 1 and os.environ.get("DETAIL"):
                at = time.strftime("%H:%M:%S", time.gmtime(slot / 1000))
                print(f"  twice: e{env} slot {slot} ({at}.{slot % 1000:03d}Z) by {', '.join(who)}", file=sys.stderr)
            missed += count == 0
    return once, twice, missed, lags


class Readiness:
    """Polls each replica's /readyz every 0.5 s (1 s deadline): (time, instance, ms, status, body)."""

    def __init__(self):
        self.answers = []

    async def ask(self, name, port):
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
            writer.write(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = await asyncio.wait_for(reader.read(-1), 1.0)
            writer.close()
            head, _, body = raw.decode(errors="replace").partition("\r\n\r\n")
            status = int(head.split(" ", 2)[1])
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            status, body = 0, ""
        self.answers.append((time.time(), name, (time.monotonic() - started) * 1000, status, body.strip()))

    async def poll(self, replicas):
        while True:
            await asyncio.gather(*(self.ask(name, port) for name, port in replicas))
            await asyncio.sleep(0.5)

    def judge(self, start, end):
        """Slowest answer (ms), unanswered within 1 s, 503s, and one 503's reason."""
        seen = [a for a in self.answers if start <= a[0] <= end]
        slowest = max((a[2] for a in seen), default=0)
        unanswered = sum(1 for a in seen if a[3] == 0)
        not_ready = [a for a in seen if a[3] == 503]
        return slowest, unanswered, len(not_ready), (not_ready[0][4][:100] if not_ready else "")


async def run(cmd, **kw):
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def main():
    binary = Path(os.environ.get("WSPROBE_BIN", ROOT / "target/debug/wsprobe"))
    if "WSPROBE_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
    bindir = pg_bin()
    work = Path(tempfile.mkdtemp(prefix="wsprobe-faults."))
    os.chmod(work, 0o777)
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
    data = work / "data"
    subprocess.run(as_pg([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "wsprobe", "--no-sync"]),
                   check=True, stdout=subprocess.DEVNULL)
    pg_port = free_port()
    pg_args = as_pg([str(bindir / "postgres"), "-D", str(data), "-p", str(pg_port), "-k", str(work),
                     "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=300"])
    log = open(work / "postgres.log", "ab")
    postgres = subprocess.Popen(pg_args, stdout=log, stderr=log)

    def pg_ctl(*args):
        return as_pg([str(bindir / "pg_ctl"), "-D", str(data), *args])

    def psql(sql, database="bench"):
        return ["psql", "-h", "127.0.0.1", "-p", str(pg_port), "-U", "wsprobe", "-d", database, "-At", "-c", sql]

    for _ in range(100):
        if subprocess.run(psql("SELECT 1", "postgres"), capture_output=True).returncode == 0:
            break
        time.sleep(0.2)
    subprocess.run(psql("CREATE DATABASE bench", "postgres"), check=True, capture_output=True)

    proxy, recorder, hook = Proxy(pg_port), Recorder(), Hook()
    proxy_srv = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    rec_srv = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    hook_srv = await asyncio.start_server(hook.handle, "127.0.0.1", 0)
    port = lambda srv: srv.sockets[0].getsockname()[1]
    rec = f"127.0.0.1:{port(rec_srv)}"
    envs = "".join(
        f'  - {{ name: e{i}, url: "ws://{rec}/e{i}", headers: {{ X-Instance: "${{INST}}" }} }}\n' for i in range(N)
    )
    config = work / "probes.yaml"
    config.write_text(
        f"""location: a
defaults: {{ schedule: "*/2 * * * * *", timeout: 1500ms, jitter: 0s }}
environments:
{envs}alerts:
  channels:
    - {{ name: hook, kind: webhook, url: "http://127.0.0.1:{port(hook_srv)}/hook" }}
server: {{ listen: "127.0.0.1:${{PORT}}" }}
storage: {{ url: "postgres://wsprobe@127.0.0.1:{port(proxy_srv)}/bench" }}
"""
    )
    daemons, replicas = [], []
    for i in range(INSTANCES):
        name = f"a{i + 1}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "RUST_LOG"}
        if os.environ.get("LOG"):
            env["RUST_LOG"] = os.environ["LOG"]
        env.update(WSPROBE_INSTANCE=name, INST=name, PORT=str(free_port()))
        replicas.append((name, int(env["PORT"])))
        err = open(work / f"{name}.log", "ab")
        daemons.append(subprocess.Popen([str(binary), "run", "--config", str(config)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=err))
    readiness = Readiness()
    try:
        await asyncio.sleep(15)
        asyncio.get_running_loop().create_task(readiness.poll(replicas))
        rows = []
        for scenario in SCENARIOS:
            start = time.time()
            await asyncio.sleep(BEFORE_S)
            fault_start = time.time()
            if scenario == "down":
                # Fast shutdown: the backends are ended, the clients see their connections go.
                await run(pg_ctl("stop", "-m", "fast", "-w"))
                await asyncio.sleep(DOWN_S)
                postgres = subprocess.Popen(pg_args, stdout=log, stderr=log)
            elif scenario == "lock":
                await run(psql(f"BEGIN; LOCK TABLE slots, runs; SELECT pg_sleep({LOCK_S}); COMMIT;"))
            elif scenario == "slow":
                proxy.set(delay=0.5)
                await asyncio.sleep(SLOW_S)
                proxy.set()
            elif scenario == "partition":
                proxy.set(blackhole=True)
                await asyncio.sleep(PART_S)
                proxy.set()
            fault_end = time.time()
            await asyncio.sleep(AFTER_S)
            end = time.time() - 3
            once, twice, missed, lags = judge(recorder.probes, start, end)
            pages = [p for at, p in hook.pages if start <= at <= time.time()]
            await asyncio.sleep(5)  # the spool's last writes
            first_slot = int(start * 1000) // PERIOD_MS * PERIOD_MS + PERIOD_MS
            _, kept, _ = await run(psql(
                f"SELECT COUNT(DISTINCT (environment, slot_ms)) FROM runs WHERE slot_ms BETWEEN {first_slot} AND {int(end * 1000)}"))
            ready = readiness.judge(fault_start, fault_end + AFTER_S)
            rows.append((scenario, fault_end - fault_start, once, twice, missed, lags, pages, kept.strip(), ready))
            print(f"{scenario}: done", file=sys.stderr, flush=True)
        print(f"\n{INSTANCES} replicas, {N} environments every 2 s; window = fault + {BEFORE_S:.0f} s before, {AFTER_S:.0f} s after")
        print(f"{'fault':<10} {'for':>5} {'once':>5} {'twice':>5} {'missed':>6} {'lag p50':>8} {'p95':>6} {'p99':>6} {'pages':>5} {'runs kept':>10}"
              f" {'readyz max':>10} {'>1s':>4} {'503s':>5}")
        for scenario, took, once, twice, missed, lags, pages, kept, ready in rows:
            slots = once + twice
            slowest, unanswered, not_ready, reason = ready
            print(f"{scenario:<10} {took:>4.0f}s {once:>5} {twice:>5} {missed:>6} {percentile(lags, 50):>6}ms {percentile(lags, 95):>4}ms "
                  f"{percentile(lags, 99):>4}ms {len(pages):>5} {kept:>5}/{slots} {slowest:>8.0f}ms {unanswered:>4} {not_ready:>5}")
            if reason:
                print(f"           readyz 503: {reason}")
            for page in pages:
                print(f"           page: {page.get('event')} {page.get('environment')}")
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(timeout=20)
            except subprocess.TimeoutExpired:
                d.kill()
        subprocess.run(pg_ctl("stop", "-m", "immediate", "-w"), capture_output=True)
        postgres.wait(timeout=20)
        if os.environ.get("KEEP"):
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
