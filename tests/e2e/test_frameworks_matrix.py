"""Checks of the framework matrix's driver and scorer (tests/e2e/frameworks/), standard library only.

The matrix itself needs the framework venv and a shadowscan binary; these tests pin what its
scores mean, so a wrong score cannot pass for a right one: a refused 405 reported as a shadow is
counted as refused-only, a literal username row fails the templates check, a secured route
reported high is a vanilla-rule violation, and every committed manifest yields the traffic the
contract promises.
"""

from __future__ import annotations

import glob
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
FW = os.path.join(HERE, "frameworks")
sys.path.insert(0, FW)

import drive  # noqa: E402
import run_matrix  # noqa: E402

MANIFEST = {
    "name": "toy",
    "service": "matrix/toy",
    "runtime": "python",
    "start": ["app.py"],
    "spec": ["app.py", "--write-spec", "{out}"],
    "protocol": "grpc",
    "routes": [
        {"method": "GET", "route": "/health", "documented": True, "auth": "none", "params": {}},
        {"method": "GET", "route": "/api/users/{username}/orders", "documented": True,
         "auth": "required", "params": {"username": "username"}},
        {"method": "GET", "route": "/api/files/{path}", "documented": True, "auth": "required",
         "params": {"path": "filepath"}},
        {"method": "GET", "route": "/api/recommendations", "documented": True, "auth": "none", "params": {}},
        {"method": "GET", "route": "/admin/export", "documented": False, "auth": "none", "params": {}},
        {"method": "GET", "route": "/admin/users", "documented": False, "auth": "required", "params": {}},
    ],
    "disallowed": [{"method": "DELETE", "path": "/health"}],
}

SPEC = {
    "openapi": "3.0.3",
    "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/health": {"get": {"responses": {}}},
        "/api/users/{name}/orders": {"get": {"security": [{"bearerAuth": []}], "responses": {}}},
        "/api/files/{p}": {"get": {"security": [{"bearerAuth": []}], "responses": {}}},
        "/api/recommendations": {"get": {"security": [{"bearerAuth": []}], "responses": {}}},
    },
}


def finding(kind, method, path, severity, documented, auth="missing"):
    return {"kind": kind, "method": method, "path": path, "severity": severity,
            "documented": documented, "auth": auth, "base_path": None}


def row(method, template, requests=1):
    return {"method": method, "template": template, "requests": requests, "source": "route"}


def traffic_for(manifest):
    reqs = drive.plan(manifest, seed=3)
    for r in reqs:  # what an app that honours its manifest answers
        r["status"] = {"2xx": 200, "401": 401, "404": 404, "405": 405}[r["expect"]]
    return {"requests": reqs, "disagreements": []}


GOOD_ROWS = [row("GET", "/health"), row("GET", "/api/users/{username}/orders"),
             row("GET", "/api/files/{path}"), row("GET", "/api/recommendations"),
             row("GET", "/admin/export"), row("GET", "/admin/users")]


class TemplateMatching(unittest.TestCase):
    def test_norm_ignores_parameter_names_and_trailing_slash(self):
        self.assertEqual(run_matrix.norm("/api/products/{pk}/"), run_matrix.norm("/api/products/{id}"))
        self.assertEqual(run_matrix.norm("/"), "/")

    def test_route_regex_filepath_spans_segments_others_do_not(self):
        kinds = {"path": "filepath", "u": "username"}
        self.assertTrue(run_matrix.route_regex("/api/files/{path}", kinds).match("/api/files/fonts/inter/a.woff2"))
        self.assertFalse(run_matrix.route_regex("/api/users/{u}", kinds).match("/api/users/a/b"))
        self.assertTrue(run_matrix.route_regex("/api/users/{u}/", kinds).match("/api/users/carol.w"))

    def test_spec_security_kinds_and_base_path(self):
        ops, base = run_matrix.spec_operations({
            "swagger": "2.0", "basePath": "/v2/", "security": [{"k": []}],
            "paths": {"/a": {"get": {}}, "/b": {"get": {"security": []}},
                      "/c": {"get": {"security": [{"k": []}, {}]}}, "/d": {"parameters": [], "post": {}}}})
        self.assertEqual(base, "/v2")
        self.assertEqual(ops, {("GET", "/v2/a"): "required", ("GET", "/v2/b"): "public",
                               ("GET", "/v2/c"): "optional", ("POST", "/v2/d"): "required"})
        ops, _ = run_matrix.spec_operations(SPEC)
        self.assertEqual(ops[("GET", "/health")], "unspecified")


