#!/usr/bin/env python3
"""Print a one-line-per-span summary of OTLP/JSON lines files (or one binary .pb request).

    python3 tests/e2e/inspect_otlp.py fixtures/express5.jsonl
    .venv-e2e/bin/python tests/e2e/inspect_otlp.py fixtures/flask-old.pb   # needs the venv

Each line: export-request index, service, kind, span name, and the HTTP attributes that matter
to shadowscan, indented under its parent when the parent is in the same file. Used to write the
"observed quirks" in fixtures/README.md and handy when a fixture surprises a test.
"""
import json
import sys

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
SHOW = ("http.method", "http.request.method", "http.route", "http.target", "url.path", "url.query",
        "http.status_code", "http.response.status_code", "enduser.id", "user.id",
        "http.request.header.authorization", "http.request.header.x_api_key",
        "http.request.header.x-api-key", "express.name", "express.type", "router.name")


def value(v):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", [])]
    return v


def requests(path):
    if path.endswith(".pb"):
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from otlp_file_exporter import request_to_otlp_json
        req = ExportTraceServiceRequest()
        req.ParseFromString(open(path, "rb").read())
        yield request_to_otlp_json(req)
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def main(paths):
    for path in paths:
        spans = []
        for i, req in enumerate(requests(path)):
            for rs in req.get("resourceSpans", []):
                res = {a["key"]: value(a["value"]) for a in rs.get("resource", {}).get("attributes", [])}
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        spans.append((i, res.get("service.name"), ss.get("scope", {}).get("name"), s))
        by_id = {s["spanId"]: s for _, _, _, s in spans}
        for i, svc, scope, s in spans:
            attrs = {a["key"]: value(a["value"]) for a in s.get("attributes", [])}
            depth = 0
            p = s.get("parentSpanId")
            while p and p in by_id:
                depth += 1
                p = by_id[p].get("parentSpanId")
            shown = " ".join(f"{k}={attrs[k]!r}" for k in SHOW if k in attrs)
            status = s.get("status", {}).get("code")
            print(f"[{i}] {svc} {'  ' * depth}{KINDS.get(s.get('kind', 0))} {s['name']!r} {shown}"
                  + (f" status.code={status}" if status else ""))


if __name__ == "__main__":
    main(sys.argv[1:])
