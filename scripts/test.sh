#!/usr/bin/env bash
# The test command (README). Installs what the end-to-end tests need (a Python venv with the
# OpenTelemetry SDK, Flask and httpbin; Node packages for Express; headless Chromium; the
# framework matrix's venv and Node packages), runs every Rust test, the e2e tooling's own
# checks, the framework matrix (tests/e2e/frameworks/README.md) and, when the team's ../shared
# is beside the checkout, the detection-quality evaluation with its targets.
#
# A missed framework-matrix target fails the run; SHADOWSCAN_MATRIX_REPORT_ONLY=1 only prints
# the scores (while working on a rule).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-e2e.sh
scripts/setup-chromium.sh
scripts/setup-frameworks.sh

echo "== cargo test"
cargo test --locked "$@"

echo "== e2e tooling self-checks"
.venv-e2e/bin/python -m unittest discover -s tests/e2e -p 'test_*.py'

echo "== release build (fat LTO: a few minutes)"
cargo build --release --locked

echo "== framework matrix (tests/e2e/frameworks: real apps, official OTel instrumentation, vanilla and header capture)"
matrix_mode=()
if [ "${SHADOWSCAN_MATRIX_REPORT_ONLY:-0}" = 1 ]; then
    matrix_mode=(--report-only)
fi
tests/e2e/frameworks/python/.venv/bin/python tests/e2e/frameworks/run_matrix.py \
    --shadowscan target/release/shadowscan "${matrix_mode[@]}"

if [ -x ../shared/eval/run ]; then
    echo "== detection quality (../shared/eval/run: every public spec, route fractions 0/0.3/1, seeds 1-3)"
    SHADOWSCAN=target/release/shadowscan .venv-e2e/bin/python ../shared/eval/run
else
    echo "== detection quality: skipped (no ../shared/eval beside this checkout)"
fi
