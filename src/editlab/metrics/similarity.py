"""Embedding similarities: CLIP-I, CLIP-T, CLIP-dir, CLIP-out, DINO, DINOv2 (functional, batched).

All are cosine similarities of frozen-encoder features (encoders.py); `encoder` is a loaded
`Encoder`, a hub id / local folder, or None for the field's default.

- CLIP-I (MagicBrush, Emu "CLIP_img"): cos(E_img(output), E_img(reference)).
- CLIP-T (MagicBrush): cos(E_img(output), E_txt(caption of the target)).
- CLIP-out (Emu Edit): the same with the output caption.
- CLIP-dir (IP2P, Emu Edit): cos(E_img(out) - E_img(in), E_txt(out caption) - E_txt(in caption)),
  on unit-normalised embeddings.
- DINO / DINOv2: cos of CLS features, output vs reference.

>>> clip_image_similarity([out], [target], encoder="openai/clip-vit-base-patch32")   # doctest: +SKIP
tensor([0.8731], dtype=torch.float64)
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from editlab.errors import EditlabError
from editlab.metrics.encoders import Encoder, resolve_encoder


def _unit(features):
    return features.double() / features.double().norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _cosine(a, b):
    return (_unit(a) * _unit(b)).sum(-1)


def _check(n: int, **others: Sequence) -> None:
    for name, values in others.items():
        if len(values) != n:
            raise EditlabError(f"got {n} outputs but {len(values)} {name}; pass one per output")


def _embed_pairs(encoder: Encoder, first: Sequence[Image.Image], second: Sequence[Image.Image]):
    # One pass through the encoder for both sides: bigger batches, one preprocessing loop.
    features = encoder.embed_images(list(first) + list(second))
    return features[: len(first)], features[len(first) :]


def clip_image_similarity(outputs: Sequence[Image.Image], references: Sequence[Image.Image], *,
                          encoder: Encoder | str | None = None, batch_size: int = 32):
    _check(len(outputs), references=references)
    enc = resolve_encoder(encoder, "clip", batch_size)
    a, b = _embed_pairs(enc, outputs, references)
    return _cosine(a, b)


def clip_text_similarity(outputs: Sequence[Image.Image], texts: Sequence[str], *,
                         encoder: Encoder | str | None = None, batch_size: int = 32):
    _check(len(outputs), texts=texts)
    enc = resolve_encoder(encoder, "clip", batch_size)
    return _cosine(enc.embed_images(list(outputs)), enc.embed_texts(list(texts)))


#: Emu Edit's CLIP_out is CLIP-T against the output caption.
clip_output_similarity = clip_text_similarity


def clip_directional_similarity(sources: Sequence[Image.Image], outputs: Sequence[Image.Image],
                                source_texts: Sequence[str], output_texts: Sequence[str], *,
                                encoder: Encoder | str | None = None, batch_size: int = 32):
    _check(len(outputs), sources=sources, source_texts=source_texts, output_texts=output_texts)
    enc = resolve_encoder(encoder, "clip", batch_size)
    image_in, image_out = _embed_pairs(enc, sources, outputs)
    texts = enc.embed_texts(list(source_texts) + list(output_texts))
    text_in, text_out = texts[: len(source_texts)], texts[len(source_texts) :]
    return _cosine(_unit(image_out) - _unit(image_in), _unit(text_out) - _unit(text_in))


def dino_similarity(outputs: Sequence[Image.Image], references: Sequence[Image.Image], *,
                    encoder: Encoder | str | None = None, batch_size: int = 32):
    _check(len(outputs), references=references)
    enc = resolve_encoder(encoder, "dino", batch_size)
    a, b = _embed_pairs(enc, outputs, references)
    return _cosine(a, b)


def dinov2_similarity(outputs: Sequence[Image.Image], references: Sequence[Image.Image], *,
                      encoder: Encoder | str | None = None, batch_size: int = 32):
    _check(len(outputs), references=references)
    enc = resolve_encoder(encoder, "dinov2", batch_size)
    a, b = _embed_pairs(enc, outputs, references)
    return _cosine(a, b)
