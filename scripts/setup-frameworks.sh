#!/usr/bin/env bash
# Installs what the framework matrix (tests/e2e/frameworks/) needs, from the public registries only:
#   tests/e2e/frameworks/python/.venv/        python3 -m venv + python/requirements.txt (pinned)
#   tests/e2e/frameworks/node/node_modules/   npm ci from node/package-lock.json (when it exists)
# Idempotent: each part keeps a stamp of the hash of its inputs and is skipped when nothing
# changed, so calling it before every matrix run costs a few milliseconds.
#
# Usage: scripts/setup-frameworks.sh [--python-only | --node-only] [--force]
# Env:   PYTHON   interpreter used to create the venv (default: python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FW="$ROOT/tests/e2e/frameworks"
VENV="$FW/python/.venv"
REQ="$FW/python/requirements.txt"
NODE_DIR="$FW/node"
PYTHON="${PYTHON:-python3}"

do_python=1
do_node=1
force=0
for arg in "$@"; do
    case "$arg" in
        --python-only) do_node=0 ;;
        --node-only) do_python=0 ;;
        --force) force=1 ;;
        -h | --help)
            sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup-frameworks.sh: unknown argument '$arg' (try --help)" >&2
            exit 2
            ;;
    esac
done

log() { echo "setup-frameworks: $*" >&2; }

if [[ $do_python == 1 ]]; then
    command -v "$PYTHON" >/dev/null || { log "'$PYTHON' not found; install python3 (>= 3.10) and python3-venv"; exit 1; }
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
        "$VENV/bin/python" -c 'import fastapi, uvicorn, django, rest_framework, drf_spectacular, flask, flask_smorest, opentelemetry.sdk, opentelemetry.exporter.otlp.proto.grpc.trace_exporter, opentelemetry.exporter.otlp.proto.http.trace_exporter, opentelemetry.instrumentation.fastapi, opentelemetry.instrumentation.django, opentelemetry.instrumentation.flask'
        echo "$py_key" >"$py_stamp"
    fi
fi

if [[ $do_node == 1 ]]; then
    if [[ ! -f "$NODE_DIR/package-lock.json" ]]; then
        log "no $NODE_DIR/package-lock.json: no Node apps to install"
    else
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
fi
