"""Speed of dataset generation: toyworld pairs/s with 1 and 2 workers (local processes and Ray),
and CLIP-filter images/s, batched vs one image at a time.

Toyworld: the full `toyworld` preset (scene sampling, rendering, masks, dedup, balance, parquet +
webdataset export) on N items. Each setting is a warm worker process holding its distributor
open (started and warmed up on a small job first, so timings are the job's throughput; start-up
is reported separately); the 1-worker and 2-worker sides then run whole jobs in alternating order
(A-B, B-A, ...: see `_timing.py`), so that neither profits from running first on a quiet
machine. The target is a speed-up of at least 1.8x from 2 workers; on a 2-core machine the
ceiling is 2x, and the main process's own work (planning, export) sits on those cores too.
CLIP filter: the `clip-filter` stage on N pairs with a small random CLIP at the real 224 px input
size (no download), batch_size=32 against batch_size=1, interleaved in one process; the scores
must agree.

Prints a Markdown table and writes benchmarks/results/data_speed.json atomically.

    python benchmarks/data_speed.py            # 1200 toyworld items, 5 jobs a side, 256 CLIP pairs
    python benchmarks/data_speed.py --quick    # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Worker, finish, header, interleave, ratio, serve, summary, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "data_speed.json"
TARGET = 1.8  # two workers should give at least this speed-up over one


def toyworld_worker(distributor: str, processes: int, shard_size: int, folder: str) -> int:
    """One setting (distributor x workers), its pool kept open between jobs."""
    from editlab.data.distributors import get_distributor
    from editlab.data.driver import Job
    from editlab.data.presets import load_preset, resolve_stages
    from editlab.data.spec import JobSpec

    stages = resolve_stages(load_preset("toyworld"))
    base = Path(folder) / f"{distributor}-{processes}"

    def spec(name: str, items: int) -> JobSpec:
        return JobSpec(name="toyworld", out=str(base / name), n=items, stages=stages, shard_size=shard_size)

    started = time.perf_counter()
    runner = get_distributor(distributor, processes=processes)
    Job(spec("warmup", shard_size * processes), runner, progress=False).run()  # workers spawned and warm
    startup = time.perf_counter() - started

    def job(index: int, n: int) -> dict:
        out = base / f"timed-{index}"
        began = time.perf_counter()
        result = Job(spec(f"timed-{index}", n), runner, progress=False).run()
        seconds = time.perf_counter() - began
        shard_seconds = sum(json.loads(p.read_text())["seconds"] for p in out.glob("stages/*/*.stats.json"))
        # shard work over wall time: how many workers were busy on average
        return {"seconds": seconds, "pairs": result.rows, "busy_workers": shard_seconds / seconds,
                "load_average_1min": os.getloadavg()[0]}

    try:
        return serve({"job": job, "startup": lambda: startup})
    finally:
        runner.close()


def toyworld_pair(distributor: str, n: int, shard_size: int, folder: Path, repeats: int, log) -> list[dict]:
    script = Path(__file__).resolve()
    workers = {p: Worker(f"{distributor}:{p}", script, ["--shard-size", str(shard_size), "--folder", str(folder)])
               for p in (1, 2)}
    try:
        startup = {p: w.request("startup") for p, w in workers.items()}
        replies = interleave({f"{distributor} x{p}": (lambda i, w=w: w.request("job", index=i, n=n))
                              for p, w in workers.items()}, repeats, log=log)
        memory = {p: w.request("memory") for p, w in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    rows = []
    for p in (1, 2):
        got = replies[f"{distributor} x{p}"]
        seconds = summary([r["seconds"] for r in got], 3)
        rows.append({"distributor": distributor, "workers": p, "items": n, "pairs": got[0]["pairs"],
                     "shards": -(-n // shard_size), "seconds": seconds,
                     "pairs_per_second_median": round(got[0]["pairs"] / seconds["median"], 2),
                     "busy_workers_median": round(summary([r["busy_workers"] for r in got])["median"], 2),
                     "load_average_1min": [round(r["load_average_1min"], 2) for r in got],
                     "startup_and_warmup_seconds": round(startup[p], 3), **memory[p]})
    rows[1]["speedup_vs_1_worker"] = ratio(rows[0]["seconds"], rows[1]["seconds"])
    return rows


def small_clip(folder: Path) -> str:
    """A random CLIP with real 224 px / patch-32 input geometry but few, narrow layers; saved to disk."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from editlab.data.backends.tiny import EOS, byte_tokenizer

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=260, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=1, eos_token_id=EOS, pad_token_id=0),
        vision_config=dict(image_size=224, patch_size=32, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4), projection_dim=64)
    CLIPModel(config).save_pretrained(folder)
    byte_tokenizer().save_pretrained(folder)
    return str(folder)


