#!/usr/bin/env bash
# The test command (README). Installs what the end-to-end tests need (a Python venv with the
# OpenTelemetry SDK, Flask and httpbin; Node packages for Express; headless Chromium), runs
# every Rust test, the e2e tooling's own checks, and, when the team's ../shared is beside the
# checkout, the detection-quality evaluation with its targets.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-e2e.sh
scripts/setup-chromium.sh

echo "== cargo test"
cargo test --locked "$@"

echo "== e2e tooling self-checks"
.venv-e2e/bin/python -m unittest discover -s tests/e2e -p 'test_*.py'

if [ -x ../shared/eval/run ]; then
    echo "== detection quality (../shared/eval/run: every public spec, route fractions 0/0.3/1, seeds 1-3)"
    # No --quiet: the release build (fat LTO) takes minutes and must be seen to progress.
    cargo build --release --locked
    SHADOWSCAN=target/release/shadowscan .venv-e2e/bin/python ../shared/eval/run
else
    echo "== detection quality: skipped (no ../shared/eval beside this checkout)"
fi
