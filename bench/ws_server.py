"""A plain Python `websockets` server speaking the lab's healthy protocol, as an independent
reference point: welcome echoing the received headers, ping -> pong, selects jwt-auth."""
import asyncio
import json
import sys

from websockets.asyncio.server import serve

ECHOED = ["authorization", "sec-websocket-protocol", "x-e2e-test", "user-agent", "origin"]


async def handler(ws):
    headers = ws.request.headers
    received = {name: headers.get(name, "[MISSING]") for name in ECHOED}
    await ws.send(json.dumps({"type": "system_message",
                              "data": {"event": "connection_established", "headers_received": received}}))
    async for message in ws:
        try:
            if json.loads(message).get("type") == "ping":
                await ws.send('{"type":"pong"}')
        except (ValueError, AttributeError):
            pass


async def main(port):
    async with serve(handler, "127.0.0.1", port, subprotocols=["jwt-auth"], compression=None):
        print(f"ready on {port}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
