"""Training speed (P2): the diffusers example's training step vs editlab's trainer, side by side.

Same model, data, batch and precision on both sides; samples/s and peak memory for each; the
target is editlab >= 2x the example's samples/s.

- **diffusers example** (`reference_step`): the per-step work of diffusers'
  `examples/instruct_pix2pix/train_instruct_pix2pix.py`, line for line: the batch is built from
  the dataset (its DataLoader step: the images are preprocessed to tensors every step), the
  edited image is VAE-encoded (`latent_dist.sample()`, times the scaling factor) and the source
  image VAE-encoded again (`latent_dist.mode()`) every step, noise and uniform timesteps, the
  frozen text encoder run on the batch's instructions and on the empty prompt, its conditioning
  dropout (one uniform draw: text dropped below 2p, image dropped in [p, 3p)), concatenation,
  `F.mse_loss` against the noise, backward, gradient clipping, AdamW step, LR scheduler step.
  The text encoder and VAE are cast to the mixed-precision dtype as the example does.
- **editlab** (`editlab.train.loop.Trainer.train_step`, the trainer `editlab train` runs): the same
  recipe with its latent cache (source and target latents encoded once, before training; the
  time that takes is reported as `cache_build_seconds`), its text-embedding cache (the text
  encoder is frozen), channels-last, and its CPU attention (`editlab.train.attention`: the scores in
  cache-sized slices; diffusers' SDPA flash kernel is slow on a CPU for this UNet's 32 heads of
  2-4 channels). The example keeps diffusers' default attention (SDPA).

Both sides record wall seconds and CPU seconds per step; with another job on the machine the CPU
seconds (`cpu_speedup`) are the steadier comparison. `--threads 1` also steadies a loaded 2-core
machine (two threads then wait for each other's core).

Model and data: the `toyworld` training preset (configs/train/toyworld.yaml: the preset UNet, its
pixel-space VAE, the toyworld text encoder; 64x64 toyworld examples), with what the example can
do: epsilon prediction, the text encoder frozen, no EMA (the example's defaults), the preset's
default UNet initialisation. Each side is its own warm process (peak memory is its own); they
take turns running `--steps` optimiser steps (order alternating each round, see `_timing.py`).

    python benchmarks/train_speed.py            # batch 32, 5 rounds of 4 steps a side
    python benchmarks/train_speed.py --quick    # batch 8, 5 rounds of 1 step (smoke test)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Worker, finish, header, interleave, ratio, serve, summary, write_result  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results" / "train_speed.json"
CONFIG = REPO / "configs" / "train" / "toyworld.yaml"
TARGET = 2.0


def overrides(side: str, examples: int, batch: int, folder: str) -> dict[str, Any]:
    """The shared set-up, and what differs: editlab runs with its cache and channels-last."""
    shared = {"toyworld_examples": examples, "batch_size": batch, "prediction_type": "epsilon",
              "unet_init": "default", "train_text_encoder": False, "use_ema": False, "vae_steps": 0,
              "eval_every": 0, "export": False, "max_steps": 100_000, "data_workers": 1, "conditioning_dropout": 0.05,
              "gradient_accumulation_steps": 1, "timestep_bias_power": 1.0,
              "output_dir": str(Path(folder) / side), "cache_dir": str(Path(folder) / side / "cache")}
    if side == "editlab":
        return {**shared, "cache": True, "channels_last": True, "attention": "auto"}
    # the example runs diffusers' default attention processor (SDPA), whatever the device
    return {**shared, "cache": False, "channels_last": False, "attention": "sdpa"}


def make_trainer(side: str, examples: int, batch: int, folder: str):
    from editlab.train.config import load_config
    from editlab.train.loop import Trainer

    config = load_config(CONFIG, overrides(side, examples, batch, folder))
    trainer = Trainer(config, log=lambda _: None)
    start = time.perf_counter()
    trainer.setup()
    setup = time.perf_counter() - start
    return trainer, setup


def timed(step: Any, n: int) -> dict[str, Any]:
    """Wall seconds, and this process's CPU seconds (less sensitive to other load on the machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return {"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu}


def attention_of(unet: Any) -> str:
    return ", ".join(sorted({type(p).__name__ for p in unet.attn_processors.values()}))


