"""Pair generators on a text-to-image diffusion model.

* `prompt-to-prompt` (InstructPix2Pix): both captions from shared noise, attention shared for the
  first p ~ U(p_min, p_max) of the steps, `candidates` pairs per prompt (the filter keeps the best);
* `img2img-p2p` (UltraEdit free-form): the real image, noised to `strength`, anchors both branches;
  the pair is (real image, edited branch);
* `inpaint-region` (UltraEdit region): blended latent diffusion inside the grounded mask, with a soft
  band (values `soft_high`..`soft_low`) between the tight mask and a looser, dilated one.

Multi-turn rows are generated in turn order: a turn's source is the previous turn's output.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageFilter

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, Stage
from editlab.errors import EditlabError


@functools.lru_cache(maxsize=2)
def get_sampler(model: str, device: str | None, dtype: str, scheduler: str, share: str):
    """One loaded model per worker, shared by every stage (and router route) that names it."""
    from editlab.data.backends.diffusion import DiffusionSampler

    return DiffusionSampler(model, device=device, dtype=dtype, scheduler=scheduler, share=share)


def _link(sample: Sample, produced: dict[str, Sample]) -> None:
    """Give a later turn the image it starts from (meta.source_from: that turn's output), and a
    backtracking turn its answer (meta.target_from: that turn's input), from turns made earlier."""
    for key, image_field in (("source_from", "edited"), ("target_from", "source")):
        ref = sample.meta.get(key)
        if ref is None or not sample.ok:
            continue
        earlier = produced.get(ref)
        if earlier is None or not earlier.ok or getattr(earlier, image_field) is None:
            sample.reject("episode", f"turn {sample.turn} depends on {ref}, which was dropped")
        elif key == "source_from":
            sample.source = getattr(earlier, image_field)
        else:
            sample.edited = getattr(earlier, image_field)


@dataclass
class PairGenerator(Stage):
    """A stage that makes the edited image: `generate(sample, ctx) -> [pairs]`, one call per row.

    Rows are generated in order so that multi-turn episodes chain: a turn starts from the output of
    the turn before it, and a failed turn drops the turns after it."""

    def generate(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        raise NotImplementedError

    expensive = True

    def process(self, samples: list[Sample], ctx: ShardContext) -> list[Sample]:
        out: list[Sample] = []
        produced: dict[str, Sample] = {}
        for sample in samples:
            journaled = ctx.journal.get(sample.id) if ctx.journal else None
            _link(sample, produced)
            if journaled is not None:
                results = journaled
            elif not sample.ok:
                results = [sample]
            elif sample.meta.get("target_from"):  # backtracking: an earlier version is the answer
                sample.record(self.name, copied_from=sample.meta["target_from"])
                results = [sample]
            else:
                try:
                    results = self.generate(sample, ctx)
                except Exception as exc:
                    results = [sample.fail(self.name, exc)]
                if ctx.journal:
                    ctx.journal.put(sample.id, results)
            for result in results:
                produced[result.id] = result
            if sample.episode_id and results and results[0].ok:  # later turns name the turn, not a candidate
                produced[sample.id] = results[0]
            out.extend(results)
        return out


@dataclass
class DiffusionStage(PairGenerator):
    model: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"
    steps: int = 50
    guidance_scale: float = 7.5
    scheduler: str = "ddim"
    share: str = "self"
    device: str | None = None
    dtype: str = "auto"

    tiny_overrides: ClassVar[dict[str, Any]] = {"model": "tiny", "steps": 2}

    def setup(self) -> None:
        self._sampler = get_sampler(self.model, self.device, self.dtype, self.scheduler, self.share)

    def models(self) -> dict[str, Any]:
        sampler = getattr(self, "_sampler", None)
        return {"generator": sampler.describe()} if sampler else {}


def _captions(sample: Sample, stage: str) -> tuple[str, str]:
    source, target = sample.meta.get("input_caption"), sample.meta.get("output_caption")
    if not source or not target:
        raise EditlabError(f"{stage} needs input and output captions (meta.input_caption / output_caption); "
                           "put caption-llm (or another writer that gives an output caption) before it")
    return str(source), str(target)


@dataclass
class PromptToPromptStage(DiffusionStage):
    """IP2P pair generation: `candidates` pairs per prompt, each with its own seed and p."""

    name = "prompt-to-prompt"
    candidates: int = 4
    p_min: float = 0.1
    p_max: float = 0.9
    width: int = 512
    height: int = 512
    batch_size: int = 4

    tiny_overrides = {"model": "tiny", "steps": 2, "width": 32, "height": 32, "candidates": 2}

    def __post_init__(self) -> None:
        if not 0 <= self.p_min <= self.p_max <= 1:
            raise EditlabError(f"{self.name}: need 0 <= p_min <= p_max <= 1, got {self.p_min}, {self.p_max}")
        if self.candidates < 1:
            raise EditlabError(f"{self.name}: candidates must be at least 1")

    def thresholds(self):
        return {"candidates per prompt": self.candidates, "p range": [self.p_min, self.p_max]}

    def _plan(self, sample: Sample, ctx: ShardContext) -> tuple[list[int], list[float]]:
        seeds = [ctx.seed(sample.id, "noise", k) for k in range(self.candidates)]
        shares = [float(ctx.rng(sample.id, "p", k).uniform(self.p_min, self.p_max)) for k in range(self.candidates)]
        return seeds, shares

    def generate(self, sample, ctx):
        source_caption, target_caption = _captions(sample, self.name)
        seeds, shares = self._plan(sample, ctx)
        pairs = self._sampler.prompt_to_prompt(source_caption, target_caption, seeds=seeds, shares=shares,
                                               steps=self.steps, guidance_scale=self.guidance_scale,
                                               width=self.width, height=self.height, batch_size=self.batch_size)
        return self._candidates(sample, pairs, seeds, shares)

    def _candidates(self, sample: Sample, pairs, seeds, shares, **extra: Any) -> list[Sample]:
        out = []
        for k, ((source, edited), seed, p) in enumerate(zip(pairs, seeds, shares, strict=True)):
            child = sample if self.candidates == 1 else sample.derive(f"{sample.id}-c{k:02d}")
            child.group = sample.group or sample.id
            child.source, child.edited = source, edited
            child.record(self.name, model=self.model, seed=seed, p=round(p, 4), steps=self.steps,
                         guidance_scale=self.guidance_scale, scheduler=self.scheduler, share=self.share, **extra)
            out.append(child)
        return out


@dataclass
class Img2ImgPromptToPromptStage(PromptToPromptStage):
    """UltraEdit free-form: Prompt-to-Prompt anchored on a real image noised to `strength`."""

    name = "img2img-p2p"
    strength: float = 0.75
    keep_source: str = "real"  # or "reconstruction": the source branch's output

    tiny_overrides = {"model": "tiny", "steps": 2, "candidates": 2}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keep_source not in ("real", "reconstruction"):
            raise EditlabError(f"{self.name}: keep_source must be 'real' or 'reconstruction'")

    def generate(self, sample, ctx):
        source_caption, target_caption = _captions(sample, self.name)
        image = sample.image("source")
        if image is None:
            raise EditlabError(f"{self.name} needs a source image; start from an images stage")
        seeds, shares = self._plan(sample, ctx)
        pairs = self._sampler.prompt_to_prompt(source_caption, target_caption, seeds=seeds, shares=shares,
                                               steps=self.steps, guidance_scale=self.guidance_scale,
                                               init_image=image, strength=self.strength, batch_size=self.batch_size)
        if self.keep_source == "real":
            pairs = [(image, edited) for _, edited in pairs]
        return self._candidates(sample, pairs, seeds, shares, strength=self.strength)


def soft_mask(tight: Image.Image, loose_pixels: int, high: float = 0.8, low: float = 0.1) -> np.ndarray:
    """1 inside the tight mask, a ramp from `high` down to `low` across a band `loose_pixels` wide
    around it (the looser mask), 0 outside: edits fade into the surroundings instead of a seam."""
    mask = tight.convert("L").point(lambda v: 255 if v >= 128 else 0)
    out = np.asarray(mask, dtype=np.float32) / 255.0
    current = mask
    steps = max(0, int(loose_pixels))
    for ring in range(steps):
        grown = current.filter(ImageFilter.MaxFilter(3))
        band = (np.asarray(grown) > 0) & (np.asarray(current) == 0)
        out[band] = high - (high - low) * (ring / max(1, steps - 1))
        current = grown
    return out


@dataclass
class InpaintRegionStage(DiffusionStage):
    """UltraEdit region edits: repaint the grounded region, blending latents every other step."""

    name = "inpaint-region"
    blend_every: int = 2
    loose_fraction: float = 0.04  # width of the soft band, as a fraction of the short side
    soft_high: float = 0.8
    soft_low: float = 0.1
    strength: float = 1.0
    invert_mask: bool = False  # background edits repaint everything but the object
    prompt_key: str = "output_caption"

    def thresholds(self):
        return {"soft band": [self.soft_low, self.soft_high], "blend every": self.blend_every}

    def generate(self, sample, ctx):
        image, mask = sample.image("source"), sample.image("mask")
        if image is None or mask is None:
            raise EditlabError(f"{self.name} needs a source image and a mask; put a grounding stage before it")
        if self.invert_mask:
            mask = mask.point(lambda v: 255 - v)
        prompt = sample.meta.get(self.prompt_key) or sample.meta.get("output_caption") or sample.instruction
        band = max(1, int(round(self.loose_fraction * min(image.size))))
        weights = soft_mask(mask, band, self.soft_high, self.soft_low)
        seed = ctx.seed(sample.id, "noise")
        sample.edited = self._sampler.blend_inpaint(image, weights, str(prompt), seed=seed, steps=self.steps,
                                                    guidance_scale=self.guidance_scale, strength=self.strength,
                                                    blend_every=self.blend_every)
        sample.mask = Image.fromarray((weights * 255).round().astype(np.uint8))
        sample.record(self.name, model=self.model, seed=seed, steps=self.steps, guidance_scale=self.guidance_scale,
                      blend_every=self.blend_every, band_pixels=band, inverted=self.invert_mask)
        return [sample]
