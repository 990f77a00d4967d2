"""Oracle evaluation of a model on held-out toyworld cases, per task (used during training and export).

Fixed cases (toyworld `test` split, a fixed seed) and a fixed sampler seed, so numbers logged at
different steps are comparable. Runs diffusers' IP2P pipeline; nothing here touches the training RNG.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from editlab.errors import require

EVAL_SEED = 424242


class ToyworldEvaluator:
    def __init__(self, n: int, *, split: str = "test", steps: int = 20, resolution: int = 64,
                 guidance_scale: float = 7.5, image_guidance_scale: float = 1.5, batch_size: int = 16,
                 seed: int = EVAL_SEED):
        toyworld = require("editlab.toyworld", "train")
        self.examples = list(toyworld.generate_examples(n, seed=seed, split=split, width=resolution, height=resolution))
        try:
            self.oracle = toyworld.Oracle()
        except (AttributeError, ImportError):  # an older toyworld without its oracle: pixel error only
            self.oracle = None
        self.steps, self.batch_size = steps, batch_size
        self.guidance_scale, self.image_guidance_scale = guidance_scale, image_guidance_scale

    def generate(self, pipeline: Any) -> list[Any]:
        torch = require("torch", "train")
        outputs = []
        for start in range(0, len(self.examples), self.batch_size):
            chunk = self.examples[start: start + self.batch_size]
            generator = torch.Generator(device="cpu").manual_seed(start)
            with torch.no_grad():
                images = pipeline(
                    prompt=[e.instruction for e in chunk], image=[e.source for e in chunk],
                    num_inference_steps=self.steps, guidance_scale=self.guidance_scale,
                    image_guidance_scale=self.image_guidance_scale, generator=generator,
                ).images
            outputs.extend(images)
        return outputs

    def reconstruct(self, vae: Any) -> list[Any]:
        """The targets through the VAE (encode -> mode -> decode): the ceiling any model on it can reach."""
        torch = require("torch", "train")
        import numpy as np
        from PIL import Image

        outputs = []
        device = next(vae.parameters()).device
        with torch.no_grad():
            for start in range(0, len(self.examples), self.batch_size):
                chunk = self.examples[start: start + self.batch_size]
                pixels = torch.stack([torch.from_numpy(np.asarray(e.target, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1)
                                      for e in chunk]).to(device, vae.dtype)
                decoded = vae.decode(vae.encode(pixels).latent_dist.mode()).sample
                arrays = ((decoded.float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
                outputs.extend(Image.fromarray(a) for a in arrays)
        return outputs

    def evaluate_reconstruction(self, vae: Any) -> dict[str, Any]:
        return score(self.oracle, self.examples, self.reconstruct(vae))

    def evaluate(self, pipeline: Any) -> dict[str, Any]:
        return score(self.oracle, self.examples, self.generate(pipeline))


def pixel_error(example: Any, output: Any) -> float:
    import numpy as np

    return float(np.abs(np.asarray(output, dtype=np.float32) - np.asarray(example.target, dtype=np.float32)).mean() / 255)


def score(oracle: Any, examples: list[Any], outputs: list[Any]) -> dict[str, Any]:
    l1: dict[str, list[float]] = defaultdict(list)
    for example, output in zip(examples, outputs, strict=True):
        l1[example.task].append(pixel_error(example, output))
    l1_report = {"l1": sum(sum(v) for v in l1.values()) / max(1, len(examples)),
                 "per_task_l1": {t: sum(v) / len(v) for t, v in sorted(l1.items())}}
    if oracle is None:
        return {"success": float("nan"), "per_task": {}, **l1_report, "n": len(examples)}
    per_task: dict[str, list[bool]] = defaultdict(list)
    totals = defaultdict(float)
    for example, output in zip(examples, outputs, strict=True):
        result = oracle.score(example, output)
        per_task[example.task].append(bool(result.success))
        for name in ("adherence", "quality", "preservation"):
            totals[name] += getattr(result, name)
    n = max(1, len(examples))
    return {
        "success": sum(sum(v) for v in per_task.values()) / n,
        "per_task": {task: sum(v) / len(v) for task, v in sorted(per_task.items())},
        **{name: totals[name] / n for name in ("adherence", "quality", "preservation")},
        **l1_report,
        "n": len(examples),
    }
