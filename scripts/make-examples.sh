#!/usr/bin/env bash
# Regenerates the example reports in docs/examples/ and the README screenshot:
#  - eval traffic: ../shared/eval/gen_traffic.py for swagger-petstore3 (last week with seed 1,
#    this week with seed 2, timestamps moved to now), diffed against its spec;
#  - the demo recordings (real Flask and Express instrumentation) without a spec.
# Needs ../shared beside the checkout, the e2e venv (scripts/setup-e2e.sh) and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet
bin=target/release/shadowscan
py=.venv-e2e/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=docs/examples
mkdir -p "$out"

# Moves every span of a file-exporter JSON file so that its first span starts AGO seconds ago.
shift_to() {
    "$py" - "$1" "$2" "$3" <<'PY'
import json, sys, time
src, dst, ago = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = [json.loads(l) for l in open(src) if l.strip()]
first = min(int(s["startTimeUnixNano"]) for r in lines for rs in r["resourceSpans"]
            for ss in rs["scopeSpans"] for s in ss["spans"])
delta = (int(time.time()) - ago) * 10**9 - first
with open(dst, "w") as f:
    for r in lines:
        for rs in r["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    for k in ("startTimeUnixNano", "endTimeUnixNano"):
                        s[k] = str(int(s[k]) + delta)
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
}

spec=specs/swagger-petstore3.yaml
for seed in 1 2; do
    "$py" ../shared/eval/gen_traffic.py "$spec" --service petstore3 --out "$work/t$seed.jsonl" \
        --truth "$work/truth$seed.json" --seed "$seed" --route-fraction 0.3 2>/dev/null
done
shift_to "$work/t1.jsonl" "$work/last-week.jsonl" $((10 * 86400))
shift_to "$work/t2.jsonl" "$work/this-week.jsonl" $((3 * 86400))
"$bin" ingest -q --db "$work/eval.db" "$work/last-week.jsonl" "$work/this-week.jsonl"
for f in html markdown; do
    ext=$([ "$f" = html ] && echo html || echo md)
    "$bin" report --db "$work/eval.db" --spec "$spec" --service petstore3 --since 7d --format "$f" \
        --output "$out/eval-petstore3-report.$ext"
done

"$bin" ingest -q --db "$work/demo.db" fixtures/flask-old.jsonl fixtures/express4.jsonl fixtures/express5.jsonl
for f in html markdown; do
    ext=$([ "$f" = html ] && echo html || echo md)
    "$bin" report --db "$work/demo.db" --since 30d --format "$f" --output "$out/demo-report.$ext"
done

chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$work/chromium" --hide-scrollbars --window-size=1400,1100 \
    --screenshot="$PWD/docs/report-screenshot.png" "file://$PWD/$out/eval-petstore3-report.html" 2>/dev/null
echo "wrote $out/ and docs/report-screenshot.png"
