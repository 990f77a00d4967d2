"""toyworld: how fast examples are generated and scored, and how the oracle is calibrated.

Speed, per task, single process: `generate_example` (scene, edit, instruction, two renders, mask)
next to a bare `render` of the same scene (the floor), and `Oracle.score` of the ground-truth
output next to a plain L1 against the target (the cheapest possible scorer). Calibration: the
oracle's success rate on exact, blurred (sigma 0.7 px at 64), JPEG q75 and noisy (sigma 4)
ground truth, and on the unedited source. Prints Markdown tables and writes
benchmarks/results/toyworld_speed.json atomically.

    python benchmarks/toyworld_speed.py            # 100 examples per task at 64x64, plus 128x128 speed
    python benchmarks/toyworld_speed.py --quick    # 8 per task (smoke test)
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

from editlab.io import write_json  # noqa: E402
from editlab.toyworld import TOYWORLD_TASKS, Oracle, Scene, generate_example, render  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "toyworld_speed.json"


def blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(0.7 * min(image.size) / 64))


def jpeg(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=75)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def noise(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float32) + np.random.default_rng(0).normal(0, 4.0, (*image.size[::-1], 3))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


OUTPUTS = {"exact": lambda ex: ex.target, "blurred": lambda ex: blur(ex.target), "jpeg75": lambda ex: jpeg(ex.target),
           "noisy": lambda ex: noise(ex.target), "source": lambda ex: ex.source}


def ms(seconds: float, n: int) -> float:
    return round(seconds / max(n, 1) * 1000, 3)


def run_task(task: str, n: int, size: tuple[int, int], oracle: Oracle, calibrate: bool) -> dict:
    t0 = time.perf_counter()
    examples = [generate_example(100, task=task, index=i, width=size[0], height=size[1]) for i in range(n)]
    generate_s = time.perf_counter() - t0
    scenes = [Scene.from_dict(ex.meta["source_scene"]) for ex in examples]
    t0 = time.perf_counter()
    for scene in scenes:
        render(scene, *size)
    render_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ex in examples:
        oracle.score(ex, ex.target)
    oracle_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for ex in examples:
        float(np.abs(np.asarray(ex.target, np.float32) - np.asarray(ex.source, np.float32)).mean())
    l1_s = time.perf_counter() - t0
    row = {"task": task, "n": n, "size": list(size), "generate_ms": ms(generate_s, n), "render_ms": ms(render_s, n),
           "oracle_ms": ms(oracle_s, n), "l1_ms": ms(l1_s, n)}
    if calibrate:
        row["success"] = {name: float(np.mean([oracle.score(ex, make(ex)).success for ex in examples]))
                          for name, make in OUTPUTS.items()}
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="8 examples per task")
    parser.add_argument("--n", type=int, help="examples per task (default 100, --quick 8)")
    args = parser.parse_args()
    n = args.n or (8 if args.quick else 100)
    oracle = Oracle()
    generate_example(0)  # warm caches (fonts, shape templates)
    rows = [run_task(task, n, (64, 64), oracle, calibrate=True) for task in TOYWORLD_TASKS]
    big_n = max(2, n // 10)
    big = [run_task(task, big_n, (128, 128), oracle, calibrate=False) for task in TOYWORLD_TASKS]

    def mean(key, table):
        return round(float(np.mean([r[key] for r in table])), 3)

    print(f"### Speed (ms per example, one process, {platform.processor() or platform.machine()})\n")
    print("| task | generate 64x64 | render only | oracle 64x64 | L1 only | generate 128x128 | oracle 128x128 |")
    print("|---|---|---|---|---|---|---|")
    for r, b in zip(rows, big, strict=True):
        print(f"| {r['task']} | {r['generate_ms']:.2f} | {r['render_ms']:.2f} | {r['oracle_ms']:.2f} | {r['l1_ms']:.3f} "
              f"| {b['generate_ms']:.2f} | {b['oracle_ms']:.2f} |")
    print(f"| **mean** | {mean('generate_ms', rows):.2f} | {mean('render_ms', rows):.2f} | {mean('oracle_ms', rows):.2f} "
          f"| {mean('l1_ms', rows):.3f} | {mean('generate_ms', big):.2f} | {mean('oracle_ms', big):.2f} |")
    print(f"\n### Oracle success rate at 64x64 ({n} examples per task)\n")
    print("| task | " + " | ".join(OUTPUTS) + " |")
    print("|---|" + "---|" * len(OUTPUTS))
    for r in rows:
        print(f"| {r['task']} | " + " | ".join(f"{r['success'][k]:.0%}" for k in OUTPUTS) + " |")
    overall = {k: round(float(np.mean([r["success"][k] for r in rows])), 4) for k in OUTPUTS}
    print("| **all** | " + " | ".join(f"{v:.1%}" for v in overall.values()) + " |")
    write_json(RESULTS, {
        "benchmark": "toyworld_speed", "python": sys.version.split()[0], "machine": platform.machine(),
        "threads": os.environ.get("OMP_NUM_THREADS"), "examples_per_task": n,
        "speed_64": rows, "speed_128": big, "success_overall": overall,
        "mean_ms": {"generate_64": mean("generate_ms", rows), "render_64": mean("render_ms", rows),
                    "oracle_64": mean("oracle_ms", rows), "l1_64": mean("l1_ms", rows),
                    "generate_128": mean("generate_ms", big), "oracle_128": mean("oracle_ms", big)},
    })
    print(f"\nwrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
