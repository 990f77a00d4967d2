"""Training speed: samples per second and peak memory, tiny and toyworld configurations,
with and without the latent/embedding cache (the uncached run is the reference, measured in the
same invocation on the same machine).

    python benchmarks/train_speed.py            # full: 8 timed steps per configuration
    python benchmarks/train_speed.py --quick    # smoke test: 2 timed steps

Each configuration runs in its own process (one torch thread per process unless --threads), so
peak memory (max RSS, or CUDA max allocated on a GPU) is its own. Writes
benchmarks/results/train_speed.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONFIGS = {
    # name: (config file, overrides)
    "tiny": ("configs/train/tiny.yaml", {"toyworld_examples": 128, "batch_size": 8}),
    "toyworld": ("configs/train/toyworld.yaml", {"toyworld_examples": 256, "batch_size": 64, "vae_steps": 0,
                                                 "eval_every": 0}),
}


def measure(config_name: str, cache: bool, steps: int, warmup: int) -> dict:
    """Runs inside the child process: set up a trainer, time `steps` optimiser steps after `warmup`."""
    import resource

    import torch

    from editlab.train.config import load_config
    from editlab.train.loop import Trainer

    path, overrides = CONFIGS[config_name]
    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(REPO / path, {**overrides, "cache": cache, "output_dir": tmp, "export": False,
                                           "max_steps": warmup + steps, "data_workers": 1,
                                           "cache_dir": str(Path(tmp) / "cache")})
        trainer = Trainer(config, log=lambda _: None)
        start = time.perf_counter()
        trainer.setup()
        trainer._maybe_build_cache()
        setup_seconds = time.perf_counter() - start
        for _ in range(warmup):
            trainer.train_step()
            trainer.state.step += 1
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
            trainer.state.step += 1
        seconds = time.perf_counter() - start
        samples = steps * config.batch_size * config.gradient_accumulation_steps
        if torch.cuda.is_available():
            peak_mb = torch.cuda.max_memory_allocated() / 2**20
            memory_kind = "cuda_max_allocated"
        else:
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            memory_kind = "max_rss"
        return {
            "config": config_name, "cache": cache, "batch_size": config.batch_size, "resolution": config.resolution,
            "mixed_precision": trainer.mixed_precision, "steps_timed": steps,
            "samples_per_second": samples / seconds, "seconds_per_step": seconds / steps,
            "setup_seconds": setup_seconds, "peak_memory_mb": peak_mb, "memory_kind": memory_kind,
            "parameters": trainer.parts.parameter_counts(),
        }


def run_child(config_name: str, cache: bool, steps: int, warmup: int, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import train_speed as b; "
            f"print('RESULT' + json.dumps(b.measure({config_name!r}, {cache}, {steps}, {warmup})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{config_name} cache={cache} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT"):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2 timed steps instead of 8")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2") or 2))
    parser.add_argument("--out", default=str(HERE / "results" / "train_speed.json"))
    args = parser.parse_args()
    steps, warmup = (2, 1) if args.quick else (8, 2)
    rows = []
    for name in CONFIGS:
        for cache in (False, True):
            row = run_child(name, cache, steps, warmup, args.threads)
            rows.append(row)
            print(f"{name} cache={cache}: {row['samples_per_second']:.1f} samples/s", file=sys.stderr, flush=True)
    for name in CONFIGS:
        plain, cached = (next(r for r in rows if r["config"] == name and r["cache"] == c) for c in (False, True))
        cached["speedup_vs_uncached"] = cached["samples_per_second"] / plain["samples_per_second"]
    print("| config | cache | batch | precision | samples/s | s/step | peak memory (MB) | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {'yes' if r['cache'] else 'no'} | {r['batch_size']} | {r['mixed_precision']} | "
              f"{r['samples_per_second']:.1f} | {r['seconds_per_step']:.2f} | {r['peak_memory_mb']:.0f} | "
              f"{r.get('speedup_vs_uncached', 1.0):.2f}x |")
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result = {"benchmark": "train_speed", "quick": args.quick, "threads": args.threads, "rows": rows,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "load_average": load},
              "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    sys.path.insert(0, str(REPO / "src"))
    from editlab.io.atomic import write_json

    write_json(args.out, result)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
