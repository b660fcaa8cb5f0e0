"""A minimal OTLP/HTTP collector for benchmarks: accepts every POST (metrics, traces) with an
empty protobuf answer (a valid, empty Export*ServiceResponse) and counts what arrived."""
import http.server
import sys


class Sink(http.server.BaseHTTPRequestHandler):
    counts = {}

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Sink.counts[self.path] = Sink.counts.get(self.path, 0) + 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
        del body

    def do_GET(self):  # /counts: what arrived so far, for the bench to print
        text = " ".join(f"{k}={v}" for k, v in sorted(Sink.counts.items())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
