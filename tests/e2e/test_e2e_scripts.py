"""Checks of the e2e tooling and of the claims fixtures/README.md makes about the fixtures.

    .venv-e2e/bin/python -m unittest discover -s tests/e2e -p 'test_*.py' -v

No shadowscan needed: the OTLP side is checked against tests/e2e/otlp_sink.py.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(ROOT, "fixtures")
sys.path.insert(0, HERE)

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def value(v):
    for k in ("stringValue", "intValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "arrayValue" in v:
        return [value(x) for x in v["arrayValue"].get("values", [])]
    return None


def load_spans(name):
    """[(line_no, service, span, attrs)] from an OTLP/JSON lines fixture."""
    out = []
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            req = json.loads(line)
            for rs in req["resourceSpans"]:
                res = {a["key"]: value(a["value"]) for a in rs["resource"]["attributes"]}
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        attrs = {a["key"]: value(a["value"]) for a in s.get("attributes", [])}
                        out.append((n, res["service.name"], s, attrs))
    return out


def server_spans(name):
    return [(svc, s, a) for _, svc, s, a in load_spans(name) if s["kind"] == 2]


def method_of(a):
    return a.get("http.request.method") or a.get("http.method")


def status_of(a):
    return int(a.get("http.response.status_code") or a.get("http.status_code"))


def path_of(a):
    if "url.path" in a:
        return a["url.path"]
    return a["http.target"].split("?")[0]


class FixtureFormat(unittest.TestCase):
    JSONL = ["flask-old.jsonl", "flask-new.jsonl", "express4.jsonl", "express4-oldsemconv.jsonl",
             "express5.jsonl", "httpbin.jsonl"]

    def test_every_line_is_an_otlp_json_export_request(self):
        for name in self.JSONL:
            with self.subTest(fixture=name):
                spans = load_spans(name)
                self.assertGreater(len(spans), 10)
                lines = {n for n, *_ in spans}
                self.assertGreater(len(lines), 1, "fixtures should span several export requests")
                for _, _, s, _ in spans:
                    self.assertRegex(s["traceId"], HEX32)
                    self.assertRegex(s["spanId"], HEX16)
                    if s.get("parentSpanId"):
                        self.assertRegex(s["parentSpanId"], HEX16)
                    self.assertIsInstance(s["kind"], int)
                    self.assertIsInstance(s["startTimeUnixNano"], str)
                    self.assertTrue(s["startTimeUnixNano"].isdigit())

    def test_some_children_are_exported_before_their_parent(self):
        for name in ("flask-old.jsonl", "flask-new.jsonl", "express4.jsonl", "express5.jsonl"):
            with self.subTest(fixture=name):
                spans = load_spans(name)
                line_of = {s["spanId"]: n for n, _, s, _ in spans}
                early = [s["name"] for n, _, s, _ in spans
                         if s.get("parentSpanId") in line_of and line_of[s["parentSpanId"]] > n]
                self.assertTrue(early, "no trace split across export requests")

    def test_protobuf_fixture_holds_the_same_spans_as_one_request(self):
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        req = ExportTraceServiceRequest()
        with open(os.path.join(FIXTURES, "flask-old.pb"), "rb") as f:
            req.ParseFromString(f.read())
        spans = [s for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
        self.assertEqual(len(spans), len(load_spans("flask-old.jsonl")))
        self.assertEqual(sum(1 for s in spans if s.kind == 2), len(server_spans("flask-old.jsonl")))


class FlaskFixtures(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(FIXTURES, "flask-expected.json")) as f:
            self.expected = json.load(f)

    def check(self, name):
        by_route = defaultdict(Counter)
        unmatched = []
        for _, s, a in server_spans(name):
            if "http.route" in a:
                by_route[(method_of(a), a["http.route"])][str(status_of(a))] += 1
            else:
                unmatched.append((method_of(a), path_of(a), status_of(a)))
        want = {(e["method"], e["route"]): Counter(e["status"]) for e in self.expected["endpoints"]}
        self.assertEqual(dict(by_route), want)
        self.assertEqual(len(unmatched), len(self.expected["unmatched_requests"]))
        self.assertTrue(all(st in (404, 405, 308) for _, _, st in unmatched))

    def test_old_semconv_routes_and_counts_match_the_apps_own_truth(self):
        self.check("flask-old.jsonl")
        attrs = {k for _, _, a in server_spans("flask-old.jsonl") for k in a}
        self.assertIn("http.target", attrs)
        self.assertNotIn("url.path", attrs)

    def test_new_semconv_routes_and_counts_match_the_apps_own_truth(self):
        self.check("flask-new.jsonl")
        attrs = {k for _, _, a in server_spans("flask-new.jsonl") for k in a}
        self.assertIn("url.path", attrs)
        self.assertNotIn("http.target", attrs)

    def test_credential_headers_are_redacted_and_auth_children_present(self):
        for name in ("flask-old.jsonl", "flask-new.jsonl"):
            spans = load_spans(name)
            headers = [a[k] for *_, a in spans for k in a if k.startswith("http.request.header.")]
            self.assertTrue(headers)
            self.assertTrue(all(h == ["[REDACTED]"] for h in headers), headers)
            self.assertTrue(any(s["name"] == "auth.verify_token" for _, _, s, _ in spans))


class ExpressFixtures(unittest.TestCase):
    def expected(self, version):
        with open(os.path.join(FIXTURES, f"express{version}-expected.json")) as f:
            return json.load(f)

    def test_successful_requests_carry_the_declared_route(self):
        for version in (4, 5):
            with self.subTest(express=version):
                exp = self.expected(version)
                declared = {(e["method"], e["route"]) for e in exp["endpoints"]
                            if any(int(k) < 400 for k in e["status"])}
                seen = {(method_of(a), a["http.route"]) for _, _, a in server_spans(f"express{version}.jsonl")
                        if status_of(a) < 400}
                self.assertEqual(seen, declared)
                total = sum(e["requests"] for e in exp["endpoints"]) + len(exp["unmatched_requests"])
                self.assertEqual(len(server_spans(f"express{version}.jsonl")), total)

    def test_express4_old_conventions_fixture_has_the_same_requests(self):
        old = server_spans("express4-oldsemconv.jsonl")
        new = server_spans("express4.jsonl")
        key = lambda a: (method_of(a), a.get("http.route"), path_of(a), status_of(a))  # noqa: E731
        self.assertEqual(Counter(key(a) for _, _, a in old), Counter(key(a) for _, _, a in new))
        attrs = {k for _, _, a in old for k in a}
        self.assertTrue({"http.method", "http.target", "http.url", "http.status_code", "net.peer.ip"} <= attrs)
        self.assertNotIn("url.path", attrs)

    def test_express4_quirks(self):
        spans = server_spans("express4.jsonl")
        # Router-level middleware rejecting: http.route is the router's mount path.
        self.assertIn(("/admin", "/admin/stats", 403),
                      {(a.get("http.route"), a["url.path"], status_of(a)) for _, _, a in spans})
        # App-level middleware rejecting: no route at all, span named just the method.
        no_route_401 = [(s["name"], a["url.path"]) for _, s, a in spans
                        if "http.route" not in a and status_of(a) == 401]
        self.assertIn(("GET", "/api/v1/users/42"), no_route_401)
        self.assertIn(("GET", "/.env"), no_route_401)
        names = {s["name"] for _, _, s, _ in load_spans("express4.jsonl")}
        self.assertIn("middleware - requireAuth", names)

    def test_express5_quirks(self):
        spans = server_spans("express5.jsonl")
        self.assertIn(("/reports", "/reports/2024", 401),
                      {(a.get("http.route"), a["url.path"], status_of(a)) for _, _, a in spans})
        # Route-level middleware rejecting keeps the full route.
        self.assertIn(("/admin/stats", 401),
                      {(a.get("http.route"), status_of(a)) for _, _, a in spans})
        all_spans = load_spans("express5.jsonl")
        self.assertIn("request handler", {s["name"] for _, _, s, _ in all_spans})
        headers = [a["http.request.header.authorization"] for *_, a in all_spans
                   if "http.request.header.authorization" in a]
        self.assertTrue(any(h[0].startswith("Bearer tok-") for h in headers),
                        "Node captures header values verbatim; the fixture relies on that")


class HttpbinFixtures(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(FIXTURES, "httpbin-routes.json")) as f:
            self.routes = json.load(f)

    def test_undocumented_routes_come_from_the_url_map_minus_the_spec(self):
        with open(os.path.join(FIXTURES, "httpbin-spec.json")) as f:
            spec = json.load(f)
        shape = lambda p: re.sub(r"\{[^}]+\}", "{}", p)  # noqa: E731
        documented = {shape(p) for p in spec["paths"]}
        undocumented = [r["template"] for r in self.routes["url_map"] if shape(r["template"]) not in documented]
        self.assertEqual(undocumented, self.routes["undocumented_routes"])
        for route in ("/", "/legacy", "/forms/post", "/spec.json", "/links/{n}"):
            self.assertIn(route, undocumented)
        self.assertNotIn("/links/{n}/{offset}", undocumented)

    def test_every_rule_and_method_was_served_with_its_route(self):
        served = {(method_of(a), a["http.route"]) for _, _, a in server_spans("httpbin.jsonl")
                  if "http.route" in a}
        for r in self.routes["url_map"]:
            for m in r["methods"]:
                self.assertIn((m, r["rule"]), served)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SinkMixin:
    def start_sink(self, *extra):
        tmp = tempfile.mkdtemp(prefix="sink-")
        ready = os.path.join(tmp, "ready.json")
        out = os.path.join(tmp, "received.jsonl")
        proc = subprocess.Popen([sys.executable, os.path.join(HERE, "otlp_sink.py"), "--out", out,
                                 "--ready-file", ready, *extra],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(ready):
            self.assertIsNone(proc.poll(), "sink died")
            self.assertLess(time.monotonic(), deadline, "sink did not start")
            time.sleep(0.05)
        with open(ready) as f:
            return proc, json.load(f), out

    def stop_sink(self, proc):
        proc.terminate()
        stdout, _ = proc.communicate(timeout=20)
        return json.loads(stdout.strip().splitlines()[-1])

    def export(self, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "export_spans.py"), *args],
                              capture_output=True, text=True, timeout=120)


class ExportSpansAgainstSink(SinkMixin, unittest.TestCase):
    def test_both_transports_deliver_exactly_what_the_summary_says(self):
        for transport in ("grpc", "http"):
            with self.subTest(transport=transport):
                proc, addrs, out = self.start_sink()
                try:
                    run = self.export(f"--{transport}", addrs[transport], "--scale", "2")
                finally:
                    stats = self.stop_sink(proc)
                self.assertEqual(run.returncode, 0, run.stderr)
                summary = json.loads(run.stdout)
                self.assertEqual(summary["spans_failed"], 0)
                self.assertEqual(stats["spans"], summary["spans_exported"])
                if transport == "http":
                    self.assertEqual(set(stats["encodings"]), {"http:gzip"})
                got = Counter()
                with open(out) as f:
                    for line in f:
                        for rs in json.loads(line)["resourceSpans"]:
                            svc = {a["key"]: value(a["value"]) for a in rs["resource"]["attributes"]}["service.name"]
                            for ss in rs["scopeSpans"]:
                                for s in ss["spans"]:
                                    if s["kind"] == 2:
                                        a = {x["key"]: value(x["value"]) for x in s["attributes"]}
                                        got[(svc, method_of(a), status_of(a))] += 1
                want = Counter()
                for e in summary["endpoints"]:
                    for st, n in e["status"].items():
                        want[(e["service"], e["method"], int(st))] += n
                for u in summary["unmatched"]:
                    want[(u["service"], u["method"], u["status"])] += u["count"]
                self.assertEqual(got, want)
                self.assertEqual(sum(want.values()), summary["server_spans"])

    def test_rejected_exports_make_it_exit_non_zero(self):
        proc, addrs, _ = self.start_sink("--fail")
        try:
            run = self.export("--http", addrs["http"], "--timeout", "1")
        finally:
            self.stop_sink(proc)
        self.assertEqual(run.returncode, 1)
        self.assertGreater(json.loads(run.stdout)["spans_failed"], 0)

    def test_nothing_listening_makes_it_exit_non_zero(self):
        run = self.export("--grpc", f"127.0.0.1:{free_port()}", "--timeout", "1")
        self.assertEqual(run.returncode, 1)


class HttpbinLiveFlow(SinkMixin, unittest.TestCase):
    """The acceptance flow of issue 4 with otlp_sink standing in for `shadowscan serve`."""

    def test_httpbin_exports_every_exercised_route_over_otlp(self):
        for transport in ("grpc", "http"):
            with self.subTest(transport=transport):
                sink, addrs, received = self.start_sink()
                tmp = tempfile.mkdtemp(prefix="httpbin-")
                ready = os.path.join(tmp, "ready.json")
                app = subprocess.Popen([sys.executable, os.path.join(HERE, "httpbin_app.py"),
                                        f"--otlp-{transport}", addrs[transport], "--ready-file", ready],
                                       stderr=subprocess.DEVNULL)
                try:
                    deadline = time.monotonic() + 30
                    while not os.path.exists(ready):
                        self.assertIsNone(app.poll(), "httpbin_app died")
                        self.assertLess(time.monotonic(), deadline)
                        time.sleep(0.05)
                    with open(ready) as f:
                        url = json.load(f)["url"]
                    routes_out = os.path.join(tmp, "routes.json")
                    run = subprocess.run([sys.executable, os.path.join(HERE, "exercise_httpbin.py"),
                                          "--url", url, "--routes-out", routes_out],
                                         capture_output=True, text=True, timeout=120)
                    self.assertEqual(run.returncode, 0, run.stderr)
                finally:
                    app.terminate()
                    app_rc = app.wait(timeout=30)
                    self.stop_sink(sink)
                self.assertEqual(app_rc, 0, "httpbin_app reports a failed export")
                with open(routes_out) as f:
                    routes = json.load(f)
                served = set()
                with open(received) as f:
                    for line in f:
                        for rs in json.loads(line)["resourceSpans"]:
                            for ss in rs["scopeSpans"]:
                                for sp in ss["spans"]:
                                    a = {x["key"]: value(x["value"]) for x in sp["attributes"]}
                                    if "http.route" in a:
                                        served.add(a["http.route"])
                self.assertEqual(served, {r["rule"] for r in routes["url_map"]})


if __name__ == "__main__":
    unittest.main()
