#!/usr/bin/env python3
"""Request every route httpbin's Flask URL map serves, and establish which ones its own
Swagger description (/spec.json) leaves out: the ground truth for the httpbin acceptance test.

Against an httpbin already running (e.g. tests/e2e/httpbin_app.py exporting to shadowscan):
    .venv-e2e/bin/python tests/e2e/exercise_httpbin.py --url http://127.0.0.1:PORT \
        [--routes-out fixtures/httpbin-routes.json] [--spec-out fixtures/httpbin-spec.json]

Or start httpbin_app.py itself, recording its spans to a file (how fixtures/httpbin.jsonl is made):
    .venv-e2e/bin/python tests/e2e/exercise_httpbin.py --spawn --jsonl fixtures/httpbin.jsonl \
        --routes-out fixtures/httpbin-routes.json --spec-out fixtures/httpbin-spec.json

Every rule of `httpbin.app.url_map` is requested once per method it allows (HEAD and OPTIONS,
which Flask adds to every rule, excluded), with converters filled by plausible values, plus a few
extra requests that produce auth evidence (401 without credentials, 200 with them on the
basic-auth and bearer routes) and two scanner probes that match no rule. Redirects are not
followed. The routes file lists the URL map (rule, `{name}` template, methods, endpoint), the
spec's operations, the undocumented routes/operations, and every request made with its status.
Prints a short JSON summary on stdout; exits 1 if a request failed at the transport level or
a rule could not be filled.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
IGNORED_METHODS = {"HEAD", "OPTIONS"}

# Values for each converter argument, by rule. Generic fallbacks below cover the rest.
ARG_VALUES = {
    ("/bytes/<int:n>", "n"): "16",
    ("/stream-bytes/<int:n>", "n"): "32",
    ("/stream/<int:n>", "n"): "3",
    ("/range/<int:numbytes>", "numbytes"): "64",
    ("/links/<int:n>", "n"): "5",
    ("/links/<int:n>/<int:offset>", "n"): "5",
    ("/links/<int:n>/<int:offset>", "offset"): "2",
    ("/redirect/<int:n>", "n"): "2",
    ("/absolute-redirect/<int:n>", "n"): "2",
    ("/relative-redirect/<int:n>", "n"): "2",
    ("/cache/<int:value>", "value"): "60",
    ("/base64/<value>", "value"): base64.urlsafe_b64encode(b"shadowscan e2e").decode(),
    ("/cookies/set/<name>/<value>", "name"): "flavor",
    ("/cookies/set/<name>/<value>", "value"): "oatmeal",
    ("/delay/<delay>", "delay"): "0",
    ("/etag/<etag>", "etag"): "a1b2c3",
    ("/anything/<path:anything>", "anything"): "shop/items/42",
    ("/static/<path:filename>", "filename"): "favicon.ico",
    ("/flasgger_static/<path:filename>", "filename"): "swagger-ui.css",
}
GENERIC_VALUES = {"user": "alice", "passwd": "s3cret", "qop": "auth", "algorithm": "MD5",
                  "stale_after": "never", "codes": "200"}
STATUS_BY_METHOD = {"GET": "200", "POST": "201", "PUT": "200", "PATCH": "200", "DELETE": "204",
                    "TRACE": "200"}
QUERY = {
    "/redirect-to": "url=%2Fget&status_code=302",
    "/drip": "duration=0&numbytes=5&code=200&delay=0",
    "/cookies/set": "flavor=oatmeal",
    "/cookies/delete": "flavor",
    "/response-headers": "X-Shadowscan=e2e",
}
BASIC = "Basic " + base64.b64encode(b"alice:s3cret").decode()


def rule_to_template(rule: str) -> str:
    """`/links/<int:n>/<int:offset>` → `/links/{n}/{offset}` (converter dropped, name kept)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def shape(template: str) -> str:
    """Parameter names do not matter when comparing with the spec."""
    return re.sub(r"\{[^}]+\}", "{}", template)


def fill(rule, method) -> str:
    def repl(m):
        name = m.group(1)
        if rule == "/status/<codes>" and name == "codes":
            return STATUS_BY_METHOD[method]
        value = ARG_VALUES.get((rule, name), GENERIC_VALUES.get(name))
        if value is None:
            raise KeyError(f"no value for <{name}> in {rule}")
        return value

    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", repl, rule)
    query = QUERY.get(rule)
    return f"{path}?{query}" if query else path


def url_map():
    import httpbin

    rules = []
    for r in httpbin.app.url_map.iter_rules():
        methods = sorted(set(r.methods) - IGNORED_METHODS)
        rules.append({"rule": r.rule, "template": rule_to_template(r.rule), "methods": methods,
                      "endpoint": r.endpoint})
    rules.sort(key=lambda x: x["rule"])
    versions = {"httpbin": getattr(httpbin, "__version__", None) or _dist_version("httpbin"),
                "flask": _dist_version("flask"), "flasgger": _dist_version("flasgger"),
                "werkzeug": _dist_version("werkzeug")}
    return rules, versions


def _dist_version(name):
    from importlib.metadata import version

    return version(name)


