"""CLIP and DINOv2 embeddings for the filters: transformers models by hub id or local path, batched.

Embeddings are unit-normalised float32 numpy arrays, so every similarity is a dot product.
Preprocessing is each model's own image processor (CLIP: bicubic resize of the short side, centre
crop, CLIP normalisation), as the reference scripts do.

This is a thin local adapter; `editlab.bench.metrics` holds the benchmark-grade metric
implementations, and these filters use its encoders when it provides them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import EditlabError, require


def _unit(x) -> np.ndarray:
    array = x.float().cpu().numpy()
    return array / np.maximum(np.linalg.norm(array, axis=-1, keepdims=True), 1e-12)


def _tensor(output):
    """transformers 5 returns a model output (pooler_output = projected embeds); 4.x a tensor."""
    return output if hasattr(output, "shape") else output.pooler_output


class ClipEncoder:
    def __init__(self, model: str, device: str | None = None, dtype: str = "auto", batch_size: int = 32):
        torch = require("torch", "data")
        transformers = require("transformers", "data")
        from editlab.data.backends.models import resolve_device, resolve_dtype, weights_hash

        self.torch, self.batch_size, self.id = torch, max(1, batch_size), model
        self.device = resolve_device(device)
        if model == "tiny":
            from editlab.data.backends.tiny import tiny_clip

            self.model, self.image_processor, self.tokenizer = tiny_clip()
        else:
            try:
                self.model = transformers.CLIPModel.from_pretrained(model, torch_dtype=resolve_dtype(dtype, self.device))
                self.image_processor = transformers.AutoImageProcessor.from_pretrained(model)
                self.tokenizer = transformers.AutoTokenizer.from_pretrained(model)
            except OSError as exc:
                raise EditlabError(f"cannot load CLIP model {model!r} ({exc}); pass a hub id or a local folder") from None
        self.model.to(self.device).eval()
        self.hash = weights_hash(self.model)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash}

    def images(self, images: list[Image.Image]) -> np.ndarray:
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                pixels = self.image_processor(images=[im.convert("RGB") for im in images[start:start + self.batch_size]],
                                              return_tensors="pt")["pixel_values"]
                pixels = pixels.to(self.device, self.model.dtype)
                out.append(_unit(_tensor(self.model.get_image_features(pixel_values=pixels))))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def texts(self, texts: list[str]) -> np.ndarray:
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                        max_length=77, return_tensors="pt").to(self.device)
                out.append(_unit(_tensor(self.model.get_text_features(input_ids=tokens["input_ids"],
                                                                      attention_mask=tokens["attention_mask"]))))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


class DinoEncoder:
    """DINOv2 (or DINO v1 ViT) CLS features."""

    def __init__(self, model: str, device: str | None = None, dtype: str = "auto", batch_size: int = 32):
        torch = require("torch", "data")
        transformers = require("transformers", "data")
        from editlab.data.backends.models import resolve_device, resolve_dtype, weights_hash

        self.torch, self.batch_size, self.id = torch, max(1, batch_size), model
        self.device = resolve_device(device)
        if model == "tiny":
            from editlab.data.backends.tiny import tiny_dinov2

            self.model, self.image_processor = tiny_dinov2()
        else:
            try:
                self.model = transformers.AutoModel.from_pretrained(model, torch_dtype=resolve_dtype(dtype, self.device))
                self.image_processor = transformers.AutoImageProcessor.from_pretrained(model)
            except OSError as exc:
                raise EditlabError(f"cannot load DINO model {model!r} ({exc}); pass a hub id or a local folder") from None
        self.model.to(self.device).eval()
        self.hash = weights_hash(self.model)

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash}

    def images(self, images: list[Image.Image]) -> np.ndarray:
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                pixels = self.image_processor(images=[im.convert("RGB") for im in images[start:start + self.batch_size]],
                                              return_tensors="pt")["pixel_values"]
                hidden = self.model(pixel_values=pixels.to(self.device, self.model.dtype)).last_hidden_state
                out.append(_unit(hidden[:, 0]))
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)
