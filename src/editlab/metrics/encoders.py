"""Frozen feature encoders for the similarity metrics: CLIP, DINO v1 (ViT) and DINOv2.

Loaded with transformers from a hub id (`openai/clip-vit-base-patch32`) or a local folder, in
eval mode with gradients off (re-asserted before every forward, so nothing can put an encoder
back in training mode). Each encoder carries its preprocessing and the sha256 of its weights,
which the harness records next to every score.

>>> enc = load_encoder("clip", "openai/clip-vit-base-patch32")   # doctest: +SKIP
>>> enc.embed_images([image]).shape                               # doctest: +SKIP
torch.Size([1, 512])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from PIL import Image

from editlab.errors import EditlabError, require
from editlab.io.device import resolve_device
from editlab.metrics.preprocess import (
    DINO_PREPROCESS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    clip_preprocess_for,
)

DEFAULT_ENCODERS = {
    "clip": "openai/clip-vit-base-patch32",
    "dino": "facebook/dino-vits16",
    "dinov2": "facebook/dinov2-base",
}

_LOADED: dict[tuple, Encoder] = {}
_PREFETCH = None


def _prefetcher():
    """One thread that prepares the next batch (it fans out to preprocess.py's image pool)."""
    global _PREFETCH
    if _PREFETCH is None:
        from concurrent.futures import ThreadPoolExecutor

        _PREFETCH = ThreadPoolExecutor(max_workers=1, thread_name_prefix="editlab-prefetch")
    return _PREFETCH


def weights_sha256(model) -> str:
    """sha256 over the state dict (names, dtypes, shapes, bytes in name order): file-layout independent."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(dtype=__import__("torch").uint8).numpy().tobytes())
    return digest.hexdigest()


class Encoder:
    """Base: a frozen transformers model + its preprocessing; subclasses define the features."""

    kind = "encoder"

    def __init__(self, model, source: str, preprocess: Preprocess, device: str, batch_size: int = 32):
        self.model = model.to(device).eval().requires_grad_(False)
        self.source = source
        self.preprocess = preprocess
        self.device = device
        self.batch_size = batch_size
        self._sha256: str | None = None
        #: image sha256 -> features, when `memoize` is on (the harness turns it on: CLIP-I, CLIP-T
        #: and CLIP-dir then encode each image once)
        self.memoize = False
        self._memo: dict[str, object] = {}

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = weights_sha256(self.model)
        return self._sha256

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "sha256": self.sha256,
                "preprocessing": self.preprocess.describe()}

    def _image_features(self, pixel_values):
        raise NotImplementedError

    def embed_images(self, images: Sequence[Image.Image]):
        """Un-normalised float32 features, shape (N, D), computed in batches of `batch_size`."""
        if not self.memoize:
            return self._embed(images)
        torch = require("torch", "bench")
        from editlab.io.hashing import image_hash

        keys = [image_hash(image) for image in images]
        todo = {key: image for key, image in zip(keys, images, strict=True) if key not in self._memo}
        if todo:
            if len(self._memo) > 20000:  # bound memory on very long runs
                self._memo.clear()
            self._memo.update(zip(todo, self._embed(list(todo.values())), strict=True))
        return torch.stack([self._memo[key] for key in keys]) if keys else torch.zeros(0, 0)

    def _embed(self, images: Sequence[Image.Image]):
        """The next batch is preprocessed on a worker thread while the model runs the current one."""
        torch = require("torch", "bench")

        self.model.eval()
        chunks = [images[start : start + self.batch_size] for start in range(0, len(images), self.batch_size)]
        if not chunks:
            return torch.zeros(0, 0)
        features = []
        upcoming = _prefetcher().submit(self.preprocess, chunks[0])
        with torch.inference_mode():
            for index in range(len(chunks)):
                pixels = upcoming.result()
                if index + 1 < len(chunks):
                    upcoming = _prefetcher().submit(self.preprocess, chunks[index + 1])
                features.append(self._image_features(pixels.to(self.device, non_blocking=True)).float().cpu())
        return torch.cat(features)


class ClipEncoder(Encoder):
    """CLIP image and text embeddings = the projected pooled outputs (OpenAI `encode_image/encode_text`)."""

    kind = "clip"

    def __init__(self, model, tokenizer, source: str, device: str, batch_size: int = 32):
        super().__init__(model, source, clip_preprocess_for(model.config.vision_config.image_size), device, batch_size)
        self.tokenizer = tokenizer

    def _image_features(self, pixel_values):
        pooled = self.model.vision_model(pixel_values=pixel_values).pooler_output
        return self.model.visual_projection(pooled)

    def embed_texts(self, texts: Sequence[str]):
        torch = require("torch", "bench")
        self.model.eval()
        max_length = min(77, self.model.config.text_config.max_position_embeddings)
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                tokens = self.tokenizer(list(texts[start : start + self.batch_size]), padding=True,
                                        truncation=True, max_length=max_length, return_tensors="pt")
                tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
                pooled = self.model.text_model(**tokens).pooler_output
                chunks.append(self.model.text_projection(pooled).float().cpu())
        return torch.cat(chunks) if chunks else torch.zeros(0, 0)


class DinoEncoder(Encoder):
    """DINO v1 (ViTModel) or DINOv2: the CLS token of the last hidden state (after the final norm)."""

    def __init__(self, model, source: str, kind: str, device: str, batch_size: int = 32):
        size = getattr(model.config, "image_size", 224)
        # DINO v1's ViT has fixed position embeddings: keep the 256/224 resize ratio at other sizes.
        preprocess = DINO_PREPROCESS if kind == "dinov2" or size == 224 else Preprocess(
            f"dino-imagenet-{size}", int(size * 256 / 224), size, IMAGENET_MEAN, IMAGENET_STD)
        super().__init__(model, source, preprocess, device, batch_size)
        self.kind = kind

    def _image_features(self, pixel_values):
        return self.model(pixel_values=pixel_values).last_hidden_state[:, 0]


def _from_pretrained(cls, source: str, **kwargs):
    try:
        return cls.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise EditlabError(
            f"cannot load encoder {source!r} ({str(exc).splitlines()[0]}); pass a hub id you can download "
            "or a local folder saved with save_pretrained"
        ) from None


def load_encoder(kind: str, source: str | None = None, *, device: str | None = None, batch_size: int = 32) -> Encoder:
    """A cached, frozen encoder: kind is 'clip', 'dino' (v1 ViT) or 'dinov2'; source a hub id or folder."""
    if kind not in DEFAULT_ENCODERS:
        raise EditlabError(f"unknown encoder kind {kind!r}; choose one of {', '.join(DEFAULT_ENCODERS)}")
    source = str(source or DEFAULT_ENCODERS[kind])
    device = resolve_device(device, extra="bench")
    key = (kind, source, device)
    if key in _LOADED:
        _LOADED[key].batch_size = batch_size
        return _LOADED[key]
    transformers = require("transformers", "bench")
    if kind == "clip":
        model = _from_pretrained(transformers.CLIPModel, source)
        tokenizer = _from_pretrained(transformers.AutoTokenizer, source)
        encoder: Encoder = ClipEncoder(model, tokenizer, source, device, batch_size)
    elif kind == "dino":
        model = _from_pretrained(transformers.ViTModel, source, add_pooling_layer=False)
        encoder = DinoEncoder(model, source, "dino", device, batch_size)
    else:
        model = _from_pretrained(transformers.Dinov2Model, source)
        encoder = DinoEncoder(model, source, "dinov2", device, batch_size)
    _LOADED[key] = encoder
    return encoder


def resolve_encoder(encoder: Encoder | str | None, kind: str, batch_size: int = 32) -> Encoder:
    """Accept a loaded encoder, a hub id / path, or None (the field's default for `kind`)."""
    if isinstance(encoder, Encoder):
        return encoder
    return load_encoder(kind, encoder, batch_size=batch_size)
