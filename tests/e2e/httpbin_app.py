#!/usr/bin/env python3
"""Run httpbin (PyPI `httpbin`, with flasgger's /spec.json) under the Flask OpenTelemetry
instrumentation, on 127.0.0.1, exporting its spans over OTLP and/or to an OTLP/JSON lines file.

    .venv-e2e/bin/python tests/e2e/httpbin_app.py --otlp-grpc 127.0.0.1:4317 --ready-file /tmp/httpbin.json
    .venv-e2e/bin/python tests/e2e/httpbin_app.py --otlp-http http://127.0.0.1:4318 --port 8080
    .venv-e2e/bin/python tests/e2e/httpbin_app.py --jsonl fixtures/httpbin.jsonl --ready-file ...

Without --otlp-* the standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_PROTOCOL
(grpc | http/protobuf) environment variables are honoured; with neither, and no --jsonl, it
refuses to start (it would record nothing). Exports use gzip. --semconv new sets
OTEL_SEMCONV_STABILITY_OPT_IN=http.

Once listening it writes `{"url": "http://127.0.0.1:PORT", "port": PORT, "service": NAME}` to
--ready-file (atomically). SIGTERM or SIGINT stops it after flushing every span (exit 0, or 1
when an OTLP export failed), so a test can stop it and then read shadowscan's inventory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from urllib.parse import urlsplit


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="httpbin under FlaskInstrumentor, exporting OTLP")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--ready-file", help="write the listening URL as JSON here")
    p.add_argument("--otlp-grpc", metavar="HOST:PORT", help="export with the OTLP/gRPC exporter")
    p.add_argument("--otlp-http", metavar="URL", help="export with the OTLP/HTTP exporter (base or /v1/traces URL)")
    p.add_argument("--jsonl", metavar="FILE", help="also write spans as OTLP/JSON lines here")
    p.add_argument("--service-name", default="httpbin")
    p.add_argument("--semconv", choices=["old", "new"], default="old")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
for var in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"):
    os.environ.pop(var, None)
if ARGS is not None and ARGS.semconv == "new":
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "http"
os.environ.setdefault("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization")
os.environ.setdefault("OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS", "authorization")

from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from werkzeug.serving import make_server  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_file_exporter import OtlpJsonLinesExporter  # noqa: E402


class FailureCounter(SpanExporter):
    def __init__(self, inner):
        self.inner = inner
        self.failed = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failed += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return self.inner.force_flush(timeout_millis)


def otlp_exporter(args):
    grpc_endpoint, http_endpoint = args.otlp_grpc, args.otlp_http
    if not grpc_endpoint and not http_endpoint and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        endpoint = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
        if os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "grpc":
            grpc_endpoint = endpoint
        else:
            http_endpoint = endpoint
    if grpc_endpoint:
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        if "://" in grpc_endpoint:
            grpc_endpoint = urlsplit(grpc_endpoint).netloc
        return OTLPSpanExporter(endpoint=grpc_endpoint, insecure=True, compression=Compression.Gzip)
    if http_endpoint:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        if "://" not in http_endpoint:
            http_endpoint = f"http://{http_endpoint}"
        if urlsplit(http_endpoint).path in ("", "/"):
            http_endpoint = http_endpoint.rstrip("/") + "/v1/traces"
        return OTLPSpanExporter(endpoint=http_endpoint, compression=Compression.Gzip)
    return None


def main(args) -> int:
    import httpbin

    provider = TracerProvider(resource=Resource.create({
        "service.name": args.service_name,
        "service.version": getattr(httpbin, "__version__", "0.10"),
        "deployment.environment.name": "e2e",
    }))
    otlp = otlp_exporter(args)
    counter = None
    if otlp is not None:
        counter = FailureCounter(otlp)
        provider.add_span_processor(BatchSpanProcessor(counter, schedule_delay_millis=500))
    jsonl = None
    if args.jsonl:
        jsonl = open(args.jsonl, "w", encoding="utf-8")
        provider.add_span_processor(BatchSpanProcessor(OtlpJsonLinesExporter(jsonl),
                                                       schedule_delay_millis=500,
                                                       max_export_batch_size=64))
    if otlp is None and jsonl is None:
        print("httpbin_app: nothing to export to: give --otlp-grpc, --otlp-http, --jsonl or "
              "OTEL_EXPORTER_OTLP_ENDPOINT", file=sys.stderr)
        return 2

    app = httpbin.app
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", args.port, app, threaded=True)
    port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"url": f"http://127.0.0.1:{port}", "port": port, "service": args.service_name}, f)
        os.replace(tmp, args.ready_file)
    print(f"httpbin_app: serving http://127.0.0.1:{port}", file=sys.stderr)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()
    thread.join(timeout=5)
    flushed = provider.force_flush(timeout_millis=15000)
    provider.shutdown()
    if jsonl:
        jsonl.close()
    if counter is not None and (counter.failed or not flushed):
        print(f"httpbin_app: {counter.failed} OTLP export(s) failed (flushed={flushed})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
