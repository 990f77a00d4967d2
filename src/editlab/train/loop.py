"""The training loop on accelerate: one CPU, one GPU, or many GPUs and nodes with the same code.

Read it top to bottom like diffusers' train_instruct_pix2pix.py: set up, data, models,
optimiser, EMA, resume, then `for step: loss -> backward -> step -> EMA -> log -> checkpoint`.

Exact resume: everything random in step k (which examples, noise, timesteps, dropout) comes from
generators seeded by (seed, k, process); model, optimiser, scheduler, EMA and the step counter are
restored by `accelerator.load_state`. A run killed with SIGKILL and resumed from its last
checkpoint therefore reproduces the uninterrupted run's losses.

    >>> from editlab.train import load_config, train
    >>> result = train(load_config("configs/train/tiny.yaml"))     # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from editlab.errors import EditlabError, require
from editlab.train.attention import (
    smallest_head_channels,
    use_default_attention,
    use_sliced_attention,
    wants_sliced_attention,
)
from editlab.train.batches import BatchPlanner
from editlab.train.buckets import assign_buckets, make_buckets
from editlab.train.cache import LatentCache, TextEmbeddingCache, vae_fingerprint
from editlab.train.config import TrainConfig, save_config
from editlab.train.data import BatchBuilder
from editlab.train.multitask import DMTLSchedule, TaskGroups, gradnorm_weights, inverse_frequency_weights
from editlab.train.readers import open_sources
from editlab.train.recipe import (
    apply_conditioning_dropout,
    conditioning_dropout,
    diffusion_target,
    mask_to_latent,
    sample_timesteps,
)


@dataclass
class TrainState:
    """What the loop itself must remember across a restart (saved with every checkpoint)."""

    step: int = 0
    samples_seen: int = 0
    seconds: float = 0.0  # training loop time
    wall_seconds: float = 0.0  # the whole run's wall-clock time (set-up, data, VAE, training)

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "samples_seen": self.samples_seen, "seconds": self.seconds,
                "wall_seconds": self.wall_seconds}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step, self.samples_seen, self.seconds = int(state["step"]), int(state["samples_seen"]), float(state["seconds"])
        # a checkpoint written before wall time was recorded: assume set-up cost nothing
        self.wall_seconds = float(state.get("wall_seconds", self.seconds))


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    export_dir: Path | None
    losses: list[float] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)


class MetricsLog:
    """metrics.jsonl: one JSON line per logged step/eval; cut back to the checkpoint on resume."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def truncate_after(self, step: int) -> None:
        if not (self.enabled and self.path.exists()):
            return
        keep = [line for line in self.path.read_text().splitlines() if _step_of(line) is not None and _step_of(line) <= step]
        from editlab.io.atomic import write_text

        write_text(self.path, "".join(line + "\n" for line in keep))

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
                handle.flush()

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if _step_of(line) is not None]


def _step_of(line: str) -> int | None:
    """The step of a metrics line, or None for a line cut short by a kill."""
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError):
        return None


def resolve_mixed_precision(requested: str) -> str:
    """'auto' -> bf16 on CUDA with bf16 or CPUs with AMX (where it is fast), fp16 on older GPUs, else no."""
    torch = require("torch", "train")
    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_fast_bf16() else "no"


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16 (recent Xeon / EPYC): bf16 matmuls and convs run ~2-3x faster than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def step_generator(seed: int, micro_batch: int, process: int, device: Any):
    torch = require("torch", "train")
    generator = torch.Generator(device=device)
    generator.manual_seed((seed * 1_000_003 + micro_batch) * 1009 + process)
    return generator


def latest_checkpoint(folder: Path) -> Path | None:
    done = sorted(p for p in folder.glob("step-*") if p.is_dir() and (p / "train_state.json").is_file())
    return done[-1] if done else None


