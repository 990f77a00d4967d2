"""CLIP and DINOv2 for the filters, through `editlab.metrics.encoders` (the same weights
hashing and reference preprocessing the benchmarks use), plus `tiny` random encoders for plumbing.

Embeddings come back unit-normalised as float32 numpy arrays: every similarity is a dot product.

>>> clip = clip_encoder("openai/clip-vit-large-patch14")       # doctest: +SKIP
>>> clip_images(clip, [image]).shape                            # doctest: +SKIP
(1, 768)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image


def _unit(features) -> np.ndarray:
    array = features.float().cpu().numpy() if hasattr(features, "cpu") else np.asarray(features, np.float32)
    return array / np.maximum(np.linalg.norm(array, axis=-1, keepdims=True), 1e-12)


def clip_encoder(model: str, device: str | None = None, batch_size: int = 32):
    from editlab.io.device import resolve_device
    from editlab.metrics.encoders import ClipEncoder, load_encoder

    if model == "tiny":
        from editlab.data.backends.tiny import tiny_clip

        clip, _, tokenizer = tiny_clip()
        return ClipEncoder(clip, tokenizer, "tiny", resolve_device(device, extra="data"), batch_size)
    return load_encoder("clip", model, device=device, batch_size=batch_size)


def dino_encoder(model: str, device: str | None = None, batch_size: int = 32):
    from editlab.io.device import resolve_device
    from editlab.metrics.encoders import DinoEncoder, load_encoder

    if model == "tiny":
        from editlab.data.backends.tiny import tiny_dinov2

        dino, _ = tiny_dinov2()
        return DinoEncoder(dino, "tiny", "dinov2", resolve_device(device, extra="data"), batch_size)
    kind = "dinov2" if "dinov2" in model.lower() else "dino"
    return load_encoder(kind, model, device=device, batch_size=batch_size)


def images(encoder, batch: list[Image.Image]) -> np.ndarray:
    return _unit(encoder.embed_images([im.convert("RGB") for im in batch]))


def texts(encoder, batch: list[str]) -> np.ndarray:
    return _unit(encoder.embed_texts(list(batch)))


def describe(encoder) -> dict[str, Any]:
    return {"id": encoder.source, "hash": f"sha256:{encoder.sha256[:16]}"}
