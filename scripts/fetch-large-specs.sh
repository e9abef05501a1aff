#!/usr/bin/env bash
# Fetches the real-world specs too large to commit into specs/large/ (gitignored):
#   api.github.com.json  GitHub's REST description (OpenAPI 3.0, ~13 MB), from the npm
#                        package @octokit/openapi (MIT), via `npm pack` (no install).
#   api.github.com.yaml  the same document as block YAML, when python3 has PyYAML; used to
#                        time the YAML path on a realistic 10 MB+ document.
# Idempotent and offline-friendly: exits 0 at once when the files are already there.
set -euo pipefail

OCTOKIT_VERSION="${OCTOKIT_OPENAPI_VERSION:-23.0.2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/specs/large"
json="$dest/api.github.com.json"
yaml="$dest/api.github.com.yaml"
mkdir -p "$dest"

if [[ ! -s "$json" ]]; then
    command -v npm >/dev/null || { echo "fetch-large-specs: npm is needed to fetch @octokit/openapi (apt-get install npm)" >&2; exit 1; }
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    echo "fetch-large-specs: npm pack @octokit/openapi@$OCTOKIT_VERSION" >&2
    (cd "$tmp" && npm pack --silent "@octokit/openapi@$OCTOKIT_VERSION" >/dev/null)
    tar -xzf "$tmp"/octokit-openapi-*.tgz -C "$tmp" package/generated/api.github.com.json
    mv "$tmp/package/generated/api.github.com.json" "$json.part"
    mv "$json.part" "$json"
fi

if [[ ! -s "$yaml" ]] && command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
    echo "fetch-large-specs: converting to YAML" >&2
    python3 - "$json" "$yaml.part" <<'PY'
import json, sys, yaml
with open(sys.argv[1], encoding="utf-8") as f:
    doc = json.load(f)
with open(sys.argv[2], "w", encoding="utf-8") as f:
    yaml.dump(doc, f, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
              sort_keys=False, allow_unicode=True, width=120)
PY
    mv "$yaml.part" "$yaml"
fi
ls -la "$dest" >&2