def editlab_worker(examples: int, batch: int, folder: str, threads: int) -> int:
    import torch

    torch.set_num_threads(threads)
    trainer, setup = make_trainer("editlab", examples, batch, folder)
    start = time.perf_counter()
    trainer._maybe_build_cache()
    cache = time.perf_counter() - start

    def step() -> None:
        trainer.train_step()
        trainer.state.step += 1

    def steps(n: int) -> dict[str, Any]:
        return timed(step, n)

    def describe() -> dict[str, Any]:
        return {"setup_seconds": round(setup, 2), "cache_build_seconds": round(cache, 2),
                "mixed_precision": trainer.mixed_precision, "parameters": trainer.parts.parameter_counts(),
                "resolution": trainer.config.resolution, "batch_size": trainer.config.batch_size,
                "attention": attention_of(trainer.unet), "threads": torch.get_num_threads()}

    return serve({"steps": steps, "describe": describe})


def reference_worker(examples: int, batch: int, folder: str, threads: int) -> int:
    """The example's step on the trainer's own components (same init, same data order)."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    trainer, setup = make_trainer("diffusers-example", examples, batch, folder)
    if hasattr(trainer.source, "prefetch"):  # examples in memory, as a dataset on disk would be decoded
        trainer.source.prefetch(range(len(trainer.source)), workers=1)
    accelerator, cfg = trainer.accelerator, trainer.config
    unet, vae, text_encoder = trainer.unet, trainer.vae, trainer.text_encoder
    noise_scheduler, optimizer, lr_scheduler = trainer.noise_scheduler, trainer.optimizer, trainer.lr_scheduler
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
    text_encoder.to(accelerator.device, dtype=weight_dtype)
    vae.to(accelerator.device, dtype=weight_dtype)
    generator = torch.Generator(device=accelerator.device).manual_seed(cfg.seed)
    p = cfg.conditioning_dropout
    state = {"step": 0}

    def reference_step() -> None:
        indices = trainer.planner.batch(state["step"])
        state["step"] += 1
        batch_ = trainer.builder.collate(indices, with_images=True)  # the DataLoader's work
        edited, original = batch_["edited_pixels"], batch_["source_pixels"]
        input_ids = batch_["input_ids"].to(accelerator.device)
        with accelerator.accumulate(unet):
            latents = vae.encode(edited.to(accelerator.device, weight_dtype)).latent_dist.sample()
            latents = latents * vae.config.scaling_factor
            noise = torch.randn_like(latents)
            bsz = latents.shape[0]
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (bsz,), device=latents.device)
            timesteps = timesteps.long()
            noisy_latents = noise_scheduler.add_noise(latents, noise, timesteps)
            encoder_hidden_states = text_encoder(input_ids)[0]
            original_image_embeds = vae.encode(original.to(accelerator.device, weight_dtype)).latent_dist.mode()
            random_p = torch.rand(bsz, device=latents.device, generator=generator)
            prompt_mask = (random_p < 2 * p).reshape(bsz, 1, 1)
            null_conditioning = text_encoder(trainer.builder.tokenize([""]).to(accelerator.device))[0]
            encoder_hidden_states = torch.where(prompt_mask, null_conditioning, encoder_hidden_states)
            image_mask_dtype = original_image_embeds.dtype
            image_mask = 1 - ((random_p >= p).to(image_mask_dtype) * (random_p < 3 * p).to(image_mask_dtype))
            original_image_embeds = image_mask.reshape(bsz, 1, 1, 1) * original_image_embeds
            concatenated_noisy_latents = torch.cat([noisy_latents, original_image_embeds], dim=1)
            if noise_scheduler.config.prediction_type == "epsilon":
                target = noise
            elif noise_scheduler.config.prediction_type == "v_prediction":
                target = noise_scheduler.get_velocity(latents, noise, timesteps)
            else:
                raise ValueError(f"Unknown prediction type {noise_scheduler.config.prediction_type}")
            model_pred = unet(concatenated_noisy_latents, timesteps, encoder_hidden_states).sample
            loss = F.mse_loss(model_pred.float(), target.float(), reduction="mean")
            accelerator.gather(loss.repeat(bsz)).mean().item()  # the example's logged train_loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(unet.parameters(), cfg.max_grad_norm)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()

    def steps(n: int) -> dict[str, Any]:
        return timed(reference_step, n)

    def describe() -> dict[str, Any]:
        return {"setup_seconds": round(setup, 2), "mixed_precision": accelerator.mixed_precision,
                "parameters": trainer.parts.parameter_counts(), "resolution": cfg.resolution,
                "batch_size": cfg.batch_size, "prediction_type": noise_scheduler.config.prediction_type,
                "attention": attention_of(unet), "threads": torch.get_num_threads()}

    return serve({"steps": steps, "describe": describe})


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="batch 8, 1 step a round (smoke test)")
    parser.add_argument("--batch-size", type=int, default=None, help="default 32; quick 8")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps per round (default 4; quick 1)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side, interleaved (at least 5)")
    parser.add_argument("--examples", type=int, default=None, help="toyworld examples (default 512; quick 64)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads per side (default: all CPUs; 1 is steadier on a loaded machine)")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    batch = args.batch_size or (8 if args.quick else 32)
    per_round = args.steps or (1 if args.quick else 4)
    examples = args.examples or (64 if args.quick else 512)
    if args.worker:
        fn = editlab_worker if args.worker == "editlab" else reference_worker
        return fn(examples, batch, args.folder, args.threads or os.cpu_count() or 1)
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = header("train_speed", argv, args.quick)
    threads = args.threads or os.cpu_count() or 1
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        common = ["--batch-size", str(batch), "--examples", str(examples), "--folder", tmp, "--threads", str(threads)]
        if args.quick:
            common.append("--quick")
        with Worker("diffusers-example", __file__, common, env) as ref, Worker("editlab", __file__, common, env) as ours:
            workers = {"diffusers_example": ref, "editlab": ours}
            for worker in workers.values():
                worker.request("steps", n=2)  # warm-up
            replies = interleave({name: (lambda i, w=w: w.request("steps", n=per_round)) for name, w in workers.items()},
                                 args.rounds, log=log)
            described = {name: {**w.request("describe"), **w.request("memory")} for name, w in workers.items()}
    sides = {}
    for name, rows in replies.items():
        seconds = summary([r["seconds"] / per_round for r in rows])
        sides[name] = {**described[name], "seconds_per_step": seconds,
                       "cpu_seconds_per_step": summary([r["cpu_seconds"] / per_round for r in rows]),
                       "samples_per_second": summary([per_round * batch / r["seconds"] for r in rows], 2)}
    speedup = ratio(sides["diffusers_example"]["seconds_per_step"], sides["editlab"]["seconds_per_step"])
    saved = sides["diffusers_example"]["seconds_per_step"]["median"] - sides["editlab"]["seconds_per_step"]["median"]
    result.update({
        "config": "configs/train/toyworld.yaml with " + ", ".join(
            f"{k}={v}" for k, v in overrides("editlab", examples, batch, "").items()
            if k not in ("output_dir", "cache_dir", "max_steps", "cache", "channels_last", "attention")),
        "batch_size": batch, "steps_per_round": per_round, "rounds": args.rounds, "sides": sides,
        "speedup": speedup,
        # the same ratio in CPU seconds: what each side's step costs, less the noise of other load
        "cpu_speedup": ratio(sides["diffusers_example"]["cpu_seconds_per_step"], sides["editlab"]["cpu_seconds_per_step"]),
        "target": {"speedup_at_least": TARGET, "met": bool(speedup["median"] >= TARGET)},
        # the cache is built once; after this many steps its build time is paid back
        "cache_break_even_steps": round(sides["editlab"]["cache_build_seconds"] / saved, 1) if saved > 0 else None,
    })
    finish(result)
    print("| side | precision | s / step (median, min-max) | samples/s (median) | peak RSS MB | set-up s |")
    print("|---|---|---|---|---|---|")
    for name, side in sides.items():
        s = side["seconds_per_step"]
        extra = f" + cache {side['cache_build_seconds']}" if "cache_build_seconds" in side else ""
        print(f"| {name} | {side['mixed_precision']} | {s['median']:.3f} ({s['min']:.3f}-{s['max']:.3f}) | "
              f"{side['samples_per_second']['median']} | {side['peak_rss_mb']:.0f} | {side['setup_seconds']}{extra} |")
    print(f"\nCPU seconds per step: speed-up {result['cpu_speedup']['median']}x")
    print(f"speed-up {speedup['median']}x (range {speedup['low']}-{speedup['high']}x); target >= {TARGET}x: "
          f"{'met' if result['target']['met'] else 'MISSED'}")
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
