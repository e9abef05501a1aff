#!/usr/bin/env python3
"""A minimal OTLP trace receiver (gRPC + HTTP/protobuf) that writes what it gets as OTLP/JSON lines.

Not shadowscan: a reference sink to check the e2e scripts themselves (that the real exporters
really send, gzip included) and to capture live traffic, e.g. httpbin's, into a fixture.

    .venv-e2e/bin/python tests/e2e/otlp_sink.py --out /tmp/received.jsonl --ready-file /tmp/sink.json
    # ready file: {"grpc": "127.0.0.1:PORT", "http": "127.0.0.1:PORT"}; stop with SIGTERM/SIGINT.
    # --fail makes every export answer UNAVAILABLE / 503 (to test exporters' failure path).

Binds 127.0.0.1 only. On exit prints a JSON summary on stdout (requests, spans, encodings seen).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import sys
import threading
import zlib
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_file_exporter import request_to_otlp_json  # noqa: E402


class Sink:
    def __init__(self, out_path, fail):
        self.out = open(out_path, "w", encoding="utf-8") if out_path else None
        self.fail = fail
        self.lock = threading.Lock()
        self.stats = {"grpc_requests": 0, "http_requests": 0, "spans": 0, "encodings": {}}

    def record(self, transport, encoding, request):
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self.lock:
            self.stats[f"{transport}_requests"] += 1
            self.stats["spans"] += spans
            key = f"{transport}:{encoding or 'identity'}"
            self.stats["encodings"][key] = self.stats["encodings"].get(key, 0) + 1
            if self.out:
                self.out.write(json.dumps(request_to_otlp_json(request), separators=(",", ":")) + "\n")
                self.out.flush()


class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: Sink):
        self.sink = sink

    def Export(self, request, context):  # noqa: N802 (gRPC method name)
        if self.sink.fail:
            context.abort(grpc.StatusCode.UNAVAILABLE, "otlp_sink --fail")
        # grpc-python decompresses before the servicer runs and hides grpc-encoding from it.
        self.sink.record("grpc", "not-visible", request)
        return trace_service_pb2.ExportTraceServiceResponse()


def make_http_handler(sink: Sink):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            if self.path.split("?")[0] != "/v1/traces":
                return self._reply(404, b"not found", "text/plain")
            if sink.fail:
                return self._reply(503, b"otlp_sink --fail", "text/plain")
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            encoding = self.headers.get("Content-Encoding")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            request = trace_service_pb2.ExportTraceServiceRequest()
            ctype = self.headers.get("Content-Type", "")
            if ctype.startswith("application/x-protobuf"):
                request.ParseFromString(body)
            else:
                return self._reply(415, b"only application/x-protobuf", "text/plain")
            sink.record("http", encoding, request)
            self._reply(200, trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
                        "application/x-protobuf")

        def _reply(self, code, body, ctype):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def main(argv=None):
    p = argparse.ArgumentParser(description="OTLP trace sink on 127.0.0.1 (gRPC + HTTP)")
    p.add_argument("--out", help="write received requests here as OTLP/JSON lines")
    p.add_argument("--ready-file", help="write {\"grpc\": ADDR, \"http\": ADDR} here once listening")
    p.add_argument("--grpc-port", type=int, default=0)
    p.add_argument("--http-port", type=int, default=0)
    p.add_argument("--fail", action="store_true", help="answer every export with UNAVAILABLE/503")
    args = p.parse_args(argv)

    sink = Sink(args.out, args.fail)
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(sink), grpc_server)
    grpc_port = grpc_server.add_insecure_port(f"127.0.0.1:{args.grpc_port}")
    grpc_server.start()
    http_server = ThreadingHTTPServer(("127.0.0.1", args.http_port), make_http_handler(sink))
    threading.Thread(target=http_server.serve_forever, daemon=True).start()

    addrs = {"grpc": f"127.0.0.1:{grpc_port}", "http": f"127.0.0.1:{http_server.server_port}"}
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(addrs, f)
        os.replace(tmp, args.ready_file)
    print(f"otlp_sink: listening {addrs}", file=sys.stderr)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    grpc_server.stop(grace=2).wait()
    http_server.shutdown()
    if sink.out:
        sink.out.close()
    json.dump(sink.stats, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
