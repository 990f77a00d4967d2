"""Run every performance benchmark in this folder, one subprocess each, and list what they wrote.

Each benchmark script prints its own Markdown table and writes `benchmarks/results/<name>.json`.

    python benchmarks/run_all.py            # all, full size
    python benchmarks/run_all.py --quick    # smoke-test sizes
    python benchmarks/run_all.py --only edit_speed,metrics_speed
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
#: run order: cheap first, so a broken long one does not hide the others
BENCHMARKS = ("toyworld_speed", "metrics_speed", "data_speed", "train_speed", "edit_speed", "toyworld_model")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(HERE / "results"), help="results folder (informational)")
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    args = parser.parse_args()
    names = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    failures = []
    rows = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            rows.append((name, "missing", 0.0))
            continue
        print(f"\n## {name}\n", flush=True)
        start = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *(["--quick"] if args.quick else [])], env=env)
        seconds = time.perf_counter() - start
        rows.append((name, "ok" if code == 0 else f"exit {code}", seconds))
        if code != 0:
            failures.append(name)
    print("\n| benchmark | status | seconds | results |\n|---|---|---|---|")
    for name, status, seconds in rows:
        result = Path(args.out) / f"{name}.json"
        print(f"| {name} | {status} | {seconds:.0f} | {result if result.exists() else '-'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
