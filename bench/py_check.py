"""The Python reference for `check` (issue 8, issue 28): a plain `websockets` client doing what
`gen_config.py N URL full` asks of wsprobe, N times at `--concurrency 256`: bearer header and
the jwt-auth subprotocol, the welcome (its echoed authorization checked), ping -> pong, close.
Run it under GNU time beside `wsprobe check` (bench/run.sh part (b)):
    /usr/bin/time -f "%e s wall %U user %S sys %M KiB" python3 bench/py_check.py 1000 ws://127.0.0.1:PORT/
Prints how many exchanges ended well."""
import asyncio
import json
import sys

from websockets.asyncio.client import connect

TOKEN = "bench-token-0123456789abcdef"


async def one(url):
    async with connect(url, subprotocols=["jwt-auth"], compression=None,
                       additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        if ws.subprotocol != "jwt-auth":
            return False
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if welcome.get("type") != "system_message" or \
                TOKEN not in welcome["data"]["headers_received"]["authorization"]:
            return False
        await ws.send('{"type":"ping"}')
        return json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") == "pong"


async def main(n, url):
    gate = asyncio.Semaphore(256)

    async def bounded():
        async with gate:
            try:
                return await asyncio.wait_for(one(url), 30)
            except Exception:  # noqa: BLE001 - a failed exchange is counted, not raised
                return False

    results = await asyncio.gather(*(bounded() for _ in range(n)))
    print(f"{sum(results)} of {n} ok")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