def plan_requests(rules):
    plan = []
    for r in rules:
        for method in r["methods"]:
            headers = {}
            if r["rule"] in ("/basic-auth/<user>/<passwd>", "/hidden-basic-auth/<user>/<passwd>"):
                headers["Authorization"] = BASIC
            elif r["rule"] == "/bearer":
                headers["Authorization"] = "Bearer e2e-token"
            plan.append((method, fill(r["rule"], method), headers, r["rule"]))
    # Auth evidence: the same protected routes without credentials answer 401.
    plan.append(("GET", fill("/basic-auth/<user>/<passwd>", "GET"), {}, "/basic-auth/<user>/<passwd>"))
    plan.append(("GET", "/bearer", {}, "/bearer"))
    # Scanner noise: matches no rule, must never become an endpoint.
    plan.append(("GET", "/.env", {"User-Agent": "Mozilla/5.0 zgrab/0.x"}, None))
    plan.append(("GET", "/wp-login.php", {"User-Agent": "Mozilla/5.0 zgrab/0.x"}, None))
    return plan


def request(base, method, path, headers, body=None):
    u = urlsplit(base)
    conn = HTTPConnection(u.hostname, u.port, timeout=30)
    hdrs = {"User-Agent": "shadowscan-e2e/1.0"}
    hdrs.update(headers)
    if method in ("POST", "PUT", "PATCH"):
        body = json.dumps({"sku": "SKU-1042", "qty": 2}).encode()
        hdrs["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def spawn_httpbin(jsonl, extra):
    ready = os.path.join(tempfile.mkdtemp(prefix="httpbin-"), "ready.json")
    cmd = [sys.executable, os.path.join(HERE, "httpbin_app.py"), "--ready-file", ready]
    if jsonl:
        cmd += ["--jsonl", jsonl]
    cmd += extra
    proc = subprocess.Popen(cmd)
    deadline = time.monotonic() + 30
    while not os.path.exists(ready):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"exercise_httpbin: httpbin_app.py did not start ({cmd})")
        time.sleep(0.05)
    with open(ready) as f:
        return proc, json.load(f)["url"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Exercise every httpbin route; list the undocumented ones.")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="base URL of a running httpbin, e.g. http://127.0.0.1:8080")
    target.add_argument("--spawn", action="store_true", help="start tests/e2e/httpbin_app.py itself")
    p.add_argument("--jsonl", help="with --spawn: record httpbin's spans to this OTLP/JSON lines file")
    p.add_argument("--app-arg", action="append", default=[],
                   help="with --spawn: extra argument for httpbin_app.py (repeatable), e.g. --app-arg=--otlp-grpc=127.0.0.1:4317")
    p.add_argument("--routes-out", help="write the URL map / spec comparison and requests here")
    p.add_argument("--spec-out", help="save the running app's /spec.json here")
    args = p.parse_args(argv)

    proc = None
    base = args.url
    if args.spawn:
        proc, base = spawn_httpbin(args.jsonl, args.app_arg)
    try:
        rules, versions = url_map()
        status, spec_bytes = request(base, "GET", "/spec.json", {})
        if status != 200:
            print(f"exercise_httpbin: GET /spec.json -> {status}", file=sys.stderr)
            return 1
        spec = json.loads(spec_bytes)
        results = []
        for method, path, headers, rule in plan_requests(rules):
            status, _ = request(base, method, path, headers)
            results.append({"method": method, "path": path, "rule": rule, "status": status})
    finally:
        if proc is not None:
            proc.terminate()
            rc = proc.wait(timeout=30)
            if rc != 0:
                print(f"exercise_httpbin: httpbin_app.py exited {rc}", file=sys.stderr)
                return 1

    documented = {}
    for spec_path, ops in spec.get("paths", {}).items():
        methods = sorted(m.upper() for m in ops if m.lower() in
                         ("get", "put", "post", "delete", "options", "head", "patch", "trace"))
        documented[shape(spec_path)] = (spec_path, methods)
    undocumented_routes, undocumented_ops = [], []
    for r in rules:
        doc = documented.get(shape(r["template"]))
        r["documented"] = doc is not None
        r["spec_path"] = doc[0] if doc else None
        missing = [m for m in r["methods"] if doc is None or m not in doc[1]]
        r["undocumented_methods"] = missing
        if doc is None:
            undocumented_routes.append(r["template"])
        undocumented_ops += [{"method": m, "template": r["template"]} for m in missing]
    rule_shapes = {shape(r["template"]) for r in rules}
    documented_not_served = sorted(p for s, (p, _) in documented.items() if s not in rule_shapes)

    report = {
        "generated_by": "tests/e2e/exercise_httpbin.py",
        "versions": versions,
        "note": "methods exclude HEAD and OPTIONS, which Flask adds to every rule; templates use "
                "the rule's own parameter names; a route is documented when the spec has a path "
                "of the same shape (parameter names ignored)",
        "spec": {"swagger": spec.get("swagger"), "host": spec.get("host"),
                 "basePath": spec.get("basePath"), "paths": len(spec.get("paths", {})),
                 "operations": sum(len(v[1]) for v in documented.values())},
        "url_map": rules,
        "undocumented_routes": undocumented_routes,
        "undocumented_operations": undocumented_ops,
        "documented_not_served": documented_not_served,
        "requests": results,
    }
    if args.routes_out:
        with open(args.routes_out, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
    if args.spec_out:
        with open(args.spec_out, "w", encoding="utf-8") as f:
            json.dump(spec, f, indent=2, sort_keys=True)
            f.write("\n")
    print(json.dumps({"base_url": base, "rules": len(rules), "requests": len(results),
                      "undocumented_routes": undocumented_routes,
                      "undocumented_operations": len(undocumented_ops)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
