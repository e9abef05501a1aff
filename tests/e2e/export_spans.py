#!/usr/bin/env python3
"""Send a known set of realistic HTTP server spans to an OTLP receiver with the REAL exporters.

    .venv-e2e/bin/python tests/e2e/export_spans.py --grpc 127.0.0.1:4317
    .venv-e2e/bin/python tests/e2e/export_spans.py --http http://127.0.0.1:4318   # /v1/traces added

The spans are made with the OpenTelemetry Python SDK (TracerProvider → BatchSpanProcessor →
OTLPSpanExporter, gzip compression on, as collectors and SDKs are usually configured) for two
services:

* `checkout-api`: stable HTTP semantic conventions (`http.request.method`, `url.path`,
  `url.query`, `http.response.status_code`, `client.address`, ...), Express-style routes
  (`/api/v2/carts/:cartId`), auth middleware child spans (`middleware - requireAuth` with
  `express.name`), `user.id`, some spans without `http.route` (to be inferred), 401/403s and
  scanner 404s without a route; plus CLIENT spans calling `legacy-billing`.
* `legacy-billing`: the old conventions (`http.method`, `http.target` with the query string,
  `http.status_code`, `net.peer.ip`), Flask-style routes (`/invoices/<int:invoice_id>`),
  `enduser.id`, a redacted captured `x-api-key` header, `auth.verify_token` child spans.

On success it prints one JSON document on stdout describing exactly what it sent (per service,
method and expected template: request count, status counts, successes with and without auth
evidence, the evidence kinds; scanner requests that must NOT become endpoints; caller services),
so a test can compare it with `shadowscan inventory --format json`. Parameter names of inferred
templates are not significant (`"template_source": "inferred"`): compare those segment by
segment with any `{name}`.

Exit status: 0 when every export succeeded; 1 when any export failed (the exporter's own result,
after its retries); 2 on bad arguments. Diagnostics go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from collections import defaultdict
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

for var in ("OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED"):
    os.environ.pop(var, None)

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import (  # noqa: E402
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import SpanKind, Status, StatusCode  # noqa: E402


class CountingExporter(SpanExporter):
    """Delegates to the real exporter and remembers each result: BatchSpanProcessor drops them."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.lock = threading.Lock()
        self.ok_requests = 0
        self.failed_requests = 0
        self.ok_spans = 0
        self.failed_spans = 0
        self.errors: list[str] = []

    def export(self, spans):
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # the exporter should not raise, but a test must see it if it does
            result = SpanExportResult.FAILURE
            with self.lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        with self.lock:
            if result == SpanExportResult.SUCCESS:
                self.ok_requests += 1
                self.ok_spans += len(spans)
            else:
                self.failed_requests += 1
                self.failed_spans += len(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def make_exporter(args) -> tuple[SpanExporter, str, str]:
    if args.grpc:
        from grpc import Compression as GrpcCompression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        endpoint = args.grpc
        # https://HOST:PORT: TLS, trusting OTEL_EXPORTER_OTLP_CERTIFICATE (and sending
        # OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_KEY when set), as a deployment configures it.
        insecure = not endpoint.startswith("https://")
        if "://" in endpoint:
            endpoint = urlsplit(endpoint).netloc
        compression = None if args.no_gzip else GrpcCompression.Gzip
        return (OTLPSpanExporter(endpoint=endpoint, insecure=insecure, timeout=args.timeout,
                                 compression=compression), "grpc", endpoint)
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = args.http if "://" in args.http else f"http://{args.http}"
    if urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    compression = HttpCompression.NoCompression if args.no_gzip else HttpCompression.Gzip
    return (OTLPSpanExporter(endpoint=endpoint, timeout=args.timeout, compression=compression),
            "http", endpoint)


class Expectation:
    """What a correct inventory must show, accumulated while the spans are made."""

    def __init__(self):
        self.endpoints = {}
        self.unmatched = defaultdict(int)
        self.callers = defaultdict(set)

    def endpoint(self, service, method, template, route, status, evidence):
        key = (service, method, template)
        e = self.endpoints.setdefault(key, {
            "service": service, "method": method, "template": template, "route": route,
            "template_source": "route" if route else "inferred",
            "requests": 0, "status": defaultdict(int),
            "successes_with_auth_evidence": 0, "successes_without_auth_evidence": 0,
            "auth_evidence": set(),
        })
        e["requests"] += 1
        e["status"][str(status)] += 1
        kinds = set(evidence)
        if status in (401, 403):
            kinds.add(f"status_{status}")
        e["auth_evidence"].update(kinds)
        if status < 400:
            real = {k for k in kinds if not k.startswith("status_")}
            e["successes_with_auth_evidence" if real else "successes_without_auth_evidence"] += 1

    def to_json(self):
        endpoints = []
        for key in sorted(self.endpoints):
            e = dict(self.endpoints[key])
            e["status"] = dict(sorted(e["status"].items()))
            e["auth_evidence"] = sorted(e["auth_evidence"])
            e["callers"] = sorted(self.callers.get(key, ()))
            endpoints.append(e)
        unmatched = [{"service": s, "method": m, "path": p, "status": st, "count": n}
                     for (s, m, p, st), n in sorted(self.unmatched.items())]
        return endpoints, unmatched


class Service:
    def __init__(self, name, semconv, exporter, batch_size, extra_resource=None):
        attrs = {"service.name": name, "service.namespace": "shop", "service.version": "3.2.0"}
        attrs.update(extra_resource or {})
        self.name = name
        self.semconv = semconv
        self.provider = TracerProvider(resource=Resource.create(attrs))
        self.provider.add_span_processor(BatchSpanProcessor(
            exporter, max_export_batch_size=batch_size, schedule_delay_millis=200))
        self.tracer = self.provider.get_tracer("shadowscan.e2e.export_spans", "1.0.0")


def http_attributes(svc: Service, method, path, query, status, route, client_ip, user_agent):
    if svc.semconv == "new":
        attrs = {
            "http.request.method": method, "url.scheme": "http", "url.path": path,
            "http.response.status_code": status, "client.address": client_ip,
            "network.peer.address": client_ip, "user_agent.original": user_agent,
            "server.address": f"{svc.name}.shop.svc", "server.port": 8080,
            "network.protocol.version": "1.1",
        }
        if query:
            attrs["url.query"] = query
    else:
        attrs = {
            "http.method": method, "http.scheme": "http",
            "http.target": path + (f"?{query}" if query else ""),
            "http.status_code": status, "net.peer.ip": client_ip, "http.user_agent": user_agent,
            "http.host": f"{svc.name}.shop.svc:8080", "net.host.port": 8080, "http.flavor": "1.1",
        }
    if route:
        attrs["http.route"] = route
    return attrs


def emit_request(svc: Service, expect: Expectation, *, method, path, status, route=None,
                 template=None, query=None, auth_span=None, identity=None, header=None,
                 parent_ctx=None, client_ip="10.0.4.17", user_agent="shop-web/4.1"):
    """One SERVER span (+ optional auth child span), recorded in the expectation."""
    attrs = http_attributes(svc, method, path, query, status, route, client_ip, user_agent)
    evidence = []
    if identity:
        attrs[identity[0]] = identity[1]
        evidence.append("identity")
    if header:
        attrs[header] = ("[REDACTED]",)
        evidence.append("credential_header")
    name = f"{method} {route}" if route else method
    span = svc.tracer.start_span(name, kind=SpanKind.SERVER, attributes=attrs, context=parent_ctx)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    if auth_span:
        child_name, child_attrs = auth_span
        ctx = trace.set_span_in_context(span)
        child = svc.tracer.start_span(child_name, kind=SpanKind.INTERNAL, attributes=child_attrs,
                                      context=ctx)
        if status in (401, 403):
            child.set_status(Status(StatusCode.ERROR, "rejected"))
        child.end()
        evidence.append("auth_span")
    span.end()
    if template is None:
        expect.unmatched[(svc.name, method, path, status)] += 1
    else:
        expect.endpoint(svc.name, method, template, route, status, evidence)
    return span


def generate(checkout: Service, billing: Service, scale: int, seed: int) -> Expectation:
    rng = random.Random(seed)
    expect = Expectation()
    require_auth = ("middleware - requireAuth",
                    {"express.name": "requireAuth", "express.type": "middleware"})
    jwt_verify = ("jwt.verify", {"auth.scheme": "bearer"})
    verify_token = ("auth.verify_token", {"auth.scheme": "bearer"})

    def hexid(n):
        return "".join(rng.choice("0123456789abcdef") for _ in range(n))

    for _ in range(scale):
        # checkout-api: stable conventions, Express-style routes.
        for _ in range(10):
            cart = hexid(24)  # Mongo-style object id
            emit_request(checkout, expect, method="GET", path=f"/api/v2/carts/{cart}", status=200,
                         route="/api/v2/carts/:cartId", template="/api/v2/carts/{cartId}",
                         auth_span=require_auth, header="http.request.header.authorization")
        for _ in range(2):
            emit_request(checkout, expect, method="GET", path=f"/api/v2/carts/{hexid(24)}",
                         status=401, route="/api/v2/carts/:cartId",
                         template="/api/v2/carts/{cartId}", auth_span=require_auth)
        for _ in range(5):
            emit_request(checkout, expect, method="POST", path=f"/api/v2/carts/{hexid(24)}/items",
                         status=201, route="/api/v2/carts/:cartId/items",
                         template="/api/v2/carts/{cartId}/items", identity=("user.id", "u-1842"),
                         header="http.request.header.authorization")
        for _ in range(4):
            emit_request(checkout, expect, method="POST", path="/api/v2/checkout", status=200,
                         route="/api/v2/checkout", template="/api/v2/checkout",
                         identity=("user.id", "u-1842"), auth_span=require_auth)
        emit_request(checkout, expect, method="POST", path="/api/v2/checkout", status=403,
                     route="/api/v2/checkout", template="/api/v2/checkout", auth_span=require_auth)
        for i in range(6):
            emit_request(checkout, expect, method="GET", path="/api/v2/products", status=200,
                         query=f"page={i + 1}&sort=price", route="/api/v2/products",
                         template="/api/v2/products")
        for _ in range(3):
            emit_request(checkout, expect, method="GET", path="/internal/metrics/dump",
                         status=200, route="/internal/metrics/dump",
                         template="/internal/metrics/dump", client_ip="203.0.113.50")
        for n in range(4):
            # No http.route: the template has to be inferred from the numeric segment.
            emit_request(checkout, expect, method="GET", path=f"/api/v2/orders/{1001 + n}",
                         status=200, template="/api/v2/orders/{id}", auth_span=jwt_verify,
                         header="http.request.header.authorization")
        for probe in ("/.env", "/.env", "/wp-login.php"):
            emit_request(checkout, expect, method="GET", path=probe, status=404,
                         client_ip="198.51.100.23", user_agent="Mozilla/5.0 zgrab/0.x")

        # legacy-billing: old conventions, Flask-style routes.
        for _ in range(5):
            inv = rng.randint(10000, 99999)
            emit_request(billing, expect, method="GET", path=f"/invoices/{inv}", status=200,
                         route="/invoices/<int:invoice_id>", template="/invoices/{invoice_id}",
                         auth_span=verify_token, identity=("enduser.id", "alice"),
                         header="http.request.header.authorization")
        for _ in range(2):
            emit_request(billing, expect, method="GET", path=f"/invoices/{rng.randint(10000, 99999)}/pdf",
                         status=200, route="/invoices/<int:invoice_id>/pdf",
                         template="/invoices/{invoice_id}/pdf", auth_span=verify_token,
                         identity=("enduser.id", "bob"))
        emit_request(billing, expect, method="GET", path="/invoices/31337/pdf", status=401,
                     route="/invoices/<int:invoice_id>/pdf", template="/invoices/{invoice_id}/pdf",
                     auth_span=verify_token)
        for _ in range(3):
            emit_request(billing, expect, method="POST", path="/payments", status=201,
                         route="/payments", template="/payments",
                         identity=("enduser.id", "svc-checkout"),
                         header="http.request.header.x_api_key")
        for _ in range(4):
            emit_request(billing, expect, method="GET", path="/health", status=200,
                         route="/health", template="/health", user_agent="kube-probe/1.30")
        for _ in range(3):
            customer = "%08x-%04x-4%03x-8%03x-%012x" % (rng.getrandbits(32), rng.getrandbits(16),
                                                       rng.getrandbits(12), rng.getrandbits(12),
                                                       rng.getrandbits(48))
            emit_request(billing, expect, method="GET", path=f"/customers/{customer}", status=200,
                         query="fields=name,email", template="/customers/{id}",
                         auth_span=verify_token, identity=("enduser.id", "alice"))
        emit_request(billing, expect, method="GET", path="/phpmyadmin/", status=404,
                     user_agent="Mozilla/5.0 zgrab/0.x", client_ip="198.51.100.23")

        # checkout-api calls legacy-billing: CLIENT span in one service, SERVER span in the other.
        for _ in range(2):
            inv = rng.randint(10000, 99999)
            client = checkout.tracer.start_span(
                "GET", kind=SpanKind.CLIENT,
                attributes={"http.request.method": "GET", "server.address": "legacy-billing",
                            "server.port": 8080, "url.full": f"http://legacy-billing:8080/invoices/{inv}",
                            "http.response.status_code": 200})
            ctx = trace.set_span_in_context(client, otel_context.Context())
            emit_request(billing, expect, method="GET", path=f"/invoices/{inv}", status=200,
                         route="/invoices/<int:invoice_id>", template="/invoices/{invoice_id}",
                         auth_span=verify_token, identity=("enduser.id", "svc-checkout"),
                         parent_ctx=ctx, client_ip="10.0.4.99", user_agent="python-requests/2.32")
            client.end()
            expect.callers[(billing.name, "GET", "/invoices/{invoice_id}")].add(checkout.name)
    return expect


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Export known HTTP server spans with the real OTLP exporters (gzip on).")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--grpc", metavar="HOST:PORT",
                        help="OTLP/gRPC endpoint, e.g. 127.0.0.1:4317 (https://HOST:PORT for TLS)")
    target.add_argument("--http", metavar="URL",
                        help="OTLP/HTTP base URL or full /v1/traces URL, e.g. http://127.0.0.1:4318")
    p.add_argument("--scale", type=int, default=1, help="repeat the whole traffic set N times")
    p.add_argument("--batch-size", type=int, default=32, help="BatchSpanProcessor max_export_batch_size")
    p.add_argument("--timeout", type=float, default=10.0, help="exporter timeout in seconds")
    p.add_argument("--seed", type=int, default=7, help="random ids are drawn from this seed")
    p.add_argument("--no-gzip", action="store_true", help="send uncompressed (gzip is the default)")
    p.add_argument("--also-jsonl", metavar="FILE",
                   help="also write the same spans as OTLP/JSON lines (the collector file exporter's format)")
    args = p.parse_args(argv)
    if args.scale < 1 or args.batch_size < 1 or args.timeout <= 0:
        p.error("--scale, --batch-size and --timeout must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    # One exporter per service, as two separate processes would have: shutting one provider
    # down must not shut the other's exporter.
    exporters = []
    services = []
    for name, semconv in (("checkout-api", "new"), ("legacy-billing", "old")):
        inner, transport, endpoint = make_exporter(args)
        exporters.append(CountingExporter(inner))
        services.append(Service(name, semconv, exporters[-1], args.batch_size,
                                {"deployment.environment.name": "e2e"}))
    checkout, billing = services
    jsonl = None
    if args.also_jsonl:
        from otlp_file_exporter import OtlpJsonLinesExporter

        jsonl = open(args.also_jsonl, "w", encoding="utf-8")
        file_exporter = OtlpJsonLinesExporter(jsonl)  # one instance: its lock serialises lines
        for svc in services:
            svc.provider.add_span_processor(BatchSpanProcessor(
                file_exporter, max_export_batch_size=args.batch_size, schedule_delay_millis=200))

    started = time.monotonic()
    expect = generate(checkout, billing, args.scale, args.seed)
    flushed = True
    for svc in services:
        flushed &= svc.provider.force_flush(timeout_millis=int(args.timeout * 1000) + 5000)
    for svc in services:
        svc.provider.shutdown()
    if jsonl:
        jsonl.close()
    elapsed = time.monotonic() - started

    endpoints, unmatched = expect.to_json()
    ok_spans = sum(e.ok_spans for e in exporters)
    failed_spans = sum(e.failed_spans for e in exporters)
    ok_requests = sum(e.ok_requests for e in exporters)
    failed_requests = sum(e.failed_requests for e in exporters)
    errors = [err for e in exporters for err in e.errors]
    server_spans = sum(e["requests"] for e in endpoints) + sum(u["count"] for u in unmatched)
    summary = {
        "transport": transport,
        "endpoint": endpoint,
        "compression": "none" if args.no_gzip else "gzip",
        "scale": args.scale,
        "seed": args.seed,
        "services": [checkout.name, billing.name],
        "server_spans": server_spans,
        "spans_exported": ok_spans,
        "spans_failed": failed_spans,
        "export_requests": ok_requests,
        "export_requests_failed": failed_requests,
        "elapsed_seconds": round(elapsed, 3),
        "endpoints": endpoints,
        "unmatched": unmatched,
    }
    json.dump(summary, sys.stdout, indent=2)
    sys.stdout.write("\n")
    if failed_requests or errors or not flushed or ok_spans == 0:
        print(f"export_spans: FAILED: {failed_requests} export request(s) failed "
              f"({failed_spans} spans) to {transport} {endpoint}; flushed={flushed}; "
              f"errors={errors}", file=sys.stderr)
        return 1
    print(f"export_spans: sent {ok_spans} spans ({server_spans} server spans) in "
          f"{ok_requests} {transport} request(s) to {endpoint}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
