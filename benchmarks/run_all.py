"""Run the performance benchmarks, or regenerate the README's numbers from their committed JSON.

Each benchmark script prints its own Markdown table and writes `benchmarks/results/<name>.json`
(with the command that reproduces it, the machine and the load average).

    python benchmarks/run_all.py                  # all, full size, one after another
    python benchmarks/run_all.py --quick          # smoke-test sizes
    python benchmarks/run_all.py --only edit_speed,metrics_speed
    python benchmarks/run_all.py --readme         # README.md's numbers block from benchmarks/results/*.json
    python benchmarks/run_all.py --readme --check # exit 1 if README.md's block is not what the JSON gives

`--readme` rewrites only what lies between `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->`
in README.md; every number in it comes from a results file, missed targets are shown as missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
#: run order: cheap first, so a broken long one does not hide the others
BENCHMARKS = ("toyworld_speed", "metrics_speed", "data_speed", "train_speed", "edit_speed", "toyworld_model")


# ----------------------------------------------------------------------------- README block


def _machine(result: dict[str, Any]) -> str:
    m = result.get("machine") or {}
    if "cpu_model" not in m:
        return "not recorded"
    where = f"{m['cpu_model']}, {m.get('cpus_usable', m.get('cpu_count'))} cores"
    if m.get("gpu"):
        where += f", {m['gpu']}"
    load = result.get("load_average_start")
    if load:
        where += f"; load {load[0]:.1f} at start"
    return where


def _range(r: dict[str, float]) -> str:
    return f"**{r['median']}x** (range {r['low']}-{r['high']}x)"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def edit_speed_row(r: dict[str, Any]) -> tuple[str, str]:
    parts, what = [], []
    unet = r.get("unet")
    if unet:
        d, e = unet["diffusers"], unet["editlab"]
        what.append(f"whole edits, {unet['model']} at {e['image_size']} px, {unet['edits_per_side']} a side: "
                    f"diffusers' IP2P pipeline defaults ({d['steps']} steps, {d['unet_evaluations_per_edit']} UNet "
                    f"evaluations) vs editlab's ({e['steps']} {e['scheduler']} steps, {e['unet_evaluations_per_edit']})")
        parts.append(f"{_range(unet['speedup'])} less time per edit ({d['seconds_per_edit']['median']:.3f} s vs "
                     f"{e['seconds_per_edit']['median']:.3f} s); random weights, so a cost ratio only, no quality claim")
        if "SD 1.5" not in unet["model"]:
            parts.append("the SD 1.5-size UNet is not timed end to end on this machine (one edit at diffusers' "
                         "defaults takes over an hour on 2 cores): `--unet sd15` on a GPU")
    toy = r.get("toyworld")
    if toy and "skipped" not in toy:
        what.append(f"toyworld, {toy['cases']} held-out cases, same cases and guidance on every side")
        rows = []
        for name in ("diffusers-ip2p", "editlab-ip2p", "editlab-editor"):
            side = toy[name]
            rows.append(f"{name} {side['seconds_per_edit']['median']:.3f} s, oracle {100 * side['oracle_success']:.0f}%, "
                        f"L1 {side['l1_to_target']:.3f}")
        speed = toy["speedup_vs_diffusers"]
        parts.append("; ".join(rows) + f" (editlab-ip2p {speed['editlab-ip2p']['median']}x faster than diffusers "
                     f"on the same model, the one-step editor {speed['editlab-editor']['median']}x)")
    return "; ".join(what), "; ".join(parts)


def metrics_speed_row(r: dict[str, Any]) -> tuple[str, str]:
    diff = max(r["max_abs_difference"].values())
    what = (f"batched L1/CLIP-I/DINO vs MagicBrush's own evaluation loop (independent preprocessing), "
            f"{r['pairs']} pairs of {r['image_size']} px, random encoders, on {r['device']} ({r['device_name']})")
    result = (f"{_range(r['speedup'])}; largest score difference {diff:.1e}; target >= "
              f"{r['targets']['speedup_at_least']:g}x and <= 1e-5: {_verdict(r['target_met'])}")
    return what, result


def data_speed_row(r: dict[str, Any]) -> tuple[str, str]:
    twos = [row for row in r["toyworld"] if row["workers"] == 2]
    target = r["target"]
    parts = [f"{row['distributor']} {_range(row['speedup_vs_1_worker'])} "
             f"({_verdict(target['met'][row['distributor']])})" for row in twos]
    clip = r["clip_filter"]
    what = (f"toyworld pairs/s, 1 vs 2 workers (local and Ray), {twos[0]['items']} items a job, "
            f"{r['repeats']} interleaved jobs a side; batched vs single CLIP filter")
    result = (f"2 workers: {', '.join(parts)} against a target of {target['two_workers_speedup_at_least']}x "
              f"(ceiling {target['ceiling_on_this_machine']:g}x on this machine); batched CLIP filter "
              f"{_range(clip['speedup'])}")
    return what, result


def train_speed_row(r: dict[str, Any]) -> tuple[str, str]:
    ref, ours = r["sides"]["diffusers_example"], r["sides"]["editlab"]
    what = (f"P2: the diffusers example's training step vs editlab's trainer, same toyworld model, data, batch "
            f"{r['batch_size']} and precision ({ours['mixed_precision']})")
    result = (f"{ours['samples_per_second']['median']} vs {ref['samples_per_second']['median']} samples/s: "
              f"{_range(r['speedup'])}; target >= {r['target']['speedup_at_least']:g}x: {_verdict(r['target']['met'])}; "
              f"peak RSS {ours['peak_rss_mb']:.0f} vs {ref['peak_rss_mb']:.0f} MB; editlab's latent cache takes "
              f"{ours['cache_build_seconds']} s once")
    return what, result


def toyworld_model_row(r: dict[str, Any]) -> tuple[str, str]:
    bits = []
    for name, t in r.get("targets", {}).items():
        as_percent = name.endswith("success")
        measured = f"{100 * t['measured']:.1f}%" if as_percent else f"{t['measured']:.2f}"
        target = f"{100 * t['target']:.0f}%" if as_percent else f"{t['target']:g}"
        bits.append(f"{name.replace('_', ' ')} {measured} (target {target}: {_verdict(t['met'])})")
    seconds = r.get("seconds", {})
    if "latency_one_edit" in seconds:
        bits.append(f"{1000 * seconds['latency_one_edit']:.0f} ms per edit")
    if "model_megabytes" in r:
        bits.append(f"{r['model_megabytes']} MB")
    return ("the shipped toyworld editor scored by the oracle against the toyworld-model issue's targets",
            "; ".join(bits))


ROWS = {"edit_speed": edit_speed_row, "metrics_speed": metrics_speed_row, "data_speed": data_speed_row,
        "train_speed": train_speed_row, "toyworld_model": toyworld_model_row}


def readme_block(results: Path = RESULTS) -> str:
    lines = [START,
             "<!-- generated by `python benchmarks/run_all.py --readme` from benchmarks/results/*.json; "
             "edit those, not this -->",
             "",
             "| benchmark | what | result | reproduce | measured on |",
             "|---|---|---|---|---|"]
    for name, row in ROWS.items():
        path = results / f"{name}.json"
        if not path.is_file():
            lines.append(f"| `{name}` | - | not measured yet | `python benchmarks/{name}.py` | - |")
            continue
        result = json.loads(path.read_text())
        try:
            what, text = row(result)
        except (KeyError, TypeError, IndexError) as exc:
            what, text = "-", f"results file predates the current script ({type(exc).__name__}: {exc}); rerun it"
        if result.get("quick"):
            text = "quick (smoke-test) run, not a measurement: " + text
        command = result.get("command", f"python benchmarks/{name}.py")
        when = (result.get("started") or result.get("timestamp") or "")[:10]
        lines.append(f"| `{name}` | {what} | {text} | `{command}` | {_machine(result)}{', ' + when if when else ''} |")
    lines.append(END)
    return "\n".join(lines)


def update_readme(check: bool) -> int:
    text = README.read_text()
    if START not in text or END not in text:
        print(f"{README} has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + readme_block() + tail
    if check:
        if new != text:
            print("README.md's benchmark block is out of date: run python benchmarks/run_all.py --readme",
                  file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new)
        print(f"updated {README}")
    return 0


# ----------------------------------------------------------------------------- running


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke-test sizes")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--readme", action="store_true", help="regenerate README.md's numbers from the results JSON")
    parser.add_argument("--check", action="store_true", help="with --readme: only check that it is up to date")
    parser.add_argument("--out", default=str(RESULTS), help=argparse.SUPPRESS)  # kept for `make bench`
    args = parser.parse_args()
    if args.readme:
        return update_readme(args.check)
    names = [n for n in (args.only.split(",") if args.only else BENCHMARKS) if n]
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
    failures, rows = [], []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            rows.append((name, "missing", 0.0))
            continue
        print(f"\n## {name}\n", flush=True)
        start = time.perf_counter()
        extra = ["--quick"] if args.quick else []
        if args.quick and '"--out"' in script.read_text():  # smoke runs never overwrite the committed results
            extra += ["--out", str(Path(args.out if args.out != str(RESULTS) else "/tmp/editlab-bench-quick") / f"{name}.json")]
        code = subprocess.call([sys.executable, str(script), *extra], env=env)
        seconds = time.perf_counter() - start
        rows.append((name, "ok" if code == 0 else f"exit {code}", seconds))
        if code != 0:
            failures.append(name)
    print("\n| benchmark | status | seconds | results |\n|---|---|---|---|")
    for name, status, seconds in rows:
        result = RESULTS / f"{name}.json"
        print(f"| {name} | {status} | {seconds:.0f} | {result if result.exists() else '-'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
