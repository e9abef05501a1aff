#!/usr/bin/env bash
# Re-records every fixture in fixtures/ from real instrumentation (see fixtures/README.md).
# Needs only the registries (via setup-e2e.sh) and 127.0.0.1. Ids, timestamps, ports and
# service.instance.id change on every run; endpoints, counts and statuses do not (the recorders
# fail if any response differs from what the app code should answer).
#
# Usage: scripts/record-fixtures.sh [flask|express|httpbin]...   (default: all)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup-e2e.sh"
PY="${SHADOWSCAN_E2E_VENV:-$ROOT/.venv-e2e}/bin/python"
F="$ROOT/fixtures"
cd "$ROOT"

what=("$@")
[[ ${#what[@]} -eq 0 ]] && what=(flask express httpbin)
for w in "${what[@]}"; do
    case "$w" in
        flask)
            "$PY" tests/e2e/record_flask.py --semconv old --out "$F/flask-old.jsonl" \
                --pb "$F/flask-old.pb" --expected "$F/flask-expected.json"
            "$PY" tests/e2e/record_flask.py --semconv new --out "$F/flask-new.jsonl"
            ;;
        express)
            node tests/e2e/express/record_express.js --express 4 --out "$F/express4.jsonl" \
                --expected "$F/express4-expected.json"
            node tests/e2e/express/record_express.js --express 5 --out "$F/express5.jsonl" \
                --expected "$F/express5-expected.json"
            # Same Express 4 app and traffic, old HTTP conventions (instrumentation-http 0.220).
            node tests/e2e/express/record_express.js --express 4 --http-instrumentation 0.220 \
                --out "$F/express4-oldsemconv.jsonl"
            ;;
        httpbin)
            "$PY" tests/e2e/exercise_httpbin.py --spawn --jsonl "$F/httpbin.jsonl" \
                --routes-out "$F/httpbin-routes.json" --spec-out "$F/httpbin-spec.json" >/dev/null
            ;;
        *)
            echo "record-fixtures.sh: unknown fixture set '$w' (flask, express, httpbin)" >&2
            exit 2
            ;;
    esac
done
echo "record-fixtures: done (${what[*]})" >&2
