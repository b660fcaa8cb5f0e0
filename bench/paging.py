"""Benchmark (not a test): how fast and how often wsprobe pages, against real sockets.

Starts its own WebSocket backend (the lab's healthy protocol, breakable on cue), a webhook
receiver that records every notification, and `wsprobe run` on SCHEDULE (default the real
`*/5 * * * *`, jitter 0) with `confirm: { attempts: 2, every: 10s }`, then at a random moment
inside a schedule interval:

- breaks `chat` for good (1011 right after accept): the time from the break to its first
  `triggered` page is the outage-to-page figure (goal: one interval plus at most 30 s);
- breaks `blip` for exactly one connection: the pages it causes (goal: 0);
- breaks the 20 `group-*` environments at once: the pages per channel (goal with grouping: 1).

Prints the figures; asserts nothing. Needs `pip install websockets`.
Env: WSPROBE_BIN (default target/debug/wsprobe), SCHEDULE, GROUP (20), RUN_FOR (seconds after
the break, default one interval plus 100 s).
"""
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

from websockets.asyncio.server import serve

BIN = os.environ.get("WSPROBE_BIN", "target/debug/wsprobe")
SCHEDULE = os.environ.get("SCHEDULE", "*/5 * * * *")
INTERVAL = 300 if SCHEDULE == "*/5 * * * *" else float(os.environ.get("INTERVAL", "60"))
GROUP = int(os.environ.get("GROUP", "20"))
RUN_FOR = float(os.environ.get("RUN_FOR", str(INTERVAL + 100)))

broken = set()          # paths that close 1011 on every connection
break_once = set()      # paths that close 1011 on their next connection only
pages = []              # (monotonic time, notification)


async def handler(ws):
    path = ws.request.path
    if path in break_once:
        break_once.discard(path)
        await ws.close(1011, "Internal error")
        return
    if path in broken:
        await ws.close(1011, "Internal error")
        return
    await ws.send(json.dumps({"type": "system_message", "data": {"event": "connection_established"}}))
    async for _ in ws:
        pass


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        pages.append((time.monotonic(), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_):
        pass


def config(ws_port, hook_port, daemon_port, db):
    names = ["chat", "blip"] + [f"group-{i:02}" for i in range(GROUP)]
    envs = "".join(
        f"  - {{ name: {name}, url: \"ws://127.0.0.1:{ws_port}/{name}\" }}\n" for name in names
    )
    return (
        f"defaults:\n  schedule: \"{SCHEDULE}\"\n  jitter: 0s\n  timeout: 10s\n"
        "  steps: [ { expect: { json: { /type: system_message } } } ]\n"
        f"environments:\n{envs}"
        "alerts:\n  defaults: { failure_threshold: 2, confirm: { attempts: 2, every: 10s } }\n"
        f"  channels: [ {{ name: oncall, kind: webhook, url: \"http://127.0.0.1:{hook_port}/hook\" }} ]\n"
        f"server: {{ listen: \"127.0.0.1:{daemon_port}\" }}\nstorage: {{ path: \"{db}\" }}\n"
    )


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main():
    work = tempfile.mkdtemp(prefix="wsprobe-paging.")
    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=hook.serve_forever, daemon=True).start()
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        ws_port = server.sockets[0].getsockname()[1]
        daemon_port = free_port()
        path = os.path.join(work, "probes.yaml")
        with open(path, "w") as f:
            f.write(config(ws_port, hook.server_address[1], daemon_port, os.path.join(work, "p.db")))
        daemon = subprocess.Popen([BIN, "run", "--config", path],
                                  stdout=open(os.path.join(work, "daemon.log"), "w"),
                                  stderr=subprocess.STDOUT)
        try:
            started = time.monotonic()
            # Let the start-up probes pass, then break at a random moment of an interval.
            await asyncio.sleep(15 + random.uniform(0, INTERVAL))
            broke_at = time.monotonic()
            broken.add("/chat")
            break_once.add("/blip")
            broken.update(f"/group-{i:02}" for i in range(GROUP))
            print(f"== paging: schedule '{SCHEDULE}', confirm 2 x 10s, failure_threshold 2; "
                  f"broke {broke_at - started:.0f} s after start, watching {RUN_FOR:.0f} s", flush=True)
            await asyncio.sleep(RUN_FOR)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    triggered = [(t, p) for t, p in pages if p.get("event") == "triggered"]
    chat = [t for t, p in triggered if p.get("environment") == "chat"]
    blip = [p for _, p in pages if p.get("environment") == "blip"]
    group = [p for _, p in triggered if str(p.get("environment", "")).startswith("group-")]
    if chat:
        print(f"  outage to first page (chat): {chat[0] - broke_at:.1f} s "
              f"(goal: interval {INTERVAL:.0f} s + 30 s = {INTERVAL + 30:.0f} s)")
    else:
        print("  outage to first page (chat): no page within the run")
    print(f"  pages for one blip (blip): {len(blip)} (goal: 0)")
    print(f"  triggered pages for {GROUP} environments failing together: {len(group)} on one "
          f"channel (goal with grouping: 1)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
