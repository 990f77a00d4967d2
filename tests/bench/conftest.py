"""Fixtures for the bench tests: tiny random encoders saved to disk and loaded by path, fake data."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image  # noqa: F401

sys.path.insert(0, str(Path(__file__).parent))


def _byte_chars() -> list[str]:
    # CLIP's byte-level alphabet (GPT-2 bytes_to_unicode).
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def save_tiny_clip(path) -> str:
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                         vocab_size=1000, max_position_embeddings=77, eos_token_id=0, bos_token_id=1, pad_token_id=0),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )
    CLIPModel(config).eval().save_pretrained(path)
    chars = _byte_chars()
    vocab = {"<|endoftext|>": 0, "<|startoftext|>": 1}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    for ch in chars:
        vocab.setdefault(ch + "</w>", len(vocab))
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(path / "vocab.json"), str(path / "merges.txt"))
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> str:
    return save_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def tiny_dino(tmp_path_factory) -> str:
    import torch
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("tiny-dino")
    config = ViTConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                       image_size=32, patch_size=8)
    ViTModel(config, add_pooling_layer=False).eval().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_dinov2(tmp_path_factory) -> str:
    import torch
    from transformers import Dinov2Config, Dinov2Model

    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("tiny-dinov2")
    config = Dinov2Config(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                          image_size=32, patch_size=16)
    Dinov2Model(config).eval().save_pretrained(path)
    return str(path)
