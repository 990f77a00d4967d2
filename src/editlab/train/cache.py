"""Precomputed VAE latents (and text embeddings for a frozen text encoder), on disk.

Training reads the same numbers either way: for the edited image the cache keeps the posterior's
mean and std and the trainer draws `mean + std * noise` with its per-step generator, exactly what
`latent_dist.sample(generator)` does uncached; the source image's conditioning is the posterior
mode (= mean). The cache file is named by a fingerprint of the VAE weights and the data, so a
changed VAE or dataset never reads stale latents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from editlab.errors import require


def vae_fingerprint(vae: Any, data_key: str) -> str:
    digest = hashlib.sha256(data_key.encode())
    for name, tensor in sorted(vae.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
        digest.update(str(float(tensor.float().sum())).encode())
    return digest.hexdigest()[:16]


class LatentCache:
    """index -> (source mode, edited mean, edited std, mask), all fp32 CPU tensors."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[int, tuple[Any, Any, Any, Any]] = {}

    def __contains__(self, index: int) -> bool:
        return index in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, indices: Sequence[int]):
        torch = require("torch", "train")
        rows = [self.entries[i] for i in indices]
        return tuple(torch.stack([r[k] for r in rows]) for k in range(4))

    @classmethod
    def build(cls, path: str | Path, indices: Sequence[int], collate: Callable[[Sequence[int]], dict], vae: Any, *,
              device: Any, batch_size: int = 32, progress: Callable[[int, int], None] | None = None) -> LatentCache:
        """Load the cache at `path`, or encode every index (in batches) and save it atomically."""
        torch = require("torch", "train")
        cache = cls(path)
        if cache.load():
            return cache
        todo = [i for i in indices if i not in cache]
        with torch.no_grad():
            for start in range(0, len(todo), batch_size):
                chunk = todo[start: start + batch_size]
                batch = collate(chunk)
                # one forward for sources and targets (equal sizes: one bucket per batch)
                pixels = torch.cat([batch["source_pixels"], batch["edited_pixels"]]).to(device, vae.dtype)
                dist = vae.encode(pixels).latent_dist
                n = len(chunk)
                for k, index in enumerate(chunk):
                    cache.entries[index] = (dist.mode()[k].float().cpu(), dist.mean[n + k].float().cpu(),
                                            dist.std[n + k].float().cpu(), batch["mask"][k].float())
                if progress:
                    progress(min(start + batch_size, len(todo)), len(todo))
        cache.save()
        return cache

    def save(self) -> None:
        safetensors_torch = require("safetensors.torch", "train")
        from editlab.io.atomic import atomic_write

        tensors = {}
        for index, (src, mean, std, mask) in self.entries.items():
            tensors[f"{index}.src"], tensors[f"{index}.mean"] = src.contiguous(), mean.contiguous()
            tensors[f"{index}.std"], tensors[f"{index}.mask"] = std.contiguous(), mask.contiguous()
        with atomic_write(self.path, "wb") as handle:
            handle.write(safetensors_torch.save(tensors))

    def load(self) -> bool:
        if not self.path.is_file():
            return False
        safetensors_torch = require("safetensors.torch", "train")
        tensors = safetensors_torch.load_file(str(self.path))
        for key in tensors:
            index, _, kind = key.partition(".")
            if kind == "src":
                i = int(index)
                self.entries[i] = (tensors[f"{i}.src"], tensors[f"{i}.mean"], tensors[f"{i}.std"], tensors[f"{i}.mask"])
        return True


class TextEmbeddingCache:
    """instruction -> embedding, for a frozen text encoder (the empty string included)."""

    def __init__(self) -> None:
        self.entries: dict[str, Any] = {}

    def encode(self, instructions: Sequence[str], input_ids, text_encoder: Any):
        torch = require("torch", "train")
        missing = [k for k, text in enumerate(instructions) if text not in self.entries]
        if missing:
            with torch.no_grad():
                out = text_encoder(input_ids[missing].to(text_encoder.device))[0]
            for row, k in enumerate(missing):
                self.entries[instructions[k]] = out[row].detach()
        return torch.stack([self.entries[text] for text in instructions])
