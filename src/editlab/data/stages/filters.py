"""Similarity filters: CLIP (InstructPix2Pix, UltraEdit) and DINOv2 (UltraEdit).

`clip-filter` computes, with unit-normalised CLIP embeddings,
  clip_caption_in  = cos(E_img(source), E_txt(input caption))
  clip_caption_out = cos(E_img(edited), E_txt(output caption))
  clip_direction   = cos(E_img(edited) - E_img(source), E_txt(output) - E_txt(input))
  clip_image       = cos(E_img(source), E_img(edited))
keeps a candidate when all pass their thresholds (IP2P: 0.2 / 0.2 / 0.7; UltraEdit: 0.2 / 0.22 /
0.75, region 0.7), then keeps the `top_k` candidates per prompt by directional similarity.
`dino-filter` adds dino_image = cos of DINOv2 CLS features (UltraEdit: >= 0.4).
Every score is stored on the row, passed or not, so a dataset can be re-thresholded later.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, Stage, run_batched
from editlab.errors import EditlabError


def _round(value: float) -> float:
    return round(float(value), 6)


def directional_similarity(src_img: np.ndarray, out_img: np.ndarray, src_txt: np.ndarray,
                           out_txt: np.ndarray) -> np.ndarray:
    """cos(out_img - src_img, out_txt - src_txt) per row (inputs unit-normalised, shape (N, D))."""
    image_delta, text_delta = out_img - src_img, out_txt - src_txt
    norms = np.linalg.norm(image_delta, axis=1) * np.linalg.norm(text_delta, axis=1)
    return np.where(norms > 0, (image_delta * text_delta).sum(1) / np.maximum(norms, 1e-12), 0.0)


def keep_top_k(samples: list[Sample], k: int | None, score: str, stage: str) -> None:
    """Within each group (candidates of one prompt), keep the k best passing rows by `score`."""
    if not k:
        return
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.ok:
            groups[sample.group or sample.id].append(sample)
    for members in groups.values():
        ranked = sorted(members, key=lambda s: (-s.scores[score], s.id))
        for rank, sample in enumerate(ranked, start=1):
            sample.scores[f"{score}_rank"] = rank
            if rank > k:
                sample.reject(stage, f"rank {rank} by {score} (top {k} kept)")


@dataclass
class ClipFilter(Stage):
    """CLIP caption-image, directional and image-image thresholds, then top-k per prompt."""

    name = "clip-filter"
    model: str = "openai/clip-vit-large-patch14"
    min_caption_image: float | None = 0.2
    min_direction: float | None = 0.2
    min_image_image: float | None = 0.7
    top_k: int | None = 4
    require_captions: bool = True
    batch_size: int = 32
    device: str | None = None

    # random encoders score randomly: a tiny (plumbing) run keeps the ranking, not the thresholds
    tiny_overrides: ClassVar[dict[str, Any]] = {"model": "tiny", "min_caption_image": None, "min_direction": None,
                                                "min_image_image": None}

    def setup(self) -> None:
        from editlab.data.backends import encoders

        self._encoders = encoders
        self._encoder = encoders.clip_encoder(self.model, self.device, self.batch_size)

    def models(self):
        return {"clip": self._encoders.describe(self._encoder)} if getattr(self, "_encoder", None) else {}

    def thresholds(self):
        return {"caption-image >=": self.min_caption_image, "directional >=": self.min_direction,
                "image-image >=": self.min_image_image, "top-k per prompt (directional)": self.top_k}

    def process(self, samples: list[Sample], ctx: ShardContext) -> list[Sample]:
        run_batched(samples, max(self.batch_size, 1), self.name, self._score)
        for sample in samples:
            if sample.ok:
                self._judge(sample)
        scored = [s for s in samples if s.ok]
        # without captions there is no directional score: rank by image-image similarity instead
        rank_by = "clip_direction" if all("clip_direction" in s.scores for s in scored) else "clip_image"
        keep_top_k(samples, self.top_k, rank_by, self.name)
        return samples

    def _score(self, batch: list[Sample]) -> None:
        embedded = self._encoders.images(self._encoder, [s.image("source") for s in batch] +
                                         [s.image("edited") for s in batch])
        sources, edits = embedded[:len(batch)], embedded[len(batch):]
        image_image = (sources * edits).sum(1)
        captioned = [s for s in batch if s.meta.get("input_caption") and s.meta.get("output_caption")]
        if self.require_captions and len(captioned) < len(batch):
            missing = next(s for s in batch if s not in captioned)
            raise EditlabError(f"{missing.id} has no input/output caption; set require_captions=false to score "
                               "image-image similarity only")
        texts = {}
        if captioned:
            embedded = self._encoders.texts(self._encoder, [s.meta["input_caption"] for s in captioned] +
                                            [s.meta["output_caption"] for s in captioned])
            n = len(captioned)
            texts = {s.id: (embedded[i], embedded[n + i]) for i, s in enumerate(captioned)}
        for i, sample in enumerate(batch):
            sample.scores["clip_image"] = _round(image_image[i])
            if sample.id in texts:
                src_txt, out_txt = texts[sample.id]
                sample.scores["clip_caption_in"] = _round(sources[i] @ src_txt)
                sample.scores["clip_caption_out"] = _round(edits[i] @ out_txt)
                sample.scores["clip_direction"] = _round(directional_similarity(
                    sources[i:i + 1], edits[i:i + 1], src_txt[None], out_txt[None])[0])

    def _judge(self, sample: Sample) -> None:
        s = sample.scores
        checks = [("clip_caption_in", self.min_caption_image, "caption-image (input)"),
                  ("clip_caption_out", self.min_caption_image, "caption-image (output)"),
                  ("clip_direction", self.min_direction, "directional similarity"),
                  ("clip_image", self.min_image_image, "image-image similarity")]
        for key, threshold, label in checks:
            if threshold is not None and key in s and s[key] < threshold:
                sample.reject(self.name, f"{label} {s[key]:.3f} < {threshold}")
                return


@dataclass
class DinoFilter(Stage):
    """DINOv2 image-image similarity between source and edited (UltraEdit: >= 0.4)."""

    name = "dino-filter"
    model: str = "facebook/dinov2-base"
    min_similarity: float | None = 0.4
    max_similarity: float | None = None  # e.g. 0.99 drops pairs where nothing changed
    batch_size: int = 32
    device: str | None = None

    tiny_overrides: ClassVar[dict[str, Any]] = {"model": "tiny", "min_similarity": None}

    def setup(self) -> None:
        from editlab.data.backends import encoders

        self._encoders = encoders
        self._encoder = encoders.dino_encoder(self.model, self.device, self.batch_size)

    def models(self):
        return {"dino": self._encoders.describe(self._encoder)} if getattr(self, "_encoder", None) else {}

    def thresholds(self):
        return {"DINO image-image >=": self.min_similarity, "DINO image-image <=": self.max_similarity}

    def process(self, samples: list[Sample], ctx: ShardContext) -> list[Sample]:
        def score(batch: list[Sample]) -> None:
            embedded = self._encoders.images(self._encoder, [s.image("source") for s in batch] +
                                             [s.image("edited") for s in batch])
            sources, edits = embedded[:len(batch)], embedded[len(batch):]
            for sample, value in zip(batch, (sources * edits).sum(1), strict=True):
                sample.scores["dino_image"] = _round(value)

        run_batched(samples, self.batch_size, self.name, score)
        for sample in samples:
            value = sample.scores.get("dino_image")
            if not sample.ok or value is None:
                continue
            if self.min_similarity is not None and value < self.min_similarity:
                sample.reject(self.name, f"DINO similarity {value:.3f} < {self.min_similarity}")
            elif self.max_similarity is not None and value > self.max_similarity:
                sample.reject(self.name, f"DINO similarity {value:.3f} > {self.max_similarity} (no visible edit)")
        return samples
