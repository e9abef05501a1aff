#!/usr/bin/env python3
"""The framework matrix (issue 11): real apps under their official OpenTelemetry instrumentation,
exporting over OTLP to a real `shadowscan serve`, scored against each app's manifest.

For every app (tests/e2e/frameworks/{python,node}/*/manifest.json, or `--only NAME`) and mode
(vanilla, headers):
  1. the spec from the framework's own generator (the manifest's `spec` command);
  2. `shadowscan serve` on a fresh temporary database, loopback, ephemeral ports (--ready-file);
  3. the app with the standard OTEL_* env pointing at serve (gRPC or HTTP per the manifest);
  4. drive.py's traffic, every answer checked against the manifest;
  5. SIGTERM to the app (it flushes), then SIGTERM to serve;
  6. `shadowscan diff SPEC --service S --format json --fail-on none` and
     `shadowscan inventory --format json`, scored.

Targets (asserted unless --report-only): shadow precision and recall >= 0.98; unauthenticated
precision and recall >= 0.95 in headers mode; the vanilla rule in both modes (no documented route
whose auth is required reported as a high/critical unauthenticated finding; every hidden
anonymous route reported as a high/critical unauthenticated finding or a critical shadow);
0 refused-only pairs and 0 scanner paths reported; inventory templates equal to the manifest's
routes (parameter names and trailing slashes ignored).

  run_matrix.py [--only NAME]... [--mode vanilla|headers]... [--shadowscan PATH] [--json OUT]
                [--report-only] [--keep] [-v]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import drive  # noqa: E402

MODES = ("vanilla", "headers")
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TARGETS = {"shadow": 0.98, "unauth_headers": 0.95}
SEVERE = ("high", "critical")

SPEC_TIMEOUT = 90
READY_TIMEOUT = 30
APP_START_TIMEOUT = 60
APP_STOP_TIMEOUT = 15
SERVE_STOP_TIMEOUT = 15
CLI_TIMEOUT = 60
FLUSH_GRACE = 0.7


class RunError(Exception):
    """The run could not be scored (an app that does not start, a manifest the app disagrees with)."""


# --- templates --------------------------------------------------------------------------------
PARAM = re.compile(r"\{[^}/]*\}")


def norm(template: str) -> str:
    """`{any name}` → `{}`, no trailing slash: parameter names and trailing slashes are ignored."""
    t = PARAM.sub("{}", template)
    if len(t) > 1 and t.endswith("/"):
        t = t[:-1]
    return t


def route_regex(template: str, kinds: dict[str, str]) -> re.Pattern:
    """Matches concrete paths (and templates written with `{x}`) a route serves."""
    out, pos = [], 0
    for m in re.finditer(r"\{([^}/]+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(".+" if kinds.get(m.group(1)) == "filepath" else "[^/]+")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    body = "".join(out)
    if len(template) > 1 and template.endswith("/"):
        body = body[:-2] if body.endswith("\\/") else body[:-1]
    return re.compile("^" + body + "/?$")


def template_regex(template: str) -> re.Pattern:
    """Matches concrete paths a reported template covers (`{x}` = one segment)."""
    parts = re.split(r"\{[^}/]*\}", template)
    body = "[^/]+".join(re.escape(p) for p in parts)
    if body.endswith("\\/") and len(template) > 1:
        body = body[:-2]
    return re.compile("^" + body + "/?$")


# --- spec ---------------------------------------------------------------------------------
def spec_operations(spec: dict) -> tuple[dict[tuple[str, str], str], str]:
    """(METHOD, normalised full path) → required | optional | public | unspecified, and the base
    path (Swagger `basePath`, or the path of the first OpenAPI server URL)."""
    base = ""
    if "swagger" in spec:
        base = spec.get("basePath", "") or ""
    elif spec.get("servers"):
        url = spec["servers"][0].get("url", "")
        base = re.sub(r"^[a-z]+://[^/]+", "", url)
    base = base.rstrip("/")
    global_sec = spec.get("security")
    ops = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, op in item.items():
            if method not in HTTP_METHODS or not isinstance(op, dict):
                continue
            sec = op.get("security", global_sec)
            if sec is None:
                kind = "unspecified"
            elif len(sec) == 0:
                kind = "public"
            elif any(len(req) == 0 for req in sec):
                kind = "optional"
            else:
                kind = "required"
            ops[(method.upper(), norm(base + path))] = kind
    return ops, base


# --- processes ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunError(f"the app exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RunError(f"the app did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen | None, timeout: float) -> str | None:
    """SIGTERM, wait, SIGKILL if needed. Only the process this runner started, by its pid."""
    if proc is None or proc.poll() is not None:
        return None
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
        return None if proc.returncode == 0 else f"exited with status {proc.returncode} on SIGTERM"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return f"did not exit within {timeout:.0f} s of SIGTERM (killed)"


def tail(path: str, n: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()[-n:]
    except OSError:
        return ""
    return "\n".join("      | " + line for line in lines)


def clean_env() -> dict[str, str]:
    """The caller's env without OTEL_* and SHADOWSCAN_* settings that would change the run."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "SHADOWSCAN_")) and k != "PORT"}