class Scoring(unittest.TestCase):
    def score(self, findings, rows=GOOD_ROWS, mode="headers"):
        diff = {"findings": findings, "summary": {}}
        inv = {"endpoints": rows}
        return run_matrix.score(MANIFEST, mode, SPEC, traffic_for(MANIFEST), diff, inv, inv)

    PERFECT = [finding("shadow", "GET", "/admin/export", "critical", False),
               finding("shadow", "GET", "/admin/users", "high", False, auth="present"),
               finding("unauthenticated", "GET", "/admin/export", "critical", False),
               finding("unauthenticated", "GET", "/api/recommendations", "high", True)]

    def test_perfect_findings_pass_every_check(self):
        r = self.score(self.PERFECT)
        self.assertTrue(r["passed"], r["failed_checks"])
        self.assertEqual((r["shadow"]["precision"], r["shadow"]["recall"]), (1.0, 1.0))
        self.assertEqual(r["shadow"]["truth"], 2)
        self.assertEqual(r["unauthenticated"]["truth"], 2)

    def test_a_refused_405_reported_as_shadow_is_refused_only(self):
        r = self.score(self.PERFECT + [finding("shadow", "DELETE", "/health", "high", False, auth="none")])
        self.assertEqual(len(r["refused_reported"]), 1)
        self.assertIn("refused_only", r["failed_checks"])
        self.assertIn("shadow_precision", r["failed_checks"])

    def test_scanner_path_reported_is_counted(self):
        r = self.score(self.PERFECT + [finding("shadow", "GET", "/.git/config", "medium", False)])
        self.assertEqual(len(r["scanner_reported"]), 1)
        self.assertIn("scanner", r["failed_checks"])

    def test_secured_documented_route_reported_high_breaks_the_vanilla_rule(self):
        r = self.score(self.PERFECT + [finding("unauthenticated", "GET", "/api/users/{name}/orders", "high", True)],
                       mode="vanilla")
        self.assertEqual(len(r["vanilla_violations"]), 1)
        self.assertNotIn("unauth_precision", r["checks"])  # not a target in vanilla mode
        self.assertIn("vanilla_rule", r["failed_checks"])

    def test_hidden_anonymous_route_only_medium_breaks_the_vanilla_rule(self):
        findings = [f for f in self.PERFECT if f["path"] != "/admin/export"]
        findings.append(finding("shadow", "GET", "/admin/export", "high", False))
        r = self.score(findings)
        self.assertTrue(any("/admin/export" in v for v in r["vanilla_violations"]))
        self.assertEqual(r["unauthenticated"]["recall"], 0.5)

    def test_literal_username_rows_fail_the_templates_check(self):
        rows = [x for x in GOOD_ROWS if x["template"] != "/api/users/{username}/orders"]
        rows += [row("GET", "/api/users/carol.w/orders"), row("GET", "/api/users/dave.k/orders")]
        r = self.score(self.PERFECT, rows=rows)
        self.assertIn("templates", r["failed_checks"])
        self.assertEqual(sum("literal value" in m for m in r["template_mismatches"]), 2)
        self.assertTrue(any("no inventory row" in m for m in r["template_mismatches"]))

    def test_django_regex_route_row_is_a_mismatch_refused_rows_are_not(self):
        rows = GOOD_ROWS + [row("GET", "/api/users/(?P<username>[^/]+)/orders/$"), row("DELETE", "/health")]
        r = self.score(self.PERFECT, rows=rows)
        self.assertEqual(len(r["template_mismatches"]), 1, r["template_mismatches"])

    def test_manifest_contradicting_the_spec_is_reported(self):
        spec = json.loads(json.dumps(SPEC))
        spec["paths"]["/admin/export"] = {"get": {}}
        diff = {"findings": self.PERFECT, "summary": {}}
        r = run_matrix.score(MANIFEST, "headers", spec, traffic_for(MANIFEST), diff,
                             {"endpoints": GOOD_ROWS}, {"endpoints": GOOD_ROWS})
        self.assertIn("manifest_vs_spec", r["failed_checks"])


class Driver(unittest.TestCase):
    def test_every_committed_manifest_plans_the_contracts_traffic(self):
        paths = sorted(glob.glob(os.path.join(FW, "*", "*", "manifest.json")))
        self.assertTrue(paths)
        for path in paths:
            with open(path) as f:
                m = json.load(f)
            with self.subTest(app=m["name"]):
                reqs = drive.plan(m)
                self.assertTrue(300 <= len(reqs) <= 430, len(reqs))
                self.assertTrue(20 <= len(m["routes"]) <= 26, len(m["routes"]))
                self.assertIn(("GET", "/admin/export", False, "none"),
                              {(r["method"], r["route"].rstrip("/"), r["documented"], r["auth"]) for r in m["routes"]})
                for r in m["routes"]:
                    if r["params"]:
                        paths_sent = {q["path"] for q in reqs if q["route"] == r["route"] and q["method"] == r["method"]}
                        self.assertGreaterEqual(len(paths_sent), 8, r["route"])
                self.assertTrue(all(q["token"] == drive.VALID_TOKEN for q in reqs if q["category"] == "disallowed"))
                self.assertTrue(any(q["expect"] == "401" for q in reqs))

    def test_usernames_have_dots_and_slugs_dashes(self):
        values = drive.Values(__import__("random").Random(1))
        self.assertIn("carol.w", values.pools["username"])
        self.assertIn("spring-sale-2026", values.pools["slug"])

    def test_not_found_routes_get_routed_404s_with_missing_ids(self):
        m = json.loads(json.dumps(MANIFEST))
        m["routes"].append({"method": "GET", "route": "/api/products/{id}", "documented": True,
                            "auth": "none", "params": {"id": "int"}, "not_found": True})
        reqs = [q for q in drive.plan(m) if q["route"] == "/api/products/{id}"]
        missing = [q for q in reqs if q["expect"] == "404"]
        self.assertEqual(len(missing), drive.NOT_FOUND_N)
        self.assertTrue(all(q["category"] == "route" for q in missing))
        self.assertTrue(all(int(q["path"].rsplit("/", 1)[1]) >= 100000 for q in missing))
        self.assertTrue(all(int(q["path"].rsplit("/", 1)[1]) < 100000 for q in reqs if q["expect"] == "2xx"))

    def test_params_must_name_the_templates_parameters(self):
        bad = json.loads(json.dumps(MANIFEST))
        bad["routes"][1]["params"] = {"user": "username"}
        with self.assertRaises(drive.ManifestError):
            drive.plan(bad)


if __name__ == "__main__":
    unittest.main()
