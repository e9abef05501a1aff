#!/usr/bin/env bash
# Installs what the end-to-end tests and fixture recorders need, from the public registries only:
#   .venv-e2e/                      python3 -m venv + scripts/requirements-e2e.txt (pinned)
#   tests/e2e/express/node_modules/ npm ci from the committed package-lock.json
# Idempotent: each part keeps a stamp of the hash of its inputs and is skipped when nothing changed,
# so calling it at the start of every test run costs a few milliseconds.
#
# Usage: scripts/setup-e2e.sh [--python-only | --node-only] [--force]
# Env:   SHADOWSCAN_E2E_VENV   venv location (default: <repo>/.venv-e2e)
#        PYTHON                interpreter used to create the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SHADOWSCAN_E2E_VENV:-$ROOT/.venv-e2e}"
PYTHON="${PYTHON:-python3}"
REQ="$ROOT/scripts/requirements-e2e.txt"
NODE_DIR="$ROOT/tests/e2e/express"

do_python=1
do_node=1
force=0
for arg in "$@"; do
    case "$arg" in
        --python-only) do_node=0 ;;
        --node-only) do_python=0 ;;
        --force) force=1 ;;
        -h | --help)
            sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup-e2e.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

log() { echo "setup-e2e: $*" >&2; }

# The TLS tests (tests/security.rs) make their certificates with the openssl command.
if ! command -v openssl >/dev/null; then
    if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
        log "installing openssl (the TLS tests make their certificates with it)"
        apt-get install -y -q --no-install-recommends openssl >&2 || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends openssl >&2; }
    else
        log "openssl not found; install it (the TLS tests make their certificates with it)"
        exit 1
    fi
fi

if [[ $do_python == 1 ]]; then
    command -v "$PYTHON" >/dev/null || { log "'$PYTHON' not found; install python3 (>= 3.9) and python3-venv"; exit 1; }
    py_version="$("$PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    py_key="$(printf '%s\n%s\n' "$py_version" "$(cat "$REQ")" | sha256sum | cut -d' ' -f1)"
    py_stamp="$VENV/.shadowscan-setup-stamp"
    if [[ $force == 0 && -x "$VENV/bin/python" && -f "$py_stamp" && "$(cat "$py_stamp")" == "$py_key" ]]; then
        log "python venv up to date ($VENV)"
    else
        if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
            log "creating venv $VENV with $PYTHON $py_version"
            rm -rf "$VENV"
            "$PYTHON" -m venv "$VENV" || {
                log "'$PYTHON -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv"
                exit 1
            }
        fi
        log "installing pinned requirements into $VENV"
        "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQ"
        "$VENV/bin/python" -c 'import flask, httpbin, flasgger, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc.trace_exporter, opentelemetry.exporter.otlp.proto.http.trace_exporter, opentelemetry.instrumentation.flask'
        echo "$py_key" >"$py_stamp"
    fi
fi

if [[ $do_node == 1 ]]; then
    command -v node >/dev/null || { log "node not found; install nodejs (>= 20.6) and npm"; exit 1; }
    command -v npm >/dev/null || { log "npm not found; install npm"; exit 1; }
    node_key="$(printf '%s\n' "$(node --version)" | cat - "$NODE_DIR/package.json" "$NODE_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)"
    node_stamp="$NODE_DIR/node_modules/.shadowscan-setup-stamp"
    if [[ $force == 0 && -f "$node_stamp" && "$(cat "$node_stamp")" == "$node_key" ]]; then
        log "node modules up to date ($NODE_DIR/node_modules)"
    else
        log "npm ci in $NODE_DIR"
        (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
        echo "$node_key" >"$node_stamp"
    fi
fi