class Trainer:
    """One training run. `Trainer(config).run()`; the CLI and tests call `train(config)`."""

    def __init__(self, config: TrainConfig, log: Any = None):
        self.config = config
        self.out = Path(config.output_dir)
        self.checkpoints = self.out / "checkpoints"
        self._log = log

    # ----- set-up -------------------------------------------------------------------------------

    def _eta(self, cfg: Any) -> str:
        """Time left: the steps still to go at this run's pace, or the time budget's end if sooner."""
        per_step = (time.time() - self.loop_started) / max(1, self.state.step - self.start_step)
        left = per_step * (cfg.max_steps - self.state.step)
        if cfg.time_budget_minutes:
            left = min(left, 60 * cfg.time_budget_minutes - self.state.wall_seconds)
        return f"ETA {max(0.0, left) / 60:.1f} min"

    def log(self, message: str) -> None:
        if self.accelerator.is_main_process:
            (self._log or print)(message)

    def setup(self) -> None:
        accelerate = require("accelerate", "train")
        torch = require("torch", "train")
        cfg = self.config
        self.mixed_precision = resolve_mixed_precision(cfg.mixed_precision)
        # accelerate keeps one process-wide state; a second run in the same process (tests, notebooks)
        # may ask for another precision, so start from a clean state (the distributed set-up is kept).
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=False)
        GradientState._reset_state()
        self.accelerator = accelerate.Accelerator(
            mixed_precision=self.mixed_precision,
            log_with=cfg.report_to,
            project_dir=str(self.out),
            step_scheduler_with_optimizer=False,
        )
        self.device = self.accelerator.device
        if not cfg.resume and latest_checkpoint(self.checkpoints):
            raise EditlabError(f"{self.out} already has checkpoints; pass --resume to continue that run, "
                               "or choose a new --output_dir")
        if cfg.resume and not latest_checkpoint(self.checkpoints) and self.accelerator.is_main_process:
            self.log(f"no checkpoint in {self.checkpoints}; starting from step 0")
        self.out.mkdir(parents=True, exist_ok=True)
        if self.accelerator.is_main_process:
            save_config(cfg, self.out / "config.yaml")
        self.metrics = MetricsLog(self.out / "metrics.jsonl", self.accelerator.is_main_process)
        torch.manual_seed(cfg.seed)
        self._setup_components()
        self._setup_data()
        if (cfg.cache or cfg.vae_steps) and hasattr(self.source, "prefetch"):
            start = time.time()
            self.source.prefetch(range(len(self.source)), workers=cfg.data_workers)
            self.log(f"generated {len(self.source)} examples in {time.time() - start:.0f}s")
        self._setup_vae_stage()
        self._setup_optimisation()

    def _setup_components(self) -> None:
        from editlab.train.model import load_components

        self.parts = load_components(self.config)
        self.unet, self.vae, self.text_encoder = self.parts.unet, self.parts.vae, self.parts.text_encoder
        self.tokenizer, self.noise_scheduler = self.parts.tokenizer, self.parts.noise_scheduler
        self.latent_channels = self.vae.config.latent_channels
        self.scaling_factor = self.vae.config.scaling_factor

    def _setup_data(self) -> None:
        cfg = self.config
        self.source = open_sources(
            cfg.data, max_examples=cfg.max_examples, data_format=cfg.data_format, column_map=cfg.column_map,
            column_preset=cfg.column_preset, split=cfg.split, toyworld_examples=cfg.toyworld_examples,
            toyworld_tasks=cfg.toyworld_tasks, resolution=cfg.resolution, seed=cfg.seed, cache_dir=cfg.cache_dir,
        )
        n = len(self.source)
        buckets = bucket_of = None
        if cfg.buckets:
            vae_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
            unet_factor = 2 ** (len(self.unet.config.block_out_channels) - 1)
            buckets = make_buckets(cfg.resolution, divisor=vae_factor * unet_factor)
            bucket_of = assign_buckets([self.source.size(i) for i in range(n)], buckets)
        self.builder = BatchBuilder(self.source, self.tokenizer, resolution=cfg.resolution, buckets=buckets,
                                    bucket_of=bucket_of)
        self.tasks = [self.source.task(i) for i in range(n)]
        self.groups = TaskGroups(cfg.task_groups) if cfg.task_groups else None
        dmtl = DMTLSchedule(cfg.task_groups, cfg.dmtl_stages) if cfg.dmtl_stages else None
        self.global_batch = cfg.batch_size * self.accelerator.num_processes
        self.planner = BatchPlanner(n, self.global_batch, cfg.seed, bucket_of=bucket_of, tasks=self.tasks, dmtl=dmtl)
        self.dmtl = dmtl
        self.log(f"data: {n} examples from {self.source.name}"
                 + (f", {len(set(bucket_of))} aspect buckets" if bucket_of else ""))

    def _setup_vae_stage(self) -> None:
        cfg = self.config
        self.vae_stats: dict[str, Any] = {}
        if cfg.vae_steps > 0:
            from editlab.train.vae import load_or_train_vae, train_vae

            planner = BatchPlanner(len(self.source), cfg.vae_batch_size, cfg.seed + 1,
                                   bucket_of=self.builder.bucket_of)

            def run_stage():
                return train_vae(self.vae, self.builder, planner, steps=cfg.vae_steps, learning_rate=cfg.vae_learning_rate,
                                 device=self.device, seed=cfg.seed, bf16=self.mixed_precision == "bf16", log=self.log)

            if self.accelerator.is_main_process:
                self.vae, self.vae_stats = load_or_train_vae(self.vae, self.out / "vae", run_stage)
            self.accelerator.wait_for_everyone()
            if not self.accelerator.is_main_process:
                self.vae, self.vae_stats = load_or_train_vae(self.vae, self.out / "vae", run_stage)
        self.vae.requires_grad_(False).eval().to(self.device)

    def _setup_optimisation(self) -> None:
        torch = require("torch", "train")
        diffusers = require("diffusers", "train")
        cfg = self.config
        self.text_encoder.requires_grad_(cfg.train_text_encoder)
        self.text_encoder.train(cfg.train_text_encoder)
        self.unet.train()
        if cfg.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            if cfg.train_text_encoder:
                self.text_encoder.gradient_checkpointing_enable()
        if cfg.channels_last:
            self.unet.to(memory_format=torch.channels_last)
        if wants_sliced_attention(cfg.attention, self.device, smallest_head_channels(self.unet)):
            use_sliced_attention(self.unet)
        param_groups = [{"params": [p for p in self.unet.parameters() if p.requires_grad], "lr": cfg.learning_rate}]
        if cfg.train_text_encoder:
            param_groups.append({"params": list(self.text_encoder.parameters()),
                                 "lr": cfg.text_encoder_learning_rate or cfg.learning_rate})
        self.optimizer = torch.optim.AdamW(param_groups, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_epsilon,
                                           weight_decay=cfg.weight_decay)
        self.lr_scheduler = diffusers.optimization.get_scheduler(
            cfg.lr_schedule, optimizer=self.optimizer, num_warmup_steps=cfg.lr_warmup_steps,
            num_training_steps=max(1, cfg.max_steps))
        self.emas: dict[str, Any] = {}
        if cfg.use_ema:
            ema_cls = diffusers.training_utils.EMAModel
            self.emas["unet"] = ema_cls(self.unet.parameters(), decay=cfg.ema_decay,
                                        model_cls=type(self.unet), model_config=self.unet.config)
            if cfg.train_text_encoder:
                self.emas["text_encoder"] = ema_cls(self.text_encoder.parameters(), decay=cfg.ema_decay)
        if cfg.train_text_encoder:
            self.unet, self.text_encoder, self.optimizer, self.lr_scheduler = self.accelerator.prepare(
                self.unet, self.text_encoder, self.optimizer, self.lr_scheduler)
        else:
            self.unet, self.optimizer, self.lr_scheduler = self.accelerator.prepare(
                self.unet, self.optimizer, self.lr_scheduler)
            self.text_encoder.to(self.device)
        for ema in self.emas.values():
            ema.to(self.device)
            self.accelerator.register_for_checkpointing(ema)
        self.state = TrainState()
        self.accelerator.register_for_checkpointing(self.state)
        self.text_cache = None if cfg.train_text_encoder else TextEmbeddingCache()
        self.latent_cache: LatentCache | None = None
        self.null_ids = self.builder.tokenize([""])

    def _maybe_resume(self) -> None:
        checkpoint = latest_checkpoint(self.checkpoints) if self.config.resume else None
        if checkpoint is None:
            self.metrics.truncate_after(0) if self.config.resume else None
            return
        self.accelerator.load_state(str(checkpoint))
        self.metrics.truncate_after(self.state.step)
        self.log(f"resumed from {checkpoint} at step {self.state.step}")

    def _maybe_build_cache(self) -> None:
        cfg = self.config
        if not cfg.cache:
            return
        cache_dir = Path(cfg.cache_dir) if cfg.cache_dir else self.out / "cache"
        key = f"{self.source.name}|{len(self.source)}|{cfg.resolution}|{cfg.buckets}|{cfg.seed}"
        path = cache_dir / f"latents-{vae_fingerprint(self.vae, key)}.safetensors"
        start = time.time()
        # Each process encodes what it needs; the main process writes the shared file first.
        if self.accelerator.is_main_process:
            self.latent_cache = LatentCache.build(path, range(len(self.source)), self.builder.collate, self.vae,
                                                  device=self.device, batch_size=64)
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            self.latent_cache = LatentCache(path)
            self.latent_cache.load()
        if hasattr(self.source, "release"):
            self.source.release()
        self.cache_seconds = time.time() - start
        self.log(f"latent cache: {len(self.latent_cache)} examples in {self.cache_seconds:.1f}s ({path.name})")

    # ----- one step --------------------------------------------------------------------------

    def _encode_text(self, batch: dict[str, Any]):
        ids = batch["input_ids"].to(self.device)
        if self.text_cache is not None:
            text = self.text_cache.encode(batch["instructions"], ids, self.text_encoder)
            null = self.text_cache.encode([""], self.null_ids, self.text_encoder)
            return text, null
        both = self.text_encoder(torch_cat([ids, self.null_ids.to(self.device)]))[0]
        return both[:-1], both[-1:]

    def _latents(self, indices: list[int], batch: dict[str, Any] | None):
        if self.latent_cache is not None:
            src, mean, std, mask = self.latent_cache.get(indices)
            return src.to(self.device), mean.to(self.device), std.to(self.device), mask.to(self.device)
        torch = require("torch", "train")
        with torch.no_grad():
            pixels = torch.cat([batch["source_pixels"], batch["edited_pixels"]]).to(self.device, self.vae.dtype)
            dist = self.vae.encode(pixels).latent_dist
            n = len(indices)
            return dist.mode()[:n].float(), dist.mean[n:].float(), dist.std[n:].float(), batch["mask"].to(self.device)

    def compute_loss(self, micro_batch: int):
        """Loss of global micro-batch `micro_batch` on this process's share of it."""
        torch = require("torch", "train")
        cfg = self.config
        indices = self.planner.batch(micro_batch)
        share = len(indices) // self.accelerator.num_processes
        rank = self.accelerator.process_index
        indices = indices[rank * share: (rank + 1) * share]
        batch = self.builder.collate(indices, with_images=self.latent_cache is None)
        generator = step_generator(cfg.seed, micro_batch, rank, self.device)
        source_latent, target_mean, target_std, mask = self._latents(indices, batch)
        bsz = len(indices)
        noise_for_sample = torch.randn(target_mean.shape, generator=generator, device=self.device)
        latents = (target_mean + target_std * noise_for_sample) * self.scaling_factor
        noise = torch.randn(latents.shape, generator=generator, device=self.device)
        timesteps = sample_timesteps(self.noise_scheduler.config.num_train_timesteps, bsz, cfg.timestep_bias_power,
                                     generator, self.device)
        noisy = self.noise_scheduler.add_noise(latents, noise, timesteps)
        drop_text, drop_image = conditioning_dropout(bsz, cfg.conditioning_dropout, generator, self.device)
        text, null_text = self._encode_text(batch)
        mask_latent = mask_to_latent(mask, latents.shape[-2:]) if cfg.mask_conditioning else None
        text, source_latent, mask_latent = apply_conditioning_dropout(text, null_text, source_latent, drop_text,
                                                                      drop_image, mask_latent)
        inputs = [noisy, source_latent] + ([mask_latent] if mask_latent is not None else [])
        model_input = torch.cat(inputs, dim=1)
        if cfg.channels_last:
            model_input = model_input.contiguous(memory_format=torch.channels_last)
        with self.accelerator.autocast():
            prediction = self.unet(model_input, timesteps, text).sample
        target = diffusion_target(self.noise_scheduler, latents, noise, timesteps)
        per_sample = ((prediction.float() - target.float()) ** 2).mean(dim=(1, 2, 3))
        weights = self._loss_weights(per_sample, batch["tasks"])
        return (weights * per_sample).mean(), per_sample.detach(), batch["tasks"]

    def _loss_weights(self, per_sample, tasks: list[str]):
        torch = require("torch", "train")
        cfg = self.config
        if cfg.lmtl == "none" or self.groups is None:
            return torch.ones_like(per_sample)
        groups = [self.groups.group_of(t) for t in tasks]
        if cfg.lmtl == "inverse_frequency":
            return inverse_frequency_weights(groups).to(per_sample.device)
        shared = list(self.accelerator.unwrap_model(self.unet).conv_out.parameters())
        return gradnorm_weights(per_sample, groups, shared).to(per_sample.device)

    def train_step(self) -> dict[str, Any]:
        torch = require("torch", "train")
        cfg = self.config
        accum = cfg.gradient_accumulation_steps
        models = [self.unet] + ([self.text_encoder] if cfg.train_text_encoder else [])
        total, task_losses = 0.0, defaultdict(list)
        for k in range(accum):
            micro = self.state.step * accum + k
            sync = k == accum - 1
            context = self.accelerator.no_sync(self.unet) if not sync and self.accelerator.num_processes > 1 \
                else _nullcontext()
            with context:
                loss, per_sample, tasks = self.compute_loss(micro)
                self.accelerator.backward(loss / accum)
            total += float(loss.detach()) / accum
            for task, value in zip(tasks, per_sample.tolist(), strict=True):
                task_losses[task].append(value)
        params = [p for m in models for p in m.parameters() if p.requires_grad]
        grad_norm = self.accelerator.clip_grad_norm_(params, cfg.max_grad_norm) if cfg.max_grad_norm > 0 else None
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.emas:
            self.emas["unet"].step(self.accelerator.unwrap_model(self.unet).parameters())
            if "text_encoder" in self.emas:
                self.emas["text_encoder"].step(self.accelerator.unwrap_model(self.text_encoder).parameters())
        loss_value = float(self.accelerator.reduce(torch.tensor(total, device=self.device), reduction="mean"))
        return {"loss": loss_value, "task_loss": {t: sum(v) / len(v) for t, v in task_losses.items()},
                "grad_norm": float(grad_norm) if grad_norm is not None else None}

    # ----- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self) -> Path:
        """accelerator.save_state into a temp folder, renamed when complete (a crash never leaves half a checkpoint)."""
        final = self.checkpoints / f"step-{self.state.step:08d}"
        if self.accelerator.is_main_process:
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=self.checkpoints))
        else:
            tmp = None
        tmp_list = [str(tmp) if tmp else None]
        if self.accelerator.num_processes > 1:
            from accelerate.utils import broadcast_object_list

            broadcast_object_list(tmp_list)
        self.accelerator.save_state(tmp_list[0])
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            from editlab.io.atomic import write_json

            write_json(Path(tmp_list[0]) / "train_state.json", self.state.state_dict())
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp_list[0], final)
            for old in sorted(p for p in self.checkpoints.glob("step-*") if p.is_dir())[: -self.config.keep_checkpoints]:
                shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        return final

    # ----- the run ------------------------------------------------------------------------------

    def run(self) -> TrainResult:
        self.run_started = time.time()
        self.setup()
        cfg = self.config
        self._maybe_resume()
        self._maybe_build_cache()
        evaluator = self._make_evaluator()
        if evaluator is not None and self.config.vae_steps and "reconstruction" not in self.vae_stats \
                and self.accelerator.is_main_process:
            report = evaluator.evaluate_reconstruction(self.vae)
            self.vae_stats["reconstruction"] = {k: report[k] for k in ("success", "per_task", "l1") if k in report}
            self.log(f"VAE reconstructions of held-out targets: oracle success {report['success']:.3f}, "
                     f"l1 {report['l1']:.4f}")
        if cfg.report_to:
            self.accelerator.init_trackers("editlab-train", config={k: str(v) for k, v in cfg.to_dict().items()})
        losses: list[float] = []
        window: dict[str, list[float]] = defaultdict(list)
        started = time.time() - self.state.seconds
        self.stopped_early = False
        # the budget counts the whole run: this process's wall time plus what earlier (killed) runs spent
        self.wall_seconds_before = self.state.wall_seconds
        self.loop_started, self.start_step = time.time(), self.state.step  # this run's pace, for the ETA
        while self.state.step < cfg.max_steps:
            if cfg.time_budget_minutes and self.state.step > 0 and \
                    self.wall_seconds_before + time.time() - self.run_started > 60 * cfg.time_budget_minutes:
                self.stopped_early = True
                self.log(f"time budget of {cfg.time_budget_minutes} min reached at step {self.state.step}; stopping")
                self.save_checkpoint()
                break
            result = self.train_step()
            self.state.step += 1
            self.state.samples_seen += self.global_batch * cfg.gradient_accumulation_steps
            self.state.seconds = time.time() - started
            self.state.wall_seconds = self.wall_seconds_before + time.time() - self.run_started
            losses.append(result["loss"])
            for task, value in result["task_loss"].items():
                window[task].append(value)
            record = {"step": self.state.step, "loss": result["loss"], "lr": self.lr_scheduler.get_last_lr()[0],
                      "seconds": round(self.state.seconds, 3)}
            if self.dmtl is not None:
                record["dmtl_stage"] = self.dmtl.stage_at(self.state.step - 1)
            if self.state.step % cfg.log_every == 0 or self.state.step == cfg.max_steps:
                record["task_loss"] = {t: sum(v) / len(v) for t, v in sorted(window.items())}
                record["grad_norm"] = result["grad_norm"]
                window.clear()
                self.log(f"step {self.state.step}/{cfg.max_steps} loss {result['loss']:.4f} "
                         f"lr {record['lr']:.2e} {self.state.seconds:.0f}s, {self._eta(cfg)}")
            self.metrics.write(record)
            if cfg.report_to:
                self.accelerator.log({"loss": result["loss"], "lr": record["lr"]}, step=self.state.step)
            if evaluator and cfg.eval_every and self.state.step % cfg.eval_every == 0:
                self._evaluate(evaluator)
            if self.state.step % cfg.checkpoint_every == 0 or self.state.step == cfg.max_steps:
                self.save_checkpoint()
        export_dir = self._export(evaluator) if cfg.export else None
        if cfg.report_to:
            self.accelerator.end_training()
        return TrainResult(self.out, self.state.step, export_dir, losses, {"vae": self.vae_stats})

    def export_checkpoint(self) -> Path | None:
        """Export the latest checkpoint without training (e.g. again, with another inference scheduler)."""
        self.run_started = time.time()
        # resume from the checkpoint; nothing to train, so no latent cache (the caller's config is left as is)
        self.config = replace(self.config, resume=True, cache=False)
        self.setup()
        if latest_checkpoint(self.checkpoints) is None:
            raise EditlabError(f"no checkpoint in {self.checkpoints} to export; train first")
        self._maybe_resume()
        return self._export(self._make_evaluator())

    # ----- evaluation and export ---------------------------------------------------------

    def _make_evaluator(self):
        if not self.config.eval_every and not self.config.export:
            return None
        if not any(spec.startswith("toyworld") for spec in self.config.data):
            return None
        from editlab.train.evaluate import ToyworldEvaluator

        return ToyworldEvaluator(self.config.eval_examples, steps=self.config.eval_inference_steps,
                                 resolution=self.config.resolution, guidance_scale=self.config.guidance_scale,
                                 image_guidance_scale=self.config.image_guidance_scale)

    def ema_components(self):
        """(unet, text_encoder) with EMA weights, as fresh modules (the training ones are untouched)."""
        import copy

        unet = copy.deepcopy(self.accelerator.unwrap_model(self.unet)).eval()
        text_encoder = copy.deepcopy(self.accelerator.unwrap_model(self.text_encoder)).eval()
        if "unet" in self.emas:
            self.emas["unet"].copy_to(unet.parameters())
        if "text_encoder" in self.emas:
            self.emas["text_encoder"].copy_to(text_encoder.parameters())
        if getattr(unet, "is_gradient_checkpointing", False):
            unet.disable_gradient_checkpointing()
        use_default_attention(unet)  # evaluated and exported as diffusers runs it
        return unet.float().to(memory_format=require("torch", "train").contiguous_format), text_encoder.float()

    def _pipeline(self):
        from editlab.train.export import build_pipeline

        unet, text_encoder = self.ema_components()
        return build_pipeline(unet, self.vae, text_encoder, self.tokenizer, self.noise_scheduler,
                              scheduler_name=self.config.inference_scheduler)

    def _evaluate(self, evaluator) -> dict[str, Any] | None:
        if not self.accelerator.is_main_process:
            return None
        start = time.time()
        report = evaluator.evaluate(self._pipeline())
        record = {"step": self.state.step, "eval": report, "eval_seconds": round(time.time() - start, 1),
                  "scheduler": self.config.inference_scheduler}
        self.metrics.write(record)
        per_task = report["per_task"] or report["per_task_l1"]
        self.log(f"eval step {self.state.step}: success {report['success']:.3f} l1 {report['l1']:.4f} "
                 f"({', '.join(f'{t} {v:.2f}' for t, v in per_task.items())})")
        return report

    def _export(self, evaluator) -> Path | None:
        from editlab.train.export import export_model

        if not self.accelerator.is_main_process:
            self.accelerator.wait_for_everyone()
            return None
        pipeline = self._pipeline()
        last_eval = next((r for r in reversed(self.metrics.read()) if "eval" in r), None)
        if evaluator is not None and not (last_eval and last_eval["step"] == self.state.step
                                          and last_eval.get("scheduler") == self.config.inference_scheduler):
            self._evaluate(evaluator)  # the card reports the exported weights with the exported sampler
        history = self.metrics.read()
        evals = [r for r in history if "eval" in r]
        export_dir = Path(self.config.export_dir) if getattr(self.config, "export_dir", None) else self.out / "model"
        export_model(pipeline, export_dir, config=self.config, history=history,
                     final_eval=evals[-1]["eval"] if evals else None, extra={"vae": self.vae_stats,
                     "stopped_early_by_time_budget": getattr(self, "stopped_early", False),
                     "wall_minutes": round(self.state.wall_seconds / 60, 1),
                     "mixed_precision": self.mixed_precision, "num_processes": self.accelerator.num_processes,
                     "examples": len(self.source), "data_name": self.source.name})
        self.log(f"exported {export_dir}")
        self.accelerator.wait_for_everyone()
        return export_dir


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def torch_cat(tensors):
    torch = require("torch", "train")
    return torch.cat(tensors)


def train(config: TrainConfig, log: Any = None) -> TrainResult:
    """Run `config` to completion (or resume it with `config.resume = True`)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if math.isnan(config.learning_rate):
        raise EditlabError("learning_rate is NaN")
    return Trainer(config, log=log).run()
