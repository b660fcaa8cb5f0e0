"""Benchmark (not a test): how fast and how often wsprobe pages, against real sockets.

Starts its own WebSocket backend (the lab's healthy protocol, breakable on cue), a webhook
receiver that records every notification, and `wsprobe run` on SCHEDULE (default the real
`*/5 * * * *`, jitter 0) with `confirm: { attempts: 2, every: 10s }`, then at a random moment
inside a schedule interval:

- breaks `chat` for good (1011 right after accept): the time from the break to its first
  `triggered` page is the outage-to-page figure (goal: one interval plus at most 30 s);
- breaks `blip` for exactly one connection: the pages it causes (goal: 0);
- breaks the 20 `group-*` environments at once (their upgrades answered 503, another verdict
  than chat's), with `alerts.grouping: { wait: GROUP_WAIT, by: [verdict] }` and three channels
  (a webhook, PagerDuty's Events API, Slack) on the one recording receiver: the triggered
  pages per channel for the 20 (goal: 1 each, listing all 20, one PagerDuty dedup_key).

Chat's page waits in its own group too: its figure includes GROUP_WAIT.

Prints the figures; asserts nothing. Needs `pip install websockets`.
Env: WSPROBE_BIN (default target/debug/wsprobe), SCHEDULE, GROUP (20), GROUP_WAIT (30s), RUN_FOR
(seconds after the break, default one interval plus 100 s).
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
GROUP_WAIT = os.environ.get("GROUP_WAIT", "30s")

broken = set()          # paths that close 1011 on every connection
break_once = set()      # paths that close 1011 on their next connection only
refused = set()         # paths whose upgrade is answered 503
pages = []              # (monotonic time, receiver path, notification)


def refuse(connection, request):
    if request.path in refused:
        return connection.respond(503, "down for the benchmark\n")
    return None


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
        pages.append((time.monotonic(), self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok")

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
        f"  grouping: {{ wait: {GROUP_WAIT}, by: [verdict] }}\n"
        "  channels:\n"
        f"    - {{ name: hook, kind: webhook, url: \"http://127.0.0.1:{hook_port}/hook\" }}\n"
        f"    - {{ name: pager, kind: pagerduty, routing_key: bench-routing-key, "
        f"events_url: \"http://127.0.0.1:{hook_port}/pd\" }}\n"
        f"    - {{ name: chat-ops, kind: slack, webhook_url: \"http://127.0.0.1:{hook_port}/slack\" }}\n"
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
    async with serve(handler, "127.0.0.1", 0, compression=None,
                     process_request=refuse) as server:
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
            refused.update(f"/group-{i:02}" for i in range(GROUP))
            print(f"== paging: schedule '{SCHEDULE}', confirm 2 x 10s, failure_threshold 2, "
                  f"grouping wait {GROUP_WAIT} by verdict; broke {broke_at - started:.0f} s after start, watching {RUN_FOR:.0f} s", flush=True)
            await asyncio.sleep(RUN_FOR)
        finally:
            daemon.terminate()
            daemon.wait(timeout=30)
    report(broke_at)


def members(page):
    """The environments a notification names: its group's, or its own."""
    group = page.get("group") or page.get("payload", {}).get("custom_details", {}).get("group")
    if group:
        return [m["environment"] for m in group["environments"]]
    return [page["environment"]] if page.get("environment") else []


def is_trigger(path, page):
    if path == "/pd":
        return page.get("event_action") == "trigger"
    if path == "/slack":
        # The 20 never heal within the run: any message of theirs but a resolve is the page.
        return "recovered" not in json.dumps(page)
    return page.get("event") == "triggered"


def names_the_group(path, page):
    if path == "/slack":
        # Slack's blocks are text: the group's members are named in them.
        return "group-" in json.dumps(page)
    return any(m.startswith("group-") for m in members(page))


def report(broke_at):
    hook = [(t, p) for t, path, p in pages if path == "/hook"]
    triggered = [(t, p) for t, p in hook if p.get("event") == "triggered"]
    chat = [t for t, p in triggered if "chat" in members(p)]
    blip = [p for _, p in hook if "blip" in members(p)]
    if chat:
        print(f"  outage to first page (chat): {chat[0] - broke_at:.1f} s "
              f"(goal: interval {INTERVAL:.0f} s + 30 s = {INTERVAL + 30:.0f} s; "
              f"includes the grouping wait {GROUP_WAIT})")
    else:
        print("  outage to first page (chat): no page within the run")
    print(f"  pages for one blip (blip): {len(blip)} (goal: 0)")
    group_pages = [(t, path, p) for t, path, p in pages
                   if is_trigger(path, p) and names_the_group(path, p)]
    for channel, path in (("webhook", "/hook"), ("pagerduty", "/pd"), ("slack", "/slack")):
        mine = [(t, p) for t, at, p in group_pages if at == path]
        listed = max((len(members(p)) for _, p in mine), default=0)
        if path == "/slack":
            listed = max((sum(f"group-{i:02}" in json.dumps(p) for i in range(GROUP))
                          for _, p in mine), default=0)
        first = f", first {mine[0][0] - broke_at:.1f} s after the break" if mine else ""
        print(f"  {channel}: {len(mine)} triggered page(s) for {GROUP} environments failing "
              f"together, listing {listed} of them{first} (goal: 1)")
    keys = {p["dedup_key"] for _, path, p in group_pages if path == "/pd"}
    print(f"  pagerduty dedup_keys for the group: {len(keys)} (goal: 1)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
