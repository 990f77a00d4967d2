"""Edit speed: whole edits, end to end, diffusers' pipeline with its defaults vs editlab's.

Every number is the wall time of complete edits (prompt encoding, image encoding, the denoising
loop, decoding, post-processing) as a user waits for them, each side in its own warm process,
the sides interleaved edit by edit (order alternating each round, see `_timing.py`), medians and
spreads over all edits; nothing is reused from an earlier run.

Part 1, random UNet (`--unet tiny`, the default; `--unet sd15` for SD 1.5 geometry at 512x512):
  diffusers' `StableDiffusionInstructPix2PixPipeline` at its defaults (100 steps of the model's
  scheduler, three guidance branches every step, fp32) vs editlab's `InstructPix2PixPipeline`
  at its defaults (`EditExtras()`: 20 DPM++ 2M steps, all three branches for the first 80% of the
  steps and the conditioned one after, `optimize_for_inference("auto")`), on the same random
  components, the same images and instructions, guidance 7.5 / 1.5 on both sides. The weights are
  random, so this is a **cost ratio only**: it says nothing about the quality of either side's
  edits. The UNet evaluations per edit are counted on both sides (most of the ratio is 300 vs 52
  of them). An SD 1.5-size edit at diffusers' defaults takes over an hour on a 2-core CPU, so
  `--unet sd15` is for machines with a GPU or many cores.
Part 2, toyworld (the same held-out cases for every side, the oracle's verdict and L1 to the
  target beside the time):
  - diffusers' pipeline loading the `toyworld-ip2p` diffusion model folder, its default 100 steps;
  - editlab's `toyworld-ip2p` editor with its defaults (the same model, 20 steps, guidance cut-off);
  - editlab's default `toyworld` editor (the one-step network, `editlab.pipelines.toyworld_editor`).
  Both diffusion sides use the same guidance, the model's own defaults (text 2.0, image 1.0).

    python benchmarks/edit_speed.py                 # tiny UNet (8 edits a side) + 24 toyworld cases
    python benchmarks/edit_speed.py --quick         # 5 edits a side, 5 toyworld cases (smoke test)
    python benchmarks/edit_speed.py --unet sd15 --repeats 5 --skip-toyworld   # on a GPU machine
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Worker, finish, header, interleave, ratio, serve, summary, write_result  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "edit_speed.json"
GUIDANCE = (7.5, 1.5)  # diffusers' pipeline defaults, used on both sides of part 1
WORDS = ["make", "the", "square", "red", "blue", "turn", "it", "into", "green", "yellow"]


# ----------------------------------------------------------------------------- components


def random_components(unet: str) -> dict[str, Any]:
    """The same random components in every process (fixed seeds)."""
    if unet == "tiny":
        from editlab.pipelines.tiny import tiny_ip2p_components

        return tiny_ip2p_components(seed=0)
    import torch
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from editlab.pipelines.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer(max_length=77)
    torch.manual_seed(0)
    unet_model = UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=4, cross_attention_dim=768,
                                      attention_head_dim=8, layers_per_block=2,
                                      block_out_channels=(320, 640, 1280, 1280))
    torch.manual_seed(1)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=512)
    torch.manual_seed(2)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=len(tokenizer), hidden_size=768, intermediate_size=3072,
                                                num_hidden_layers=12, num_attention_heads=12,
                                                max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                                                pad_token_id=2))
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                num_train_timesteps=1000)
    return {"unet": unet_model.eval(), "vae": vae.eval(), "text_encoder": text_encoder.eval(), "tokenizer": tokenizer,
            "scheduler": scheduler}


def round_inputs(index: int, side: int):
    """Round `index`'s image and instruction: different every round (no cache hit across rounds),
    the same for every side."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(1000 + index)
    small = rng.integers(0, 256, (max(side // 16, 2), max(side // 16, 2), 3), dtype=np.uint8)
    image = Image.fromarray(small).resize((side, side), Image.BICUBIC)
    words = [WORDS[i] for i in rng.integers(0, len(WORDS), 5)]
    return image, " ".join(words)


class UNetCounter:
    """Counts UNet forward calls and the samples they evaluate (a batch-3 call = 3 evaluations)."""

    def __init__(self, unet):
        self.calls = self.evaluations = 0
        unet.register_forward_pre_hook(self._hook)

    def _hook(self, _module, args):
        self.calls += 1
        self.evaluations += int(args[0].shape[0])

    def take(self) -> dict[str, int]:
        out = {"unet_calls": self.calls, "unet_evaluations": self.evaluations}
        self.calls = self.evaluations = 0
        return out


# ----------------------------------------------------------------------------- part 1 workers


def unet_worker(side: str, unet: str) -> int:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    components = random_components(unet)
    if side == "diffusers":
        from diffusers import StableDiffusionInstructPix2PixPipeline

        pipe = StableDiffusionInstructPix2PixPipeline(**components, safety_checker=None, feature_extractor=None,
                                                      requires_safety_checker=False).to(device)
        runtime: dict[str, Any] = {"unet_dtype": "float32", "channels_last": False, "steps": 100,
                                   "scheduler": type(pipe.scheduler).__name__}
    else:
        from editlab.pipelines.instruct_pix2pix import InstructPix2PixPipeline

        pipe = InstructPix2PixPipeline(**components).to(device)
        runtime = {**pipe.optimize_for_inference("auto"), "steps": pipe.extras.default_steps,
                   "scheduler": pipe.extras.scheduler, "guidance_cutoff": pipe.extras.guidance_cutoff}
    pipe.set_progress_bar_config(disable=True)
    counter = UNetCounter(pipe.unet)
    side_px = int(pipe.unet.config.sample_size) * pipe.vae_scale_factor

    def edit(index: int) -> dict[str, Any]:
        image, prompt = round_inputs(index, side_px)
        generator = torch.Generator().manual_seed(index)
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        # no num_inference_steps: each side at its own default step count
        out = pipe(prompt, image=image, guidance_scale=GUIDANCE[0], image_guidance_scale=GUIDANCE[1],
                   generator=generator).images[0]
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "size": list(out.size), **counter.take()}

    def describe() -> dict[str, Any]:
        return {**runtime, "device": device, "image_size": side_px,
                "unet_parameters_m": round(sum(p.numel() for p in pipe.unet.parameters()) / 1e6, 2)}

    return serve({"edit": edit, "describe": describe})


def run_unet_part(unet: str, repeats: int, log) -> dict[str, Any]:
    script = Path(__file__).resolve()
    env = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    with Worker("unet:diffusers", script, ["--unet", unet], env) as ref, \
            Worker("unet:editlab", script, ["--unet", unet], env) as ours:
        sides = {"diffusers": ref, "editlab": ours}
        for worker in sides.values():
            worker.request("edit", index=-1)  # warm-up: kernels chosen, allocator grown
        replies = interleave({name: (lambda i, w=w: w.request("edit", index=i)) for name, w in sides.items()},
                             repeats, log=log)
        described = {name: {**w.request("describe"), **w.request("memory")} for name, w in sides.items()}
    out: dict[str, Any] = {
        "model": {"tiny": "diffusers' test-size UNet (block_out_channels 32, 64), random weights",
                  "sd15": "SD 1.5-size UNet, VAE and 12-layer text encoder, random weights"}[unet],
        "what_it_measures": "cost ratio only: the weights are random, so neither side's edits have a quality",
        "guidance": {"guidance_scale": GUIDANCE[0], "image_guidance_scale": GUIDANCE[1], "same_on_both_sides": True},
        "edits_per_side": repeats,
    }
    for name in sides:
        seconds = summary([r["seconds"] for r in replies[name]])
        out[name] = {**described[name], "seconds_per_edit": seconds,
                     "unet_calls_per_edit": replies[name][0]["unet_calls"],
                     "unet_evaluations_per_edit": replies[name][0]["unet_evaluations"]}
    out["speedup"] = ratio(out["diffusers"]["seconds_per_edit"], out["editlab"]["seconds_per_edit"])
    out["unet_evaluations_ratio"] = round(out["diffusers"]["unet_evaluations_per_edit"]
                                          / out["editlab"]["unet_evaluations_per_edit"], 2)
    return out


# ----------------------------------------------------------------------------- part 2 workers

TOY_SIDES = ("diffusers-ip2p", "editlab-ip2p", "editlab-editor")


def toyworld_cases(n: int):
    from editlab import toyworld

    return list(toyworld.generate_examples(n, seed=0, split="heldout"))


def toyworld_worker(side: str, cases: int) -> int:
    import numpy as np
    import torch

    from editlab import toyworld
    from editlab.editors import get_editor
    from editlab.pipelines.resolve import TOYWORLD_IP2P_MODEL_DIR
    from editlab.types import EditRequest

    torch.set_num_threads(os.cpu_count() or 1)
    examples = toyworld_cases(cases)
    warmup = next(iter(toyworld.generate_examples(1, seed=99, split="heldout")))
    oracle = toyworld.Oracle()
    ip2p_editor = get_editor("toyworld-ip2p")
    defaults = ip2p_editor.describe()["defaults"]  # the model's own guidance, used by both diffusion sides
    guidance = (float(defaults["guidance_scale"]), float(defaults["image_guidance_scale"]))
    if side == "diffusers-ip2p":
        from diffusers import StableDiffusionInstructPix2PixPipeline

        pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(
            TOYWORLD_IP2P_MODEL_DIR, safety_checker=None, requires_safety_checker=False, dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)
        del ip2p_editor
        info = {"runs": "diffusers StableDiffusionInstructPix2PixPipeline.from_pretrained(toyworld-ip2p folder)",
                "steps": 100, "scheduler": type(pipe.scheduler).__name__, "guidance_scale": guidance[0],
                "image_guidance_scale": guidance[1]}

        def run(example, seed):
            generator = torch.Generator().manual_seed(seed)
            return pipe(example.instruction, image=example.source, guidance_scale=guidance[0],
                        image_guidance_scale=guidance[1], generator=generator).images[0]
    else:
        editor = ip2p_editor if side == "editlab-ip2p" else get_editor("toyworld")
        described = editor.describe()
        info = {"runs": f"editlab get_editor({'toyworld-ip2p' if side == 'editlab-ip2p' else 'toyworld'!r}) defaults",
                "defaults": described.get("defaults"), "extras": described.get("extras"),
                "backend": described.get("backend")}

        def run(example, seed):
            return editor.edit(EditRequest(example.source, example.instruction, seed=seed))

    def case(index: int) -> dict[str, Any]:
        example = examples[index]
        start = time.perf_counter()
        output = run(example, index)
        seconds = time.perf_counter() - start
        score = oracle.score(example, output)
        a = np.asarray(output.convert("RGB").resize(example.target.size), np.float32) / 255
        b = np.asarray(example.target.convert("RGB"), np.float32) / 255
        return {"seconds": seconds, "success": bool(score.success), "l1": float(np.abs(a - b).mean()),
                "task": example.task}

    run(warmup, 0)  # warm-up outside the timed cases
    return serve({"case": case, "describe": lambda: info})


def run_toyworld_part(cases: int, log) -> dict[str, Any]:
    from editlab.pipelines.resolve import TOYWORLD_IP2P_MODEL_DIR, TOYWORLD_MODEL_DIR

    for folder in (TOYWORLD_IP2P_MODEL_DIR, TOYWORLD_MODEL_DIR):
        if not (folder / "model_index.json").is_file():
            return {"skipped": f"{folder} is missing; train it, then rerun"}
    script = Path(__file__).resolve()
    env = {"OMP_NUM_THREADS": str(os.cpu_count() or 1)}
    workers = {name: Worker(f"toyworld:{name}", script, ["--cases", str(cases)], env) for name in TOY_SIDES}
    try:
        replies = interleave({name: (lambda i, w=w: w.request("case", index=i)) for name, w in workers.items()},
                             cases, log=log)
        described = {name: {**w.request("describe"), **w.request("memory")} for name, w in workers.items()}
    finally:
        for worker in workers.values():
            worker.close()
    out: dict[str, Any] = {"cases": cases, "split": "heldout", "seed": 0,
                           "guidance": "both diffusion sides at the toyworld-ip2p model's own defaults "
                                       "(text 2.0, image 1.0); the one-step editor has no guidance"}
    for name in TOY_SIDES:
        rows = replies[name]
        out[name] = {**described[name], "seconds_per_edit": summary([r["seconds"] for r in rows]),
                     "oracle_success": round(sum(r["success"] for r in rows) / len(rows), 4),
                     "l1_to_target": round(sum(r["l1"] for r in rows) / len(rows), 4)}
    ref = out["diffusers-ip2p"]["seconds_per_edit"]
    out["speedup_vs_diffusers"] = {name: ratio(ref, out[name]["seconds_per_edit"]) for name in TOY_SIDES[1:]}
    return out


# ----------------------------------------------------------------------------- report


def markdown(result: dict[str, Any]) -> str:
    lines = []
    unet = result.get("unet")
    if unet:
        lines += [f"### {unet['model']}, {unet['editlab']['image_size']} px, {unet['edits_per_side']} edits a side "
                  "(cost ratio only)", "",
                  "| side | steps | UNet evals / edit | dtype | s / edit (median, min-max) | peak RSS MB |",
                  "|---|---|---|---|---|---|"]
        for name in ("diffusers", "editlab"):
            row, s = unet[name], unet[name]["seconds_per_edit"]
            lines.append(f"| {name} | {row['steps']} ({row['scheduler']}) | {row['unet_evaluations_per_edit']} | "
                         f"{row['unet_dtype']} | {s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f}) | "
                         f"{row['peak_rss_mb']:.0f} |")
        sp = unet["speedup"]
        lines += ["", f"editlab {sp['median']}x less time per edit (range {sp['low']}-{sp['high']}x); "
                      f"{unet['unet_evaluations_ratio']}x fewer UNet evaluations", ""]
    toy = result.get("toyworld")
    if toy and "skipped" in toy:
        lines += ["### toyworld", "", f"skipped: {toy['skipped']}", ""]
    elif toy:
        lines += [f"### toyworld, {toy['cases']} held-out cases, same cases every side", "",
                  "| side | s / edit (median, min-max) | oracle success | L1 to target | speed-up |",
                  "|---|---|---|---|---|"]
        for name in TOY_SIDES:
            row, s = toy[name], toy[name]["seconds_per_edit"]
            speed = toy["speedup_vs_diffusers"].get(name, {"median": 1.0})["median"]
            lines.append(f"| {name} | {s['median']:.4f} ({s['min']:.4f}-{s['max']:.4f}) | {row['oracle_success']:.3f} | "
                         f"{row['l1_to_target']:.4f} | {speed}x |")
        lines += ["", toy["guidance"], ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 edits a side, 5 toyworld cases (smoke test)")
    parser.add_argument("--unet", choices=("tiny", "sd15"), default="tiny")
    parser.add_argument("--repeats", type=int, default=None, help="edits per side in part 1 (default 8; quick 5)")
    parser.add_argument("--cases", type=int, default=None, help="toyworld cases (default 24; quick 5)")
    parser.add_argument("--skip-unet", action="store_true")
    parser.add_argument("--skip-toyworld", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 8)
    cases = args.cases or (5 if args.quick else 24)
    if repeats < 5 or cases < 5:
        parser.error("--repeats and --cases must be at least 5")
    if args.worker:
        part, side = args.worker.split(":", 1)
        return unet_worker(side, args.unet) if part == "unet" else toyworld_worker(side, cases)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = header("edit_speed", argv, args.quick)
    if not args.skip_unet:
        result["unet"] = run_unet_part(args.unet, repeats, log)
    if not args.skip_toyworld:
        result["toyworld"] = run_toyworld_part(cases, log)
    finish(result)
    print(markdown(result))
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
