"""A first stage for from-scratch models: train the small VAE to reconstruct the data's images.

L1 + MSE reconstruction with a tiny KL term (the latents stay close to a unit Gaussian scale,
so the diffusion model's noise schedule fits them). The trained VAE is saved as a diffusers
folder `<output_dir>/vae` and reused on resume.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from editlab.errors import require
from editlab.train.batches import BatchPlanner
from editlab.train.data import BatchBuilder


def train_vae(vae: Any, builder: BatchBuilder, planner: BatchPlanner, *, steps: int, learning_rate: float,
              device: Any, seed: int, kl_weight: float = 1e-6, bf16: bool = False, log: Any = print) -> dict[str, float]:
    torch = require("torch", "train")
    vae.train().to(device)
    vae.requires_grad_(True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(1, steps))))
    start, history = time.time(), []
    for step in range(steps):
        batch = builder.collate(planner.batch(step))
        pixels = torch.cat([batch["source_pixels"], batch["edited_pixels"]]).to(device)
        generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)
        with torch.autocast(str(torch.device(device).type), dtype=torch.bfloat16, enabled=bf16):
            posterior = vae.encode(pixels).latent_dist
            decoded = vae.decode(posterior.sample(generator)).sample.float()
        recon = (decoded - pixels).abs().mean() + ((decoded - pixels) ** 2).mean()
        loss = recon + kl_weight * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        history.append(float(recon.detach()))
        if step % 100 == 0 or step == steps - 1:
            log(f"vae step {step + 1}/{steps} recon {history[-1]:.4f} ({time.time() - start:.0f}s)")
    vae.eval().requires_grad_(False)
    scale = latent_scaling_factor(vae, builder, planner, device=device, batches=8)
    vae.register_to_config(scaling_factor=scale)
    tail = history[-50:]
    return {"vae_steps": steps, "vae_final_recon": sum(tail) / max(1, len(tail)), "vae_scaling_factor": scale,
            "vae_seconds": time.time() - start}


def latent_scaling_factor(vae: Any, builder: BatchBuilder, planner: BatchPlanner, *, device: Any, batches: int) -> float:
    """1 / std of the latents, so the diffusion model sees unit-variance latents (SD's 0.18215 rule)."""
    torch = require("torch", "train")
    values = []
    with torch.no_grad():
        for k in range(batches):
            batch = builder.collate(planner.batch(10_000_000 + k))
            values.append(vae.encode(batch["edited_pixels"].to(device)).latent_dist.mean.flatten().float().cpu())
    return float(1.0 / torch.cat(values).std().clamp_min(1e-6))


def load_or_train_vae(vae: Any, folder: Path, train: Any) -> tuple[Any, dict[str, Any]]:
    """Reuse `<folder>` when a previous run (or a resumed one) finished the VAE stage."""
    diffusers = require("diffusers", "train")
    stats_path = folder / "vae_stats.json"
    if stats_path.is_file():
        return diffusers.AutoencoderKL.from_pretrained(folder), json.loads(stats_path.read_text())
    stats = train()
    _save_folder_atomically(vae, folder, stats)
    return vae, stats


def _save_folder_atomically(vae: Any, folder: Path, stats: dict[str, Any]) -> None:
    import shutil
    import tempfile

    from editlab.io.atomic import write_json

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    vae.save_pretrained(tmp)
    write_json(tmp / "vae_stats.json", stats)
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
