#!/usr/bin/env python3
"""Traffic driver of the framework matrix: builds every request from an app's manifest.json.

For each manifest route it sends several requests with DISTINCT parameter values (ids, uuids,
usernames with dots, slugs, file paths); secured routes get a valid token (2xx), no token (401)
and a wrong token (401); every `disallowed` pair is sent (405); scanner probes and unknown
sub-paths are sent (404). Every answer is checked against the manifest: the manifest is the
truth the scorer uses, so a disagreement is an error, reported loudly, never scored.

Standard library only (http.client, one keep-alive connection), so raw paths reach the server
exactly as written.

  drive.py MANIFEST --base http://127.0.0.1:PORT [--seed N] [--log OUT.json]

As a module: `plan(manifest, seed)` → requests, `drive(manifest, base, seed)` → log dict.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import uuid
from http.client import HTTPConnection, HTTPException
from urllib.parse import urlsplit

VALID_TOKEN = "Bearer valid-matrix-user"
WRONG_TOKEN = "Bearer expired-0d2c"

SCANNER_PROBES = [
    ("GET", "/.env"),
    ("GET", "/wp-login.php"),
    ("GET", "/.git/config"),
    ("GET", "/phpmyadmin/index.php"),
    ("GET", "/actuator/env"),
    ("POST", "/wp-login.php"),
]

# Sub-paths no matrix app serves; a manifest can replace them with "unknown": [[METHOD, PATH], ...].
UNKNOWN_PATHS = [
    ("GET", "/api/nope"),
    ("GET", "/api/v9/products"),
    ("GET", "/api/products/7/specs"),
    ("GET", "/api/users/carol.w/wishlist"),
    ("DELETE", "/api/unknown/42"),
    ("GET", "/static-missing/app.js"),
]

USERNAMES = ["carol.w", "dave.k", "erin.m", "li.wei", "m.garcia", "noah.b", "olga.p", "pat.q",
             "ravi.s", "sam.t", "tess.u", "uma.v", "victor.h", "wen.z", "alice", "bob99"]
SLUGS = ["spring-sale-2026", "black-friday-2025", "summer-clearance", "back-to-school-2026",
         "garden-week", "winter-deals-2025", "cyber-monday", "easter-2026", "flash-sale-42",
         "new-arrivals", "home-office", "kids-corner", "outdoor-living", "last-chance"]
WORDS = ["books", "garden", "toys", "kitchen", "music", "sports", "tools", "games", "office",
         "travel", "beauty", "pets", "shoes", "lighting"]
FILEPATHS = ["docs/manual.pdf", "img/2026/logo.png", "fonts/inter/inter-var.woff2",
             "reports/q1/summary.csv", "exports/2026-03/orders.json", "avatars/carol.w.png",
             "a/b/c/d.txt", "invoices/INV-2041.pdf", "readme.txt", "css/site.min.css",
             "data/catalog.xml", "tmp/upload-77.bin", "media/video/intro.mp4", "notes.md"]
KINDS = ("int", "uuid", "username", "slug", "word", "filepath", "year", "month")

PARAM_RE = re.compile(r"\{([^}/]+)\}")

# Requests per route (distinct values where the route has parameters).
PUBLIC_N = 12
PUBLIC_N_NOPARAM = 6
SECURED_OK_N = 9
SECURED_NOTOKEN_N = 3
HIDDEN_N = 8
DISALLOWED_N = 4
NOT_FOUND_N = 3


class ManifestError(Exception):
    pass


class Values:
    """Distinct values per kind, reproducible from a seed."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.pools = {
            "int": [str(n) for n in rng.sample(range(1, 99999), 64)],
            # Ids no object has: routes with "not_found": true answer 404 for them.
            "missing_int": [str(n) for n in rng.sample(range(100000, 999999), 16)],
            "uuid": [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(64)],
            "username": list(USERNAMES),
            "slug": list(SLUGS),
            "word": list(WORDS),
            "filepath": list(FILEPATHS),
            "year": [str(y) for y in range(2015, 2027)],
            "month": ["%02d" % m for m in range(1, 13)],
        }
        for pool in self.pools.values():
            rng.shuffle(pool)

    def get(self, kind: str, i: int) -> str:
        if kind not in self.pools:
            raise ManifestError(f"unknown parameter kind {kind!r} (known: {', '.join(KINDS)})")
        pool = self.pools[kind]
        return pool[i % len(pool)]


def param_kinds(manifest: dict) -> dict[str, str]:
    """name → kind over every route, to fill `disallowed` paths (which name no kinds)."""
    kinds: dict[str, str] = {}
    for r in manifest["routes"]:
        kinds.update(r.get("params", {}))
    return kinds


def fill(template: str, kinds: dict[str, str], values: Values, i: int) -> str:
    def repl(m: re.Match) -> str:
        name = m.group(1)
        if name not in kinds:
            raise ManifestError(f"{template}: parameter {{{name}}} has no kind in 'params'")
        return values.get(kinds[name], i)

    return PARAM_RE.sub(repl, template)