def clip_filter_throughput(n: int, folder: Path, repeats: int, log) -> dict:
    import numpy as np
    from PIL import Image

    from editlab.data.sample import Sample
    from editlab.data.stage import ShardContext
    from editlab.data.stages import build_stage

    model = small_clip(folder / "clip")

    def pairs() -> list[Sample]:
        rng = np.random.default_rng(0)  # the same pairs for both settings
        out = []
        for i in range(n):
            base = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).resize((512, 512), Image.BICUBIC)
            out.append(Sample(id=f"b-{i}", source=base, edited=base.transpose(Image.FLIP_LEFT_RIGHT),
                              meta={"input_caption": f"a photo number {i}", "output_caption": f"a mirrored photo {i}"}))
        return out

    ctx = ShardContext(job_seed=0, stage_index=0, stage_name="clip-filter", shard=0, num_shards=1, start=0, stop=n)
    stages, scores = {}, {}
    for batch_size in (1, 32):
        stage = build_stage({"stage": "clip-filter", "model": model, "batch_size": batch_size, "top_k": None,
                             "min_caption_image": None, "min_direction": None, "min_image_image": None})
        stage.setup()
        stage.process(pairs()[:4], ctx)  # warm-up
        stages[batch_size] = stage

    def run(batch_size: int) -> dict:
        samples = pairs()
        for sample in samples:  # decode outside the timed region: both settings start from the same PIL images
            sample.image("source"), sample.image("edited")
        began = time.perf_counter()
        stages[batch_size].process(samples, ctx)
        seconds = time.perf_counter() - began
        scores[batch_size] = np.array([[s.scores[k] for k in sorted(s.scores)] for s in samples])
        return {"seconds": seconds}

    replies = interleave({"one at a time": lambda i: run(1), "batched 32": lambda i: run(32)}, repeats, log=log)
    one, batched = (summary([r["seconds"] for r in replies[k]], 3) for k in ("one at a time", "batched 32"))
    images = 2 * n
    return {"pairs": n, "images": images, "image_size": 512, "encoder": "random CLIP, 224 px, patch 32, 2 layers",
            "one_at_a_time": {"seconds": one, "images_per_second_median": round(images / one["median"], 2)},
            "batched_32": {"seconds": batched, "images_per_second_median": round(images / batched["median"], 2)},
            "speedup": ratio(one, batched), "max_abs_score_difference": float(np.abs(scores[1] - scores[32]).max())}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--n", type=int, default=None, help="toyworld items per job (default 1200, quick 96)")
    parser.add_argument("--shard-size", type=int, default=None, help="items per shard (default 100, quick 16)")
    parser.add_argument("--clip-pairs", type=int, default=None, help="pairs for the CLIP filter (default 256, quick 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed jobs per setting, interleaved (at least 5)")
    parser.add_argument("--skip-ray", action="store_true")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n = args.n or (96 if args.quick else 1200)
    shard_size = args.shard_size or (16 if args.quick else 100)
    if args.worker:
        distributor, processes = args.worker.split(":")
        return toyworld_worker(distributor, int(processes), shard_size, args.folder)
    if args.repeats < 5:
        parser.error("--repeats must be at least 5")
    clip_pairs = args.clip_pairs or (16 if args.quick else 256)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = header("data_speed", argv, args.quick)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for distributor in ("local",) + (() if args.skip_ray else ("ray",)):
            rows += toyworld_pair(distributor, n, shard_size, folder, args.repeats, log)
        clip = clip_filter_throughput(clip_pairs, folder, args.repeats, log)
    two = {r["distributor"]: r["speedup_vs_1_worker"]["median"] for r in rows if r["workers"] == 2}
    result.update({
        "repeats": args.repeats, "toyworld_preset": "toyworld (64x64)", "toyworld": rows, "clip_filter": clip,
        "target": {"two_workers_speedup_at_least": TARGET,
                   "met": {d: bool(v >= TARGET) for d, v in two.items()},
                   "ceiling_on_this_machine": float(min(2, os.cpu_count() or 1))},
    })
    finish(result)
    print("| toyworld | workers | pairs | s / job (median, min-max) | pairs/s | speed-up | busy workers | start-up s |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in rows:
        s, sp = r["seconds"], r.get("speedup_vs_1_worker", {"median": 1.0, "low": 1.0, "high": 1.0})
        print(f"| {r['distributor']} | {r['workers']} | {r['pairs']} | {s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f}) | "
              f"{r['pairs_per_second_median']:.1f} | {sp['median']:.2f}x ({sp['low']}-{sp['high']}) | "
              f"{r['busy_workers_median']:.2f} | {r['startup_and_warmup_seconds']:.1f} |")
    print(f"\n| clip-filter ({clip['images']} images) | s (median) | images/s |\n|---|---|---|")
    print(f"| one at a time | {clip['one_at_a_time']['seconds']['median']:.2f} | "
          f"{clip['one_at_a_time']['images_per_second_median']:.1f} |")
    print(f"| batched (32) | {clip['batched_32']['seconds']['median']:.2f} | "
          f"{clip['batched_32']['images_per_second_median']:.1f} |")
    verdicts = ", ".join(f"{d} {v:.2f}x {'met' if v >= TARGET else 'MISSED'}" for d, v in two.items())
    print(f"\nbatched CLIP filter {clip['speedup']['median']}x (max score difference "
          f"{clip['max_abs_score_difference']:.1e}); 2 workers >= {TARGET}x: {verdicts} on {os.cpu_count()} CPUs")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
