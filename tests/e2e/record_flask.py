#!/usr/bin/env python3
"""Record fixtures/flask-{old,new}.jsonl from a real Flask app under the real OpenTelemetry SDK.

The app below is a small but realistic shop API: integer, uuid, path and word parameters, a
legacy `/users/v1/<username>` route, a trailing-slash collection route, a bearer-token auth
decorator (child span `auth.verify_token` + `enduser.id` on the server span), an API-key
decorator that only sets `enduser.id`, an admin route that checks a role (401/403) and one that
forgot to (`/admin/export`), an exception → 500, and scanner probes that match no route.

It is served by werkzeug on 127.0.0.1:<ephemeral> and driven over real HTTP (http.client, so
raw paths such as percent-encoding and trailing slashes reach the server untouched). Spans go
through TracerProvider → BatchSpanProcessor → OtlpJsonLinesExporter, i.e. the SDK's own OTLP
encoder, written one ExportTraceServiceRequest per line like the collector's file exporter.

The app records its own ground truth (which Flask rule served each request, the status, and
which auth evidence it produced) independently of the instrumentation; `--expected` writes it.

Usage:
  .venv-e2e/bin/python tests/e2e/record_flask.py --semconv old --out fixtures/flask-old.jsonl \
      --pb fixtures/flask-old.pb --expected fixtures/flask-expected.json
  .venv-e2e/bin/python tests/e2e/record_flask.py --semconv new --out fixtures/flask-new.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import uuid
from collections import defaultdict
from functools import wraps
from http.client import HTTPConnection


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--semconv", choices=["old", "new"], default="old",
                   help="old: instrumentation default; new: OTEL_SEMCONV_STABILITY_OPT_IN=http")
    p.add_argument("--out", required=True, help="OTLP/JSON lines file to write")
    p.add_argument("--pb", help="also write all spans as ONE binary ExportTraceServiceRequest here")
    p.add_argument("--expected", help="write the app's own ground truth (JSON) here")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None

# The instrumentation reads these once, when it is first imported: set them before any import
# of opentelemetry.instrumentation. Values of captured credential headers are replaced by
# "[REDACTED]" by the instrumentation itself (the SANITIZE list), as a careful team would do.
for var in ("OTEL_SEMCONV_STABILITY_OPT_IN", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME"):
    os.environ.pop(var, None)
if ARGS is not None and ARGS.semconv == "new":
    os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "http"
os.environ["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"] = "authorization,x-api-key"
os.environ["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"] = "authorization,x-api-key"

from flask import Flask, g, jsonify, request  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.instrumentation.flask import FlaskInstrumentor  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from otlp_file_exporter import OtlpJsonLinesExporter  # noqa: E402

SERVICE = "shop-api-flask"

# Fake credentials: they exist only in this file and in the recorded fixtures.
TOKENS = {
    "tok-alice-7f3a": {"user": "alice", "role": "customer"},
    "tok-bob-19c2": {"user": "bob", "role": "customer"},
    "tok-root-a1b2": {"user": "root", "role": "admin"},
}
API_KEYS = {"key-reporting-5e6f": "svc-reporting"}


def create_app(tracer) -> Flask:
    app = Flask(__name__)
    app.config["SHADOWSCAN_TRUTH"] = []

    def evidence(kind):
        g.setdefault("auth_evidence", []).append(kind)

    def require_auth(role=None):
        def decorator(view):
            @wraps(view)
            def wrapper(*args, **kwargs):
                server_span = trace.get_current_span()
                with tracer.start_as_current_span("auth.verify_token") as span:
                    evidence("auth_span")
                    span.set_attribute("auth.scheme", "bearer")
                    header = request.headers.get("Authorization", "")
                    token = header[7:] if header.startswith("Bearer ") else None
                    principal = TOKENS.get(token) if token else None
                    if principal is None:
                        span.set_status(Status(StatusCode.ERROR, "missing or invalid bearer token"))
                        return jsonify(error="unauthorized"), 401
                    if role is not None and principal["role"] != role:
                        span.set_status(Status(StatusCode.ERROR, "insufficient role"))
                        return jsonify(error="forbidden"), 403
                server_span.set_attribute("enduser.id", principal["user"])
                evidence("identity")
                g.principal = principal
                return view(*args, **kwargs)

            return wrapper

        return decorator

    def require_api_key(view):
        # No child span here on purpose: the only evidence is the identity attribute.
        @wraps(view)
        def wrapper(*args, **kwargs):
            caller = API_KEYS.get(request.headers.get("X-Api-Key", ""))
            if caller is None:
                return jsonify(error="invalid api key"), 401
            trace.get_current_span().set_attribute("enduser.id", caller)
            evidence("identity")
            return view(*args, **kwargs)

        return wrapper

    @app.after_request
    def record_truth(response):
        rule = request.url_rule
        app.config["SHADOWSCAN_TRUTH"].append({
            "method": request.method,
            "path": request.path,
            "rule": rule.rule if rule is not None else None,
            "status": response.status_code,
            "auth_evidence": sorted(set(g.get("auth_evidence", []))),
            "credential_header": any(h in request.headers for h in ("Authorization", "X-Api-Key")),
        })
        return response

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.post("/login")
    def login():
        body = request.get_json(silent=True) or {}
        for token, principal in TOKENS.items():
            if principal["user"] == body.get("username") and body.get("password") == "correct horse":
                return jsonify(token=token)
        return jsonify(error="bad credentials"), 401

    @app.get("/users/<int:user_id>")
    @require_auth()
    def get_user(user_id):
        return jsonify(id=user_id, expand=request.args.get("expand"))

    @app.delete("/users/<int:user_id>")
    @require_auth(role="admin")
    def delete_user(user_id):
        return "", 204

    @app.get("/users/<int:user_id>/orders")
    @require_auth()
    def user_orders(user_id):
        # A BatchSpanProcessor's timer can fire mid-request: the auth child span is then
        # exported in an earlier request than its server span. Make that happen here.
        app.config["MID_REQUEST_FLUSH"]()
        return jsonify(user=user_id, orders=[])

    @app.get("/users/v1/<username>")
    @require_auth()
    def legacy_user_by_name(username):
        return jsonify(username=username)

    @app.get("/orders/<uuid:order_id>")
    @require_auth()
    def get_order(order_id):
        return jsonify(id=str(order_id), status="shipped")

    @app.post("/orders/<uuid:order_id>/refund")
    @require_auth()
    def refund_order(order_id):
        if order_id == POISON_ORDER:
            raise RuntimeError("payment provider timeout")
        return jsonify(id=str(order_id), refunded=True)

    @app.get("/products/")
    def list_products():
        return jsonify(page=int(request.args.get("page", 1)), items=[])

    @app.get("/products/<slug>")
    def get_product(slug):
        return jsonify(slug=slug)

    @app.get("/reports/<int:report_id>")
    @require_api_key
    def get_report(report_id):
        return jsonify(id=report_id)

    @app.get("/files/<path:filepath>")
    @require_auth()
    def get_file(filepath):
        return jsonify(path=filepath)

    @app.get("/admin/users")
    @require_auth(role="admin")
    def admin_users():
        return jsonify(users=["alice", "bob", "root"])

    @app.get("/admin/export")
    def admin_export():
        # The bug shadowscan exists to find: an admin data export nobody put behind auth.
        return jsonify(rows=1024, format=request.args.get("format", "json"))

    return app


ORDER_A = uuid.UUID("3f6c2a9e-8d1b-4c57-9e0a-6b2f4d8c1a73")
ORDER_B = uuid.UUID("b7e41c02-5a9f-4e3d-8c16-0f9a2d7e5b48")
POISON_ORDER = uuid.UUID("00000000-dead-4bad-8bad-000000000500")

ALICE = {"Authorization": "Bearer tok-alice-7f3a"}
BOB = {"Authorization": "Bearer tok-bob-19c2"}
ROOT = {"Authorization": "Bearer tok-root-a1b2"}
EXPIRED = {"Authorization": "Bearer tok-expired-0000"}
REPORTING = {"X-Api-Key": "key-reporting-5e6f"}
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"}
SCANNER = {"User-Agent": "Mozilla/5.0 zgrab/0.x"}

# (method, raw path, headers, json body, expected status). Raw paths are sent byte for byte.
TRAFFIC = [
    ("GET", "/healthz", {}, None, 200),
    ("GET", "/healthz", {}, None, 200),
    ("GET", "/healthz", {}, None, 200),
    ("POST", "/login", BROWSER, {"username": "alice", "password": "correct horse"}, 200),
    ("POST", "/login", BROWSER, {"username": "bob", "password": "correct horse"}, 200),
    ("POST", "/login", BROWSER, {"username": "alice", "password": "hunter2"}, 401),
    ("GET", "/users/42", ALICE, None, 200),
    ("GET", "/users/42", ALICE, None, 200),
    ("GET", "/users/7", BOB, None, 200),
    ("GET", "/users/1337?expand=orders", ALICE, None, 200),
    ("GET", "/users/42", {}, None, 401),
    ("GET", "/users/42", EXPIRED, None, 401),
    ("GET", "/users/42/", ALICE, None, 404),
    ("GET", "/users/42/orders", ALICE, None, 200),
    ("GET", "/users/7/orders?status=open&limit=20", BOB, None, 200),
    ("DELETE", "/users/7", ROOT, None, 204),
    ("DELETE", "/users/8", ALICE, None, 403),
    ("GET", "/users/v1/alice", ALICE, None, 200),
    ("GET", "/users/v1/bob.smith", ALICE, None, 200),
    ("GET", "/users/v1/j%C3%B6rg", BOB, None, 200),
    ("GET", "/users/v1/alice", {}, None, 401),
    ("GET", f"/orders/{ORDER_A}", ALICE, None, 200),
    ("GET", f"/orders/{ORDER_B}", BOB, None, 200),
    ("GET", "/orders/not-a-uuid", ALICE, None, 404),
    ("POST", f"/orders/{ORDER_A}/refund", ALICE, {}, 200),
    ("POST", f"/orders/{POISON_ORDER}/refund", ALICE, {}, 500),
    ("GET", "/products/", BROWSER, None, 200),
    ("GET", "/products/?page=2&sort=price", BROWSER, None, 200),
    ("GET", "/products", BROWSER, None, 308),
    ("GET", "/products/blue-widget", BROWSER, None, 200),
    ("GET", "/products/red-widget-xl", BROWSER, None, 200),
    ("GET", "/reports/2024", REPORTING, None, 200),
    ("GET", "/reports/2025", REPORTING, None, 200),
    ("GET", "/reports/2024", {}, None, 401),
    ("GET", "/files/reports/2024/q1.pdf", ALICE, None, 200),
    ("GET", "/files/avatar.png", BOB, None, 200),
    ("GET", "/admin/users", ROOT, None, 200),
    ("GET", "/admin/users", ALICE, None, 403),
    ("GET", "/admin/users", {}, None, 401),
    ("GET", "/admin/export", {}, None, 200),
    ("GET", "/admin/export?format=csv", {}, None, 200),
    ("DELETE", "/healthz", {}, None, 405),
    ("GET", "/.env", SCANNER, None, 404),
    ("GET", "/wp-login.php", SCANNER, None, 404),
    ("POST", "/wp-login.php", SCANNER, {}, 404),
    ("GET", "/.git/config", SCANNER, None, 404),
    ("GET", "/phpmyadmin/index.php", SCANNER, None, 404),
    ("GET", "/actuator/env", SCANNER, None, 404),
]

# Flush after these indices so spans of one run are spread over several export requests, as a
# BatchSpanProcessor with a short schedule delay does in production.
FLUSH_EVERY = 8


def drive(port: int, provider: TracerProvider) -> list:
    results = []
    for i, (method, path, headers, body, expected) in enumerate(TRAFFIC):
        conn = HTTPConnection("127.0.0.1", port, timeout=10)
        hdrs = {"User-Agent": "shop-web/2.3 python-http.client"}
        hdrs.update(headers)
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=hdrs)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        results.append((method, path, resp.status, expected))
        if (i + 1) % FLUSH_EVERY == 0:
            provider.force_flush()
    provider.force_flush()
    bad = [r for r in results if r[2] != r[3]]
    if bad:
        for method, path, got, want in bad:
            print(f"record_flask: {method} {path}: got {got}, expected {want}", file=sys.stderr)
        raise SystemExit(1)
    return results


def summarise_truth(truth: list) -> dict:
    endpoints = defaultdict(lambda: {"requests": 0, "status": defaultdict(int),
                                     "successes_with_auth_evidence": 0,
                                     "successes_without_auth_evidence": 0,
                                     "auth_evidence": set(), "example_paths": []})
    unmatched = []
    for t in truth:
        if t["rule"] is None:
            unmatched.append({"method": t["method"], "path": t["path"], "status": t["status"]})
            continue
        e = endpoints[(t["method"], t["rule"])]
        e["requests"] += 1
        e["status"][str(t["status"])] += 1
        has_evidence = bool(t["auth_evidence"]) or t["credential_header"]
        if t["status"] < 400:
            key = "successes_with_auth_evidence" if has_evidence else "successes_without_auth_evidence"
            e[key] += 1
        e["auth_evidence"].update(t["auth_evidence"])
        if t["credential_header"]:
            e["auth_evidence"].add("credential_header")
        if t["status"] in (401, 403):
            e["auth_evidence"].add(f"status_{t['status']}")
        if t["path"] not in e["example_paths"] and len(e["example_paths"]) < 3:
            e["example_paths"].append(t["path"])
    out = []
    for (method, rule), e in sorted(endpoints.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        out.append({
            "method": method,
            "route": rule,
            "template": flask_rule_to_template(rule),
            "requests": e["requests"],
            "status": dict(sorted(e["status"].items())),
            "successes_with_auth_evidence": e["successes_with_auth_evidence"],
            "successes_without_auth_evidence": e["successes_without_auth_evidence"],
            "auth_evidence": sorted(e["auth_evidence"]),
            "example_paths": e["example_paths"],
        })
    return {"service": SERVICE, "endpoints": out, "unmatched_requests": unmatched}


def flask_rule_to_template(rule: str) -> str:
    """`/orders/<uuid:order_id>` → `/orders/{order_id}` (converter dropped, name kept)."""
    import re

    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def main(args) -> int:
    resource = Resource.create({
        "service.name": SERVICE,
        "service.namespace": "shop",
        "service.version": "1.4.2",
        "deployment.environment.name": "staging",
    })
    provider = TracerProvider(resource=resource)
    out = open(args.out, "w", encoding="utf-8")
    exporter = OtlpJsonLinesExporter(out)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000,
                                                   max_export_batch_size=64))
    memory = InMemorySpanExporter()
    if args.pb:
        provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("shop.auth", "1.4.2")

    app = create_app(tracer)
    app.config["MID_REQUEST_FLUSH"] = provider.force_flush
    # Request logs and the deliberate 500's traceback are noise on stderr, not information.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app.logger.setLevel(logging.CRITICAL)
    FlaskInstrumentor().instrument_app(app, tracer_provider=provider)
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        drive(server.server_port, provider)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    provider.shutdown()
    out.close()
    if args.pb:
        spans = memory.get_finished_spans()
        with open(args.pb, "wb") as f:
            f.write(encode_spans(spans).SerializeToString())
    if args.expected:
        truth = summarise_truth(app.config["SHADOWSCAN_TRUTH"])
        with open(args.expected, "w", encoding="utf-8") as f:
            json.dump(truth, f, indent=2)
            f.write("\n")
    print(f"record_flask: {len(TRAFFIC)} requests, {exporter.exported_spans} spans in "
          f"{exporter.exported_requests} export requests -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(ARGS))