def plan(manifest: dict, seed: int = 1) -> list[dict]:
    """Every request to send, each with what the manifest says the answer must be."""
    rng = random.Random(seed)
    values = Values(rng)
    all_kinds = param_kinds(manifest)
    reqs: list[dict] = []

    def add(method, path, *, category, expect, route=None, token=None, body=None):
        reqs.append({"method": method, "path": path, "category": category, "expect": expect,
                     "route": route, "token": token, "body": body})

    for r in manifest["routes"]:
        method, route = r["method"].upper(), r["route"]
        kinds = r.get("params", {})
        names = PARAM_RE.findall(route)
        if r.get("not_found") and "int" not in kinds.values():
            raise ManifestError(f"{method} {route}: not_found needs an int parameter (ids >= 100000 are missing)")
        if sorted(names) != sorted(kinds):
            raise ManifestError(f"{method} {route}: params {sorted(kinds)} do not name the "
                                f"template's parameters {sorted(names)}")
        body = r.get("body", {} if method in ("POST", "PUT", "PATCH") else None)
        n_distinct = 0

        def path_for():
            nonlocal n_distinct
            n_distinct += 1
            return fill(route, kinds, values, n_distinct)

        if r["auth"] == "required":
            for _ in range(SECURED_OK_N):
                add(method, path_for(), category="route", expect="2xx", route=route,
                    token=VALID_TOKEN, body=body)
            for _ in range(SECURED_NOTOKEN_N):
                add(method, path_for(), category="route", expect="401", route=route, body=body)
            add(method, path_for(), category="route", expect="401", route=route,
                token=WRONG_TOKEN, body=body)
        elif r["auth"] == "none":
            n = HIDDEN_N if not r["documented"] else (PUBLIC_N if names else PUBLIC_N_NOPARAM)
            for _ in range(n):
                add(method, path_for(), category="route", expect="2xx", route=route, body=body)
        else:
            raise ManifestError(f"{method} {route}: auth must be 'required' or 'none'")
        if r.get("not_found"):
            # The view's own 404 for an object that does not exist: a routed answer, not a probe.
            missing = {k: ("missing_int" if v == "int" else v) for k, v in kinds.items()}
            for k in range(NOT_FOUND_N):
                add(method, fill(route, missing, values, k), category="route", expect="404",
                    route=route, token=VALID_TOKEN if r["auth"] == "required" else None, body=body)

    for i, d in enumerate(manifest.get("disallowed", [])):
        method = d["method"].upper()
        for k in range(DISALLOWED_N):
            # Always with a valid token: DRF authenticates and checks permissions before it looks
            # the method up, so an anonymous PATCH on a secured view is a 401 there, not a 405.
            add(method, fill(d["path"], all_kinds, values, 100 + 7 * i + k), category="disallowed",
                expect="405", route=d["path"], token=VALID_TOKEN,
                body={} if method in ("POST", "PUT", "PATCH") else None)

    for method, path in SCANNER_PROBES:
        for _ in range(2):
            add(method, path, category="scanner", expect="404")
    unknown = [tuple(u) for u in manifest.get("unknown", UNKNOWN_PATHS)]
    for method, path in unknown:
        add(method, path, category="unknown", expect="404")

    rng.shuffle(reqs)
    return reqs


def status_ok(expect: str, status: int) -> bool:
    if expect == "2xx":
        return 200 <= status < 300
    return status == int(expect)


def send_all(reqs: list[dict], base: str, timeout: float = 10.0, deadline: float = 120.0) -> None:
    """Sends the planned requests in order, recording `status` (or `error`) on each. Each request
    waits at most `timeout` seconds, the whole run at most `deadline`: what is left is an error."""
    u = urlsplit(base)
    conn = None
    give_up = time.monotonic() + deadline
    for req in reqs:
        if time.monotonic() > give_up:
            req["status"] = None
            req["error"] = f"not sent: the run took over {deadline:.0f} s"
            continue
        headers = {"User-Agent": "shadowscan-matrix-driver/1", "Accept": "application/json"}
        if req["token"]:
            headers["Authorization"] = req["token"]
        data = None
        if req["body"] is not None:
            data = json.dumps(req["body"]).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if conn is None:
                conn = HTTPConnection(u.hostname, u.port, timeout=timeout)
            try:
                conn.request(req["method"], req["path"], body=data, headers=headers)
                resp = conn.getresponse()
                resp.read()
                req["status"] = resp.status
                if resp.getheader("Connection", "").lower() == "close" or resp.will_close:
                    conn.close()
                    conn = None
                break
            except (OSError, HTTPException) as e:
                conn.close()
                conn = None
                if attempt == 2:
                    req["status"] = None
                    req["error"] = f"{type(e).__name__}: {e}"
    if conn is not None:
        conn.close()


def drive(manifest: dict, base: str, seed: int = 1) -> dict:
    reqs = plan(manifest, seed)
    started = time.monotonic()
    send_all(reqs, base)
    elapsed = time.monotonic() - started
    disagreements = [
        f"{r['method']} {r['path']} (token: {'valid' if r['token'] == VALID_TOKEN else 'wrong' if r['token'] else 'none'}): "
        f"manifest says {r['expect']}, app answered {r.get('status') or r.get('error')}"
        for r in reqs if r.get("status") is None or not status_ok(r["expect"], r["status"])
    ]
    return {"app": manifest["name"], "requests": reqs, "seconds": round(elapsed, 2),
            "disagreements": disagreements}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("manifest")
    p.add_argument("--base", required=True, help="the app's base URL, http://127.0.0.1:PORT")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log", help="write every request and its answer as JSON here")
    a = p.parse_args(argv)
    with open(a.manifest) as f:
        manifest = json.load(f)
    result = drive(manifest, a.base, a.seed)
    if a.log:
        with open(a.log, "w") as f:
            json.dump(result, f, indent=1)
    print(f"{manifest['name']}: {len(result['requests'])} requests in {result['seconds']} s, "
          f"{len(result['disagreements'])} disagreements with the manifest")
    for d in result["disagreements"]:
        print("  " + d, file=sys.stderr)
    return 1 if result["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main())
