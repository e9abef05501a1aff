#!/usr/bin/env bash
# The test command (README): installs what the end-to-end tests need (a Python venv with the
# OpenTelemetry SDK, Node packages for Express), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-e2e.sh
cargo test --locked "$@"
