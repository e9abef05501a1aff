#!/bin/sh
# Installs headless Chromium (Debian's `chromium` package) for the HTML report tests
# (tests/report_html.rs). Idempotent: does nothing when it is already installed.
set -eu

if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(command -v chromium || echo /usr/bin/chromium)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup-chromium.sh: apt-get not found; install Chromium with your package manager" >&2
    echo "and point the tests at it with CHROMIUM=/path/to/chromium" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup-chromium.sh: must run as root (or with sudo available)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# Fonts so text in screenshots renders; no recommends keeps the install small.
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
echo "chromium installed: $(command -v chromium)"
