"""Edit speed: editlab's defaults vs diffusers' StableDiffusionInstructPix2PixPipeline defaults.

Part 1, SD1.5-size UNet (random weights, 8 input channels, 512x512 -> 64x64 latents): the
denoising cost of one edit both ways; peak RSS from `resource.getrusage` in one process per
configuration (model construction + a batch-3 call), timings in one process with the calls of
both configurations interleaved (fair under load from other processes):
  - diffusers default: fp32, 100 steps x 3 guidance branches (one batch-3 UNet call per step);
  - editlab default: bf16 + channels-last on CPUs with native bf16, `EditExtras()` defaults
    (20 DPM++ 2M steps; all three branches for the first 80% of the steps, the conditioned branch
    alone after), the same schedule code the pipeline runs (`guidance_branches`).
  The time of a UNet call of each batch size is measured (after a warm-up call) and the edit's
  time is the sum over its schedule: 100 fp32 batch-3 calls take most of an hour on 2 cores, so
  the calls are timed, not the whole loop (scheduler arithmetic is negligible next to them).
Part 2, the toyworld model (src/editlab/assets/toyworld-model): seconds per edit and toyworld
  oracle success on the same 100 held-out cases, diffusers' pipeline with its defaults vs
  editlab's editor with its defaults. Skipped with a note until the model and oracle exist.

Prints a Markdown table and writes benchmarks/results/edit_speed.json atomically.

    python benchmarks/edit_speed.py            # full (several minutes on 2 CPU cores)
    python benchmarks/edit_speed.py --quick    # tiny UNet, 8 toyworld cases (smoke test)
    python benchmarks/edit_speed.py --skip-unet --tune   # choose the default extras on the toyworld model
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

RESULTS = Path(__file__).parent / "results" / "edit_speed.json"
SD15_UNET = dict(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768, attention_head_dim=8,
                 layers_per_block=2, block_out_channels=(320, 640, 1280, 1280))
TINY_UNET = dict(sample_size=32, in_channels=8, out_channels=4, cross_attention_dim=32, layers_per_block=2,
                 block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"))
DIFFUSERS_STEPS = 100


# ----------------------------------------------------------------------------- part 1: SD1.5-size UNet


def build_unet(config: str, quick: bool):
    """The UNet as each configuration loads it: fp32 for diffusers; for editlab the dtype
    `optimize_for_inference("auto")` picks, created directly in it (as `load_ip2p_pipeline` loads it)."""
    import torch
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    from editlab.pipelines.instruct_pix2pix import _choose_unet_dtype

    arch = TINY_UNET if quick else SD15_UNET
    with init_empty_weights():  # the same decision as optimize_for_inference("auto"), before any weight exists
        chosen = _choose_unet_dtype("auto", torch.device("cpu"), UNet2DConditionModel(**arch))
    fast_bf16 = config == "editlab" and chosen == torch.bfloat16
    dtype = torch.bfloat16 if fast_bf16 else torch.float32
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        unet = UNet2DConditionModel(**arch).eval()
    finally:
        torch.set_default_dtype(previous)
    if fast_bf16:
        unet = unet.to(memory_format=torch.channels_last)
    return unet, dtype, fast_bf16


def unet_call(unet, dtype, channels_last: bool, batch: int, quick: bool):
    import torch

    arch = TINY_UNET if quick else SD15_UNET
    side = arch["sample_size"]
    sample = torch.randn(batch, 8, side, side).to(dtype)
    if channels_last:
        sample = sample.contiguous(memory_format=torch.channels_last)
    text = torch.randn(batch, 77, arch["cross_attention_dim"]).to(dtype)

    def call() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            unet(sample, 500, encoder_hidden_states=text)
        return time.perf_counter() - start

    return call


def child_memory(config: str, quick: bool) -> dict[str, Any]:
    """Peak RSS of one configuration on its own: build its UNet, run its largest call (batch 3)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    unet, dtype, channels_last = build_unet(config, quick)
    unet_call(unet, dtype, channels_last, 3, quick)()
    return {"config": config, "dtype": str(dtype).replace("torch.", ""), "channels_last": channels_last,
            "parameters_m": round(sum(p.numel() for p in unet.parameters()) / 1e6, 1),
            "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3)}


def child_timing(quick: bool, repeats: int) -> dict[str, Any]:
    """Both configurations in one process, calls interleaved, so that load from other processes on
    the machine falls on both alike; each number is the median of `repeats` calls after a warm-up."""
    import statistics

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    calls = {}
    for config, batches in (("diffusers", (3,)), ("editlab", (3, 1))):
        unet, dtype, channels_last = build_unet(config, quick)
        for batch in batches:
            calls[(config, batch)] = unet_call(unet, dtype, channels_last, batch, quick)
    for call in calls.values():
        call()  # warm-up: oneDNN picks and caches its kernels
    samples: dict[tuple[str, int], list[float]] = {key: [] for key in calls}
    for _ in range(repeats):
        for key, call in calls.items():
            samples[key].append(call())
    return {f"{config}:{batch}": {"median": statistics.median(values), "all": values}
            for (config, batch), values in samples.items()}


def run_child(args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def editlab_schedule() -> dict[str, Any]:
    """Branches per step under editlab's default extras, from the pipeline's own code."""
    from editlab.pipelines.instruct_pix2pix import EditExtras, InstructPix2PixPipeline

    extras = EditExtras()
    steps = extras.default_steps
    modes = [InstructPix2PixPipeline.guidance_branches(i, steps, 7.5, 1.5, extras) for i in range(steps)]
    return {"steps": steps, "scheduler": extras.scheduler, "guidance_cutoff": extras.guidance_cutoff,
            "calls": {"3": modes.count("full"), "2": modes.count("text"), "1": modes.count("cond")}}


def run_unet_part(quick: bool, repeats: int) -> dict[str, Any]:
    flag = ["--quick"] if quick else []
    memory = {config: run_child(["--child", f"memory:{config}", *flag]) for config in ("diffusers", "editlab")}
    timing = run_child(["--child", "timing", "--repeats", str(repeats), *flag])
    schedule = editlab_schedule()
    ref_call = timing["diffusers:3"]["median"]
    ours_call = {"3": timing["editlab:3"]["median"], "1": timing["editlab:1"]["median"]}
    ref_edit = DIFFUSERS_STEPS * ref_call
    ours_edit = schedule["calls"]["3"] * ours_call["3"] + schedule["calls"]["1"] * ours_call["1"]
    return {
        "model": "tiny UNet (smoke test)" if quick else "SD1.5-size UNet, random weights, 8 input channels",
        "resolution": 64 if quick else 512,
        "diffusers_default": {**memory["diffusers"], "steps": DIFFUSERS_STEPS, "unet_calls": {"3": DIFFUSERS_STEPS},
                              "seconds_per_unet_call": {"3": ref_call}, "seconds_per_edit": round(ref_edit, 3)},
        "editlab_default": {**memory["editlab"], **schedule, "seconds_per_unet_call": ours_call,
                            "seconds_per_edit": round(ours_edit, 3)},
        "speedup": round(ref_edit / ours_edit, 2),
        "unet_evaluations": {"diffusers": 3 * DIFFUSERS_STEPS,
                             "editlab": 3 * schedule["calls"]["3"] + schedule["calls"]["1"]},
        "timing_samples": timing,
        "rss_target_gb": 6.0,
        "method": "seconds_per_edit = sum over the schedule of the median seconds per UNet call "
                  f"({repeats} interleaved calls per configuration after a warm-up, one process); "
                  "denoising loop only; peak RSS from one process per configuration (build + one batch-3 call)",
    }


# ----------------------------------------------------------------------------- part 2: toyworld model


def run_toyworld_part(cases: int) -> dict[str, Any]:
    from editlab.pipelines.resolve import TOYWORLD_IP2P_MODEL_DIR as TOYWORLD_MODEL_DIR

    if not (TOYWORLD_MODEL_DIR / "model_index.json").is_file():
        return {"skipped": f"the toyworld model is not shipped yet ({TOYWORLD_MODEL_DIR}); train it, then rerun"}
    try:
        from editlab import toyworld

        oracle = toyworld.Oracle()
    except (ImportError, AttributeError) as exc:
        return {"skipped": f"the toyworld oracle is not available yet ({exc})"}
    import torch
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from editlab.editors import get_editor
    from editlab.types import EditRequest

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(TOYWORLD_MODEL_DIR, safety_checker=None,
                                                                  requires_safety_checker=False,
                                                                  torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    side = int(pipe.unet.config.sample_size) * pipe.vae_scale_factor
    examples = list(toyworld.generate_examples(cases, seed=0, split="heldout", width=side, height=side))
    editor = get_editor("toyworld")

    def diffusers_edit(example, seed):
        generator = torch.Generator().manual_seed(seed)
        return pipe(example.instruction, image=example.source, generator=generator).images[0]

    def editlab_edit(example, seed):
        return editor.edit(EditRequest(example.source, example.instruction, seed=seed))

    results = {}
    for name, fn in (("diffusers_default", diffusers_edit), ("editlab_default", editlab_edit)):
        fn(examples[0], 0)  # warm-up
        start, successes = time.perf_counter(), 0
        for i, example in enumerate(examples):
            output = fn(example, i)
            successes += bool(oracle.score(example, output).success)
        results[name] = {"seconds_per_edit": round((time.perf_counter() - start) / len(examples), 4),
                         "oracle_success": round(successes / len(examples), 4)}
    results["speedup"] = round(results["diffusers_default"]["seconds_per_edit"]
                               / results["editlab_default"]["seconds_per_edit"], 2)
    results["success_delta_points"] = round(100 * (results["editlab_default"]["oracle_success"]
                                                   - results["diffusers_default"]["oracle_success"]), 2)
    results["cases"] = len(examples)
    results["editor"] = editor.describe()
    return results


def run_toyworld_tuning(cases: int) -> dict[str, Any]:
    """Oracle success and seconds per edit over solver x steps x guidance cutoff on the toyworld
    model: the measurement editlab's default extras are chosen from (`--tune`)."""
    from editlab.pipelines.resolve import TOYWORLD_IP2P_MODEL_DIR as TOYWORLD_MODEL_DIR

    if not (TOYWORLD_MODEL_DIR / "model_index.json").is_file():
        return {"skipped": f"the toyworld model is not shipped yet ({TOYWORLD_MODEL_DIR})"}
    from editlab import toyworld
    from editlab.editors import get_editor
    from editlab.types import EditRequest

    oracle = toyworld.Oracle()
    editor = get_editor("toyworld")
    side = int(editor.pipeline.unet.config.sample_size) * editor.pipeline.vae_scale_factor
    examples = list(toyworld.generate_examples(cases, seed=1, split="test", width=side, height=side))
    rows = []
    for scheduler in ("dpm++2m", "unipc", "euler-ancestral"):
        for steps in (10, 20, 30):
            for cutoff in (0.6, 0.8, 1.0):
                params = {"scheduler": scheduler, "num_inference_steps": steps, "guidance_cutoff": cutoff}
                start, successes = time.perf_counter(), 0
                for i, example in enumerate(examples):
                    output = editor.edit(EditRequest(example.source, example.instruction, seed=i, params=params))
                    successes += bool(oracle.score(example, output).success)
                rows.append({**params, "oracle_success": round(successes / len(examples), 4),
                             "seconds_per_edit": round((time.perf_counter() - start) / len(examples), 4)})
                print(json.dumps(rows[-1]), flush=True)
    return {"cases": len(examples), "split": "test", "rows": rows}


# ----------------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    unet = result.get("unet")
    lines = []
    if unet:
        ref, ours = unet["diffusers_default"], unet["editlab_default"]
        lines += [
            f"### {unet['model']} at {unet['resolution']}x{unet['resolution']}",
            "",
            "| configuration | dtype | steps | UNet evals | s / UNet call (batch 3) | s / edit (denoising) | peak RSS GB |",
            "|---|---|---|---|---|---|---|",
            f"| diffusers default | {ref['dtype']} | {ref['steps']} | {unet['unet_evaluations']['diffusers']} | "
            f"{ref['seconds_per_unet_call']['3']:.3f} | {ref['seconds_per_edit']:.2f} | {ref['peak_rss_gb']:.2f} |",
            f"| editlab default | {ours['dtype']}{' + channels-last' if ours['channels_last'] else ''} | "
            f"{ours['steps']} ({ours['scheduler']}) | {unet['unet_evaluations']['editlab']} | "
            f"{ours['seconds_per_unet_call']['3']:.3f} | {ours['seconds_per_edit']:.2f} | {ours['peak_rss_gb']:.2f} |",
            "",
            f"speed-up **{unet['speedup']}x** (target >= 5x); editlab peak RSS {ours['peak_rss_gb']:.2f} GB "
            f"(target <= {unet['rss_target_gb']} GB)",
            "",
        ]
    toy = result.get("toyworld", {})
    if "skipped" in toy:
        lines += ["### toyworld model", "", f"skipped: {toy['skipped']}", ""]
    elif toy:
        lines += [
            f"### toyworld model, {toy['cases']} held-out cases",
            "",
            "| configuration | s / edit | oracle success |",
            "|---|---|---|",
            f"| diffusers default | {toy['diffusers_default']['seconds_per_edit']:.3f} | "
            f"{toy['diffusers_default']['oracle_success']:.3f} |",
            f"| editlab default | {toy['editlab_default']['seconds_per_edit']:.3f} | "
            f"{toy['editlab_default']['oracle_success']:.3f} |",
            "",
            f"speed-up **{toy['speedup']}x**, success change {toy['success_delta_points']:+.1f} points "
            "(target: >= 5x, within 1 point)",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny UNet, 8 toyworld cases (smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--repeats", type=int, default=None, help="timed UNet calls per configuration (default 3; 5 quick)")
    parser.add_argument("--cases", type=int, default=None, help="toyworld cases (default 100; 8 quick)")
    parser.add_argument("--skip-unet", action="store_true")
    parser.add_argument("--skip-toyworld", action="store_true")
    parser.add_argument("--tune", action="store_true",
                        help="also grid solver x steps x guidance cutoff on the toyworld model (test split)")
    parser.add_argument("--child", choices=("memory:diffusers", "memory:editlab", "timing"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 3)
    if args.child == "timing":
        print(json.dumps(child_timing(args.quick, repeats)))
        return 0
    if args.child:
        print(json.dumps(child_memory(args.child.split(":")[1], args.quick)))
        return 0

    import diffusers
    import torch

    from editlab import __version__
    from editlab.io import write_json

    result: dict[str, Any] = {
        "benchmark": "edit_speed",
        "quick": args.quick,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
        "versions": {"editlab": __version__, "torch": torch.__version__, "diffusers": diffusers.__version__,
                     "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if not args.skip_unet:
        result["unet"] = run_unet_part(args.quick, repeats)
    elif Path(args.out).is_file():
        # keep the (slow) SD1.5-size part of an earlier full run, marked as such
        earlier = json.loads(Path(args.out).read_text())
        if "unet" in earlier:
            result["unet"] = {**earlier["unet"], "from_earlier_run": earlier.get("started")}
    if not args.skip_toyworld:
        result["toyworld"] = run_toyworld_part(args.cases or (8 if args.quick else 100))
    if args.tune:
        result["toyworld_tuning"] = run_toyworld_tuning(args.cases or (8 if args.quick else 50))
    print(markdown(result))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
