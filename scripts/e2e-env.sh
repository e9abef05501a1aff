#!/usr/bin/env bash
# Source this (after scripts/setup-e2e.sh) to get the paths the end-to-end tests use:
#   source scripts/e2e-env.sh
# or run it to print them as KEY=VALUE lines (what a Rust test can parse):
#   scripts/e2e-env.sh
# Every variable can be overridden from the environment beforehand.
_e2e_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SHADOWSCAN_E2E_ROOT="${SHADOWSCAN_E2E_ROOT:-$_e2e_root}"
export SHADOWSCAN_E2E_VENV="${SHADOWSCAN_E2E_VENV:-$SHADOWSCAN_E2E_ROOT/.venv-e2e}"
export SHADOWSCAN_E2E_PYTHON="${SHADOWSCAN_E2E_PYTHON:-$SHADOWSCAN_E2E_VENV/bin/python}"
export SHADOWSCAN_E2E_NODE="${SHADOWSCAN_E2E_NODE:-node}"
export SHADOWSCAN_E2E_DIR="${SHADOWSCAN_E2E_DIR:-$SHADOWSCAN_E2E_ROOT/tests/e2e}"
export SHADOWSCAN_FIXTURES="${SHADOWSCAN_FIXTURES:-$SHADOWSCAN_E2E_ROOT/fixtures}"
# The scripts the Rust tests call:
export SHADOWSCAN_E2E_EXPORT_SPANS="$SHADOWSCAN_E2E_DIR/export_spans.py"
export SHADOWSCAN_E2E_HTTPBIN_APP="$SHADOWSCAN_E2E_DIR/httpbin_app.py"
export SHADOWSCAN_E2E_EXERCISE_HTTPBIN="$SHADOWSCAN_E2E_DIR/exercise_httpbin.py"
export SHADOWSCAN_E2E_OTLP_SINK="$SHADOWSCAN_E2E_DIR/otlp_sink.py"
unset _e2e_root
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    env | grep -E '^SHADOWSCAN_(E2E|FIXTURES)' | sort
fi