def interpreter(runtime: str, python: str) -> list[str]:
    if runtime == "python":
        return [python]
    if runtime == "node":
        return ["node"]
    raise RunError(f"unknown runtime {runtime!r}")


def cli(binary: str, args: list[str], cwd: str) -> dict:
    r = subprocess.run([binary, *args], cwd=cwd, env=clean_env(), capture_output=True,
                       text=True, timeout=CLI_TIMEOUT)
    if r.returncode != 0:
        raise RunError(f"shadowscan {' '.join(args)} exited {r.returncode}: {r.stderr.strip()[-800:]}")
    return json.loads(r.stdout)


# --- one app × mode -------------------------------------------------------------------------
def run_one(app_dir: str, manifest: dict, mode: str, binary: str, python: str, keep: bool) -> dict:
    name = manifest["name"]
    tmp = tempfile.mkdtemp(prefix=f"shadowscan-matrix-{name}-{mode}-")
    serve = app = None
    logs = {"serve": os.path.join(tmp, "serve.log"), "app": os.path.join(tmp, "app.log")}
    t0 = time.monotonic()
    try:
        interp = interpreter(manifest["runtime"], python)
        if manifest["runtime"] == "node" and not os.path.isdir(os.path.join(HERE, "node", "node_modules")):
            raise RunError("tests/e2e/frameworks/node/node_modules is missing: run scripts/setup-frameworks.sh")

        spec_path = os.path.join(tmp, "spec.json")
        argv = [a.replace("{out}", spec_path) for a in manifest["spec"]]
        env = clean_env()
        env.update(manifest.get("env", {}))
        r = subprocess.run(interp + argv, cwd=app_dir, env=env, capture_output=True, text=True,
                           timeout=SPEC_TIMEOUT)
        if r.returncode != 0 or not os.path.exists(spec_path):
            raise RunError(f"spec command {argv} exited {r.returncode}: {r.stderr.strip()[-800:]}")
        with open(spec_path) as f:
            spec = json.load(f)

        db = os.path.join(tmp, "inventory.db")
        ready = os.path.join(tmp, "ready.json")
        with open(logs["serve"], "w") as log:
            serve = subprocess.Popen(
                [binary, "serve", "--db", db, "--grpc-addr", "127.0.0.1:0", "--http-addr",
                 "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--ready-file", ready, "--log", "warn"],
                cwd=tmp, env=clean_env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        addrs = None
        while time.monotonic() < deadline:
            if serve.poll() is not None:
                raise RunError(f"shadowscan serve exited {serve.returncode}:\n{tail(logs['serve'])}")
            try:
                with open(ready) as f:
                    addrs = json.load(f)
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        if addrs is None:
            raise RunError(f"shadowscan serve wrote no ready file within {READY_TIMEOUT} s")

        namespace, _, svc_name = manifest["service"].rpartition("/")
        port = free_port()
        env = clean_env()
        env.update(manifest.get("env", {}))
        protocol = manifest["protocol"]
        endpoint = (f"http://{addrs['grpc']}" if protocol == "grpc"
                    else f"http://{addrs['http']}/v1/traces")
        env.update({
            "PORT": str(port),
            "SHADOWSCAN_MATRIX_MODE": mode,
            "OTEL_SERVICE_NAME": svc_name,
            "OTEL_RESOURCE_ATTRIBUTES": f"service.namespace={namespace}" if namespace else "",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        })
        if mode == "headers":
            env["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST"] = "authorization"
            env["OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS"] = "authorization"
        with open(logs["app"], "w") as log:
            app = subprocess.Popen(interp + manifest["start"], cwd=app_dir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            wait_port(port, app, APP_START_TIMEOUT)
        except RunError as e:
            raise RunError(f"{e}\n{tail(logs['app'])}")

        traffic = drive.drive(manifest, f"http://127.0.0.1:{port}")
        if traffic["disagreements"]:
            raise RunError("the app disagrees with its manifest (fix the app or the manifest):\n"
                           + "\n".join("      " + d for d in traffic["disagreements"][:20]))

        problems = []
        err = stop(app, APP_STOP_TIMEOUT)
        if err:
            problems.append(f"app {err}")
        time.sleep(FLUSH_GRACE)
        err = stop(serve, SERVE_STOP_TIMEOUT)
        if err:
            problems.append(f"shadowscan serve {err}")

        diff = cli(binary, ["diff", spec_path, "--db", db, "--service", manifest["service"],
                            "--format", "json", "--fail-on", "none"], tmp)
        # The inventory as a user with the spec bound sees it (config [[specs]] or --spec):
        # observed paths under their documented templates, undocumented ones grouped as diff
        # groups them. A framework that reports no route at all (NestJS without its
        # instrumentation) leaves usernames literal without a spec, by design: word-like
        # values need many distinct siblings before inference calls them a parameter.
        inv = cli(binary, ["inventory", "--db", db, "--service", manifest["service"],
                           "--spec", spec_path, "--format", "json"], tmp)
        raw = cli(binary, ["inventory", "--db", db, "--service", manifest["service"],
                           "--format", "json", "--raw"], tmp)
        result = score(manifest, mode, spec, traffic, diff, inv, raw)
        result["problems"] += problems
        result["seconds"] = round(time.monotonic() - t0, 1)
        if keep:
            result["tmp"] = tmp
        return result
    except (RunError, subprocess.TimeoutExpired, OSError, ValueError, KeyError, drive.ManifestError) as e:
        return {"app": name, "mode": mode, "error": f"{type(e).__name__}: {e}",
                "app_log": tail(logs["app"], 30), "serve_log": tail(logs["serve"], 10),
                "seconds": round(time.monotonic() - t0, 1), "passed": False,
                **({"tmp": tmp} if keep else {})}
    finally:
        stop(app, 5)
        stop(serve, 5)
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


# --- scoring --------------------------------------------------------------------------------
def pr(reported: set, truth: set) -> tuple[float, float]:
    tp = len(reported & truth)
    precision = tp / len(reported) if reported else 1.0
    recall = tp / len(truth) if truth else 1.0
    return round(precision, 3), round(recall, 3)


def score(manifest: dict, mode: str, spec: dict, traffic: dict, diff: dict, inv: dict,
          raw: dict) -> dict:
    routes = {(r["method"].upper(), norm(r["route"])): r for r in manifest["routes"]}
    regexes = [((r["method"].upper(), norm(r["route"])), r["method"].upper(),
                route_regex(r["route"], r.get("params", {}))) for r in manifest["routes"]]
    ops, base = spec_operations(spec)
    problems: list[str] = []

    # The manifest's `documented` must be what the framework's generator wrote.
    for key, r in routes.items():
        if r["documented"] != (key in ops):
            problems.append(f"manifest says {key[0]} {r['route']} documented={r['documented']}, "
                            f"the generated spec {'has' if key in ops else 'lacks'} it")
    for key in ops:
        if key not in routes:
            problems.append(f"the spec documents {key[0]} {key[1]}, which the manifest does not list")

    served = {(r["method"], norm(r["route"])) for r in traffic["requests"]
              if r["category"] == "route" and 200 <= (r.get("status") or 0) < 300}
    refused = [r for r in traffic["requests"] if r["category"] in ("disallowed", "scanner", "unknown")]

    shadow_truth = {k for k, r in routes.items() if not r["documented"] and k in served}
    unauth_truth = {k for k, r in routes.items() if r["auth"] == "none" and k in served
                    and (not r["documented"] or ops.get(k) == "required")}

    def classify(method: str, template: str) -> str:
        key = (method, norm(template))
        if key in routes:
            return "route"
        rx = template_regex(template)
        for _, m, route_rx in regexes:
            if m == method and route_rx.match(template):
                return "literal"
        for r in refused:
            if r["method"] == method and rx.match(r["path"]):
                return "scanner" if r["category"] == "scanner" else "refused"
        return "other"

    findings = []
    for f in diff["findings"]:
        if f["kind"] not in ("shadow", "unauthenticated"):
            continue
        full = (f.get("base_path") or "") + f["path"] if f["documented"] else f["path"]
        findings.append({"kind": f["kind"], "method": f["method"], "path": full,
                         "key": (f["method"], norm(full)), "severity": f["severity"],
                         "auth": f["auth"], "documented": f["documented"],
                         "class": classify(f["method"], full)})

    def keys(kind):
        return {f["key"] for f in findings if f["kind"] == kind}

    shadow_p, shadow_r = pr(keys("shadow"), shadow_truth)
    unauth_p, unauth_r = pr(keys("unauthenticated"), unauth_truth)

    fmt = lambda f: f"{f['kind']} {f['severity']} {f['method']} {f['path']} (auth {f['auth']}, {f['class']})"  # noqa: E731
    false_findings = [fmt(f) for f in findings
                      if f["key"] not in (shadow_truth if f["kind"] == "shadow" else unauth_truth)]
    missed = ([f"shadow {m} {p}" for m, p in sorted(shadow_truth - keys("shadow"))]
              + [f"unauthenticated {m} {p}" for m, p in sorted(unauth_truth - keys("unauthenticated"))])

    vanilla_violations = [fmt(f) for f in findings if f["kind"] == "unauthenticated"
                          and f["severity"] in SEVERE and f["key"] in routes
                          and routes[f["key"]]["documented"] and routes[f["key"]]["auth"] == "required"]
    for key, r in routes.items():
        if r["documented"] or r["auth"] != "none" or key not in served:
            continue
        flagged = any(f["key"] == key and ((f["kind"] == "unauthenticated" and f["severity"] in SEVERE)
                                           or (f["kind"] == "shadow" and f["severity"] == "critical"))
                      for f in findings)
        if not flagged:
            vanilla_violations.append(f"hidden anonymous {key[0]} {r['route']} not reported as "
                                      f"high/critical unauthenticated nor critical shadow")

    refused_reported = [fmt(f) for f in findings if f["class"] == "refused"]
    scanner_reported = [fmt(f) for f in findings if f["class"] == "scanner"]

    # Inventory: every row is a manifest route, or comes only from refused traffic (405/404).
    def inventory_check(doc):
        bad, seen = [], set()
        for e in doc["endpoints"]:
            method, template = e["method"], e["template"]
            c = classify(method, template)
            if c == "route":
                seen.add((method, norm(template)))
            elif c in ("literal", "other"):
                bad.append(f"{method} {template} ({'literal value of a route' if c == 'literal' else 'no manifest route'}, "
                           f"{e['requests']} req, source {e.get('source')})")
        missing = [f"{m} {p} (served, no inventory row)" for m, p in sorted(served - seen)]
        return bad, missing

    bad_rows, missing_rows = inventory_check(inv)
    raw_bad, _ = inventory_check(raw)

    checks = {
        "shadow_precision": shadow_p >= TARGETS["shadow"],
        "shadow_recall": shadow_r >= TARGETS["shadow"],
        "vanilla_rule": not vanilla_violations,
        "refused_only": not refused_reported,
        "scanner": not scanner_reported,
        "templates": not bad_rows and not missing_rows,
        "manifest_vs_spec": not problems,
    }
    if mode == "headers":
        checks["unauth_precision"] = unauth_p >= TARGETS["unauth_headers"]
        checks["unauth_recall"] = unauth_r >= TARGETS["unauth_headers"]
    return {
        "app": manifest["name"], "mode": mode, "protocol": manifest["protocol"],
        "requests": len(traffic["requests"]),
        "shadow": {"precision": shadow_p, "recall": shadow_r, "truth": len(shadow_truth),
                   "reported": len(keys("shadow"))},
        "unauthenticated": {"precision": unauth_p, "recall": unauth_r, "truth": len(unauth_truth),
                            "reported": len(keys("unauthenticated"))},
        "vanilla_violations": vanilla_violations,
        "refused_reported": refused_reported,
        "scanner_reported": scanner_reported,
        "false_findings": false_findings,
        "missed": missed,
        "template_mismatches": bad_rows + missing_rows,
        "raw_template_mismatches": len(raw_bad),
        "services_auth_unknown": diff["summary"].get("services_auth_unknown", []),
        "unobserved_documented": diff["summary"].get("unobserved", 0),
        "checks": checks,
        "failed_checks": [k for k, ok in checks.items() if not ok],
        "passed": all(checks.values()),
        "problems": problems,
    }


# --- main -------------------------------------------------------------------------------------
def find_apps(only: list[str]) -> list[tuple[str, dict]]:
    apps = []
    for path in sorted(glob.glob(os.path.join(HERE, "*", "*", "manifest.json"))):
        with open(path) as f:
            m = json.load(f)
        if not only or m["name"] in only:
            apps.append((os.path.dirname(path), m))
    names = {m["name"] for _, m in apps}
    unknown = [n for n in only if n not in names]
    if unknown:
        raise SystemExit(f"run_matrix: no app named {', '.join(unknown)} "
                         f"(manifests under {os.path.relpath(HERE, ROOT)}/*/*/manifest.json)")
    return apps


def print_result(r: dict, verbose: bool) -> None:
    print_row(r, verbose)
    if r.get("tmp"):
        print(f"    kept: {r['tmp']}")


def print_row(r: dict, verbose: bool) -> None:
    if "error" in r:
        print(f"{r['app']:<14} {r['mode']:<8} ERROR {r['error']}")
        if r.get("app_log"):
            print("    app log:\n" + r["app_log"])
        return
    s, u = r["shadow"], r["unauthenticated"]
    print(f"{r['app']:<14} {r['mode']:<8} {r['protocol']:<13} {r['requests']:>4} "
          f"{s['precision']:>5.2f} {s['recall']:>5.2f}  {u['precision']:>5.2f} {u['recall']:>5.2f}  "
          f"{len(r['vanilla_violations']):>4} {len(r['refused_reported']):>4} "
          f"{len(r['scanner_reported']):>4} {len(r['template_mismatches']):>4}  "
          f"{'PASS' if r['passed'] else 'FAIL ' + ','.join(r['failed_checks'])}  {r['seconds']}s")
    if verbose or not r["passed"]:
        for title, items in (("problems", r["problems"]), ("false findings", r["false_findings"]),
                             ("missed", r["missed"]), ("vanilla rule", r["vanilla_violations"]),
                             ("inventory", r["template_mismatches"])):
            if items:
                print(f"    {title}:")
                for item in items[: (None if verbose else 12)]:
                    print(f"      - {item}")
                if not verbose and len(items) > 12:
                    print(f"      ... {len(items) - 12} more (-v)")


def on_sigterm(signum, frame):
    # A CI timeout's SIGTERM unwinds like Ctrl-C, so `finally` stops every process started here.
    raise KeyboardInterrupt


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this app (repeatable)")
    p.add_argument("--mode", action="append", choices=MODES, help="run only this mode (repeatable)")
    p.add_argument("--shadowscan", default=os.environ.get("SHADOWSCAN") or os.path.join(ROOT, "target", "debug", "shadowscan"),
                   help="the binary (default: $SHADOWSCAN, else target/debug/shadowscan)")
    p.add_argument("--python", default=None, help="interpreter for the Python apps (default: the matrix venv)")
    p.add_argument("--json", metavar="OUT", help="write every result as JSON here")
    p.add_argument("--report-only", action="store_true", help="print scores, exit 0 even when a target is missed")
    p.add_argument("--keep", action="store_true", help="keep each run's temporary directory (db, spec, logs)")
    p.add_argument("-v", "--verbose", action="store_true", help="list every finding behind the scores")
    a = p.parse_args(argv)

    signal.signal(signal.SIGTERM, on_sigterm)

    binary = os.path.abspath(a.shadowscan)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"run_matrix: {binary} is not an executable shadowscan; build it (cargo build) "
                         "or pass --shadowscan PATH")
    python = a.python or os.path.join(HERE, "python", ".venv", "bin", "python")
    if not os.access(python, os.X_OK):
        python = sys.executable
    modes = a.mode or list(MODES)
    apps = find_apps(a.only)

    print(f"{'app':<14} {'mode':<8} {'protocol':<13} {'req':>4} {'shP':>5} {'shR':>5}  "
          f"{'unP':>5} {'unR':>5}  {'van':>4} {'ref':>4} {'scn':>4} {'tpl':>4}  result")
    results = []
    started = time.monotonic()
    for app_dir, manifest in apps:
        for mode in modes:
            r = run_one(app_dir, manifest, mode, binary, python, a.keep)
            print_result(r, a.verbose)
            sys.stdout.flush()
            results.append(r)
    failed = [f"{r['app']}/{r['mode']}" for r in results if not r["passed"]]
    print(f"{len(results) - len(failed)}/{len(results)} app×mode runs met every target "
          f"in {time.monotonic() - started:.0f} s" + (f"; missed: {', '.join(failed)}" if failed else ""))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"targets": TARGETS, "results": results}, f, indent=1)
    if failed and not a.report_only:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
