"""Write a probes.yaml of N environments against one server, full exchange or upgrade only."""
import sys

n, url, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print("defaults:\n  timeout: 30s")
if mode == "full":
    print("""  auth: { kind: bearer, token: bench-token-0123456789abcdef }
  headers: { Authorization: "Bearer {token}" }
  subprotocols: ["jwt-auth"]
  expect_subprotocol: jwt-auth
  steps:
    - expect: { within: 10s, json: { /type: system_message } }
    - send: '{"type":"ping"}'
    - expect: { within: 10s, json: { /type: pong } }
  echo: { pointer: /data/headers_received, require: [authorization] }""")
else:
    print("  subprotocols: [\"jwt-auth\"]\n  steps: []")
print("environments:")
for i in range(n):
    print(f"  - {{ name: env-{i}, url: \"{url}\" }}")
