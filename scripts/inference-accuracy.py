#!/usr/bin/env python3
"""How many observed documented operations get exactly their documented template from
inference alone (no http.route, no spec), per public spec.

For every spec in ../shared/specs: generate traffic with ../shared/eval/gen_traffic.py at route
fraction 0, ingest it, read `shadowscan inventory --format json` (learned parameters folded in),
and count the documented operations observed in the traffic whose template (base path included,
parameter names ignored) is an inventory endpoint with the same method.

Run from the project root after `cargo build --release`:
    .venv-e2e/bin/python scripts/inference-accuracy.py [--seeds 1,2,3]
"""
import argparse, json, re, subprocess, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def shape(path):
    path = re.sub(r"\{[^}]*\}", "{}", path)
    return path.rstrip("/") if len(path) > 1 else path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--bin", default=str(ROOT / "target/release/shadowscan"))
    args = ap.parse_args()
    specs = sorted(p for p in (SHARED / "specs").iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    total_hit = total = 0
    print(f"{'spec':40} {'observed documented':>20} {'exact template':>15} {'share':>7}")
    for spec in specs:
        service = spec.stem.split(".")[0].lower().replace("_", "-")
        hit = n = 0
        for seed in args.seeds.split(","):
            with tempfile.TemporaryDirectory() as tmp:
                traces, truth, db = Path(tmp, "t.jsonl"), Path(tmp, "truth.json"), Path(tmp, "i.db")
                subprocess.run([sys.executable, str(SHARED / "eval/gen_traffic.py"), str(spec), "--service", service,
                                "--out", str(traces), "--truth", str(truth), "--seed", seed, "--route-fraction", "0",
                                "--slashy"], check=True, stderr=subprocess.DEVNULL)
                subprocess.run([args.bin, "ingest", "-q", "--db", str(db), str(traces)], check=True,
                               stderr=subprocess.DEVNULL)
                inv = json.loads(subprocess.run([args.bin, "inventory", "--db", str(db), "--format", "json"],
                                                check=True, capture_output=True, text=True).stdout)
                got = {(e["method"], shape(e["template"])) for e in inv["endpoints"]}
                t = json.load(open(truth))
                base = t.get("base_path", "")
                for op in t["observed_documented"]:
                    n += 1
                    hit += (op["method"], shape(base + op["template"])) in got
        total_hit += hit
        total += n
        print(f"{spec.name:40} {n:>20} {hit:>15} {hit / max(n, 1):>7.1%}")
    print(f"{'all':40} {total:>20} {total_hit:>15} {total_hit / max(total, 1):>7.1%}")


if __name__ == "__main__":
    main()
