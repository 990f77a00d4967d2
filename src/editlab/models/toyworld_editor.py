"""The toyworld editor: a one-step composite editing network (the shipped default model).

Every toyworld edit has exactly one right answer, so editing is supervised image-to-image
learning and no sampler is needed. The network reads the source picture and the instruction once
and predicts

- an **edit mask** `m` and **content** `c` per pixel: `output = (1 - m) * base + m * c`, so the
  pixels an edit leaves alone are copied exactly (preservation is built in, not learned);
- a **whole-picture operation** from a fixed bank (`GLOBAL_OPS`: identity, grayscale, sepia,
  invert, posterize, sketch, flips, rotations, a 2x zoom) and, for the zoom, its **centre**;
  `base` is the source under that operation. Style, view and zoom edits become a classification
  and a localisation instead of repainting every pixel, which a small net learns far faster.

Design (why each part is there):
- **space-to-depth** (64x64x3 -> 16x16x48, lossless) runs the body at 16x16 and 8x8, so an
  hour on two CPU cores holds hundreds of thousands of training samples;
- **CoordConv** channels (x, y) for positions ("in the top left", "move it up");
- **FiLM** (Perez et al. 2018) from the pooled instruction in every residual block, and
  cross-attention from the image to the instruction's words at 16x16 and 8x8, for grounding
  referring expressions ("the star left of the red circle");
- self-attention at 8x8 for relations across the picture (move, count, "the biggest");
- **pointing**: a heatmap over the 16x16 cells of where the edit acts (the referred object, the
  named region), trained on toyworld's exact answer and fed back to the mask and content heads;
  grounding learns from a direct signal instead of only through pixels, and the zoom centre is
  the heatmap's expected position;
- a per-cell head that sees the cell's own source pixels (a skip from the input) and the
  instruction (FiLM), so content can copy and recolour what is there rather than redraw it
  from a 64-channel summary (without it, the content loss stalled at ~0.09 after 8 minutes);
- an optional thin full-resolution refinement (`refine_channels`, off in the shipped model: on a
  CPU it costs as much as the body).

It is a plain `torch.nn.Module` saved as `config.json` + `model.safetensors` (no pickle). It is not
a diffusers `ModelMixin` on purpose: importing diffusers costs ~2 s (it imports torch._dynamo),
more than the whole default edit is allowed to take (`editlab edit` <= 3 s). It only knows
toyworld: 64x64 flat-shape scenes and toyworld's instruction vocabulary.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from editlab.toyworld import styles
from editlab.toyworld.edits import ZOOM

#: The fixed operation bank: identity, toyworld's styles, its view operations, its zoom (the pool labels every
#: training example with its index here; index 0 leaves the picture alone). Written out, not derived from
#: toyworld's palette: a trained model's operation head is tied to this order.
GLOBAL_OPS: tuple[str, ...] = (
    "identity", "grayscale", "sepia", "invert", "posterize", "sketch",
    "flip_h", "flip_v", "rotate_90", "rotate_180", "rotate_270", "zoom",
)
SEPIA_DARK = torch.tensor(styles.SEPIA_DARK, dtype=torch.float32) / 255
SEPIA_LIGHT = torch.tensor(styles.SEPIA_LIGHT, dtype=torch.float32) / 255


# ------------------------------------------------------------------------------ the operation bank


def _gray(x: torch.Tensor) -> torch.Tensor:
    r, g, b = (x * 255).unbind(1)
    return ((r * 299 + g * 587 + b * 114) / 1000).round().unsqueeze(1) / 255  # PIL's "L" conversion


def _sketch(x: torch.Tensor) -> torch.Tensor:
    gray = _gray(x) * 255
    padded = F.pad(gray, (1, 1, 1, 1), mode="replicate")
    gx = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
    gy = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
    strength = (torch.sqrt(gx ** 2 + gy ** 2) * 1.6).clamp(0, 235)
    return (255 - strength).floor().expand(-1, 3, -1, -1) / 255


def zoom_grid(center: torch.Tensor, height: int, width: int, zoom: float = ZOOM) -> torch.Tensor:
    """Sampling grid of a `zoom`x view centred on `center` ((B, 2) in [0, 1], x then y)."""
    ys = torch.linspace(-1, 1, height, device=center.device) * (1 - 1 / height)
    xs = torch.linspace(-1, 1, width, device=center.device) * (1 - 1 / width)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    cx = (center[:, 0] * 2 - 1).view(-1, 1, 1)
    cy = (center[:, 1] * 2 - 1).view(-1, 1, 1)
    return torch.stack([cx + gx / zoom, cy + gy / zoom], dim=-1)


def _one_op(x: torch.Tensor, op: str, center: torch.Tensor) -> torch.Tensor:
    if op == "identity":
        return x
    if op == "grayscale":
        return _gray(x).expand(-1, 3, -1, -1)
    if op == "sepia":
        g = _gray(x)
        dark, light = SEPIA_DARK.to(x).view(1, 3, 1, 1), SEPIA_LIGHT.to(x).view(1, 3, 1, 1)
        return ((dark + g * (light - dark)) * 255).round() / 255
    if op == "invert":
        return 1 - x
    if op == "posterize":
        return torch.div((x * 255).round(), 64, rounding_mode="floor") * 64 / 255
    if op == "sketch":
        return _sketch(x)
    if op == "flip_h":
        return x.flip(-1)
    if op == "flip_v":
        return x.flip(-2)
    if op.startswith("rotate_"):  # clockwise, as toyworld's views
        return torch.rot90(x, k=-int(op.split("_")[1]) // 90, dims=(-2, -1))
    if op == "zoom":
        return F.grid_sample(x, zoom_grid(center, x.shape[-2], x.shape[-1]), mode="bilinear",
                             padding_mode="border", align_corners=False)
    raise ValueError(f"unknown picture operation {op!r}; choose one of: {', '.join(GLOBAL_OPS)}")


def apply_global_op(x: torch.Tensor, op: int | torch.Tensor, center: torch.Tensor) -> torch.Tensor:
    """Pictures `x` (B, 3, H, W in [0, 1]) under operation `op` (one index, or one per picture)."""
    if isinstance(op, int):
        return _one_op(x, GLOBAL_OPS[op], center)
    out = x.clone()
    for index in op.unique().tolist():
        pick = op == index
        if index:
            out[pick] = _one_op(x[pick], GLOBAL_OPS[index], center[pick])
    return out


# ------------------------------------------------------------------------------ network parts


def _groups(channels: int) -> int:
    return math.gcd(channels, 16)


class FiLMResBlock(nn.Module):
    """GroupNorm -> FiLM(instruction) -> SiLU -> conv -> GroupNorm -> SiLU -> conv, plus the input."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(channels), channels)
        self.film = nn.Linear(cond_dim, 2 * channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(_groups(channels), channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(cond)[:, :, None, None].chunk(2, dim=1)
        h = F.silu(self.norm1(x) * (1 + scale) + shift)
        h = self.conv2(F.silu(self.norm2(self.conv1(h))))
        return x + h


class Attention(nn.Module):
    """Image positions attend to themselves (self) or to the instruction's words (cross)."""

    def __init__(self, channels: int, context_dim: int | None, heads: int = 4):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.context_norm = nn.LayerNorm(context_dim) if context_dim else None
        self.attn = nn.MultiheadAttention(channels, heads, kdim=context_dim or channels,
                                          vdim=context_dim or channels, batch_first=True)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.zeros_(self.attn.out_proj.bias)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                context_pad: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        q = self.norm(tokens)
        if self.context_norm is None:
            kv, pad = q, None
        else:
            kv, pad = self.context_norm(context), context_pad
        out, _ = self.attn(q, kv, kv, key_padding_mask=pad, need_weights=False)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class InstructionEncoder(nn.Module):
    """Word embeddings + positions through a small pre-norm Transformer; pooled by masked mean."""

    def __init__(self, vocab_size: int, dim: int, layers: int, max_tokens: int, pad_token_id: int):
        super().__init__()
        self.pad_token_id = pad_token_id
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=pad_token_id)
        self.position = nn.Parameter(torch.zeros(1, max_tokens, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pad = ids == self.pad_token_id
        h = self.embed(ids) + self.position[:, : ids.shape[1]]
        h = self.norm(self.encoder(h, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).to(h.dtype)
        pooled = (h * keep).sum(1) / keep.sum(1).clamp(min=1)
        return h, pooled, pad


def coord_channels(batch: int, height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    ys = torch.linspace(-1, 1, height, device=like.device, dtype=like.dtype)
    xs = torch.linspace(-1, 1, width, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy]).unsqueeze(0).expand(batch, -1, -1, -1)


def cell_centres(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 2, height, width): the centre of each cell of a height x width grid over the picture, in [0, 1]."""
    ys = (torch.arange(height, device=like.device, dtype=like.dtype) + 0.5) / height
    xs = (torch.arange(width, device=like.device, dtype=like.dtype) + 0.5) / width
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy]).unsqueeze(0)


# ------------------------------------------------------------------------------ the model


class ModelConfig(dict):
    """A model's constructor arguments, read as a dict or as attributes (`model.config.image_size`)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: the weights' name in folders written while this class was a diffusers ModelMixin (still read)
LEGACY_WEIGHTS_NAME = "diffusion_pytorch_model.safetensors"


class ToyworldEditorModel(nn.Module):
    """Source picture + instruction ids -> edit mask logits, content, operation logits, referent heatmap logits and
    its expected position (the zoom centre)."""

    def __init__(
        self,
        vocab_size: int = 256,
        max_tokens: int = 40,
        pad_token_id: int = 0,
        unk_token_id: int = 3,
        text_dim: int = 128,
        text_layers: int = 2,
        image_size: int = 64,
        patch: int = 4,
        channels: int = 64,
        deep_channels: int = 128,
        refine_channels: int = 16,
        head_channels: int = 192,
        known_token_ids: list[int] | None = None,
    ):
        super().__init__()
        self.config = ModelConfig(
            vocab_size=vocab_size, max_tokens=max_tokens, pad_token_id=pad_token_id, unk_token_id=unk_token_id,
            text_dim=text_dim, text_layers=text_layers, image_size=image_size, patch=patch, channels=channels,
            deep_channels=deep_channels, refine_channels=refine_channels, head_channels=head_channels,
            known_token_ids=list(known_token_ids) if known_token_ids else None,
        )
        self.text = InstructionEncoder(vocab_size, text_dim, text_layers, max_tokens, pad_token_id)
        c, c2, p = channels, deep_channels, patch
        self.stem = nn.Conv2d(5 * p * p, c, 1)
        self.enc = nn.ModuleList([FiLMResBlock(c, text_dim), FiLMResBlock(c, text_dim)])
        self.enc_cross = Attention(c, text_dim)
        self.down = nn.Conv2d(c, c2, 3, stride=2, padding=1)
        self.mid = nn.ModuleList([FiLMResBlock(c2, text_dim), FiLMResBlock(c2, text_dim)])
        self.mid_cross = nn.ModuleList([Attention(c2, text_dim), Attention(c2, text_dim)])
        self.mid_self = Attention(c2, None)
        self.up = nn.Conv2d(c2, c, 3, padding=1)
        self.merge = nn.Conv2d(2 * c, c, 1)
        self.dec = nn.ModuleList([FiLMResBlock(c, text_dim), FiLMResBlock(c, text_dim)])
        self.dec_cross = Attention(c, text_dim)
        # pointing: where the edit acts (the referred object, the named region), fed back to the heads
        self.referent_head = nn.Conv2d(c, 1, 1)
        self.referent_in = nn.Conv2d(1, c, 1)
        self.post = FiLMResBlock(c, text_dim)
        self.out_norm = nn.GroupNorm(_groups(c), c)
        # per-cell head: the cell's features, its source pixels and coordinates (a skip from the input, so
        # content can copy and recolour what is there), FiLM from the instruction -> 4x4 pixels of
        # mask logit + RGB content
        hc = head_channels
        self.head_in = nn.Conv2d(c + 5 * p * p, hc, 1)
        self.head_film = nn.Linear(text_dim, 2 * hc)
        self.head_mid = nn.Conv2d(hc, hc, 1)
        self.to_pixels = nn.Conv2d(hc, 4 * p * p, 1)
        nn.init.zeros_(self.head_film.weight)
        nn.init.zeros_(self.head_film.bias)
        r = refine_channels
        self.refine = None
        if r:  # optional: full-resolution convolutions cost as much as the whole body on a CPU
            self.refine = nn.Sequential(
                nn.Conv2d(3 + 2 + 4, r, 3, padding=1), nn.SiLU(),
                nn.Conv2d(r, r, 3, padding=1), nn.SiLU(),
                nn.Conv2d(r, 4, 3, padding=1),
            )
            nn.init.zeros_(self.refine[-1].weight)
            nn.init.zeros_(self.refine[-1].bias)
        self.op_head = nn.Sequential(nn.Linear(c2 + text_dim, 256), nn.SiLU(), nn.Linear(256, len(GLOBAL_OPS)))

    # -- saving and loading (config.json + safetensors)
    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ToyworldEditorModel:
        """A fresh model with `config`'s settings (keys starting with "_" are metadata and skipped)."""
        known = set(inspect.signature(cls.__init__).parameters) - {"self"}
        unknown = sorted(k for k in config if not k.startswith("_") and k not in known)
        if unknown:
            raise ValueError(f"unknown toyworld editor settings {unknown}")
        return cls(**{k: v for k, v in config.items() if k in known})

    @staticmethod
    def load_config(folder: str | Path) -> dict[str, Any]:
        return json.loads((Path(folder) / CONFIG_NAME).read_text(encoding="utf-8"))

    def save_config(self, folder: str | Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        record = {"_class_name": type(self).__name__, **self.config}
        (Path(folder) / CONFIG_NAME).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    def save_pretrained(self, folder: str | Path, **_: Any) -> None:
        from safetensors.torch import save_file

        self.save_config(folder)
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, Path(folder) / WEIGHTS_NAME)

    @classmethod
    def from_pretrained(cls, folder: str | Path, **_: Any) -> ToyworldEditorModel:
        """Load a saved model; every weight must match the config (strict), or it fails."""
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls.from_config(cls.load_config(folder))
        weights = folder / WEIGHTS_NAME
        if not weights.is_file() and (folder / LEGACY_WEIGHTS_NAME).is_file():
            weights = folder / LEGACY_WEIGHTS_NAME
        model.load_state_dict(load_file(weights))
        return model.eval()

    def map_unknown_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """Words never seen in training have untrained embeddings: read them as <unk>, which training taught
        the model to ignore (word dropout), so unseen phrasings degrade gracefully."""
        known = self.config.known_token_ids
        if not known:
            return ids
        table = torch.full((self.config.vocab_size,), self.config.unk_token_id, dtype=ids.dtype, device=ids.device)
        table[torch.tensor(known, device=ids.device)] = torch.tensor(known, device=ids.device, dtype=ids.dtype)
        return table[ids]

    def forward(self, source: torch.Tensor, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """`source` (B, 3, H, W) in [0, 1]; H and W divisible by 8 (`patch` x 2)."""
        b, _, h, w = source.shape
        p = self.config.patch
        words, sentence, pad = self.text(input_ids)
        coords = coord_channels(b, h, w, source)
        patches = F.pixel_unshuffle(torch.cat([source * 2 - 1, coords], 1), p)
        x = self.stem(patches)
        for block in self.enc:
            x = block(x, sentence)
        x = self.enc_cross(x, words, pad)
        skip = x
        x = self.down(x)
        x = self.mid[0](x, sentence)
        x = self.mid_cross[0](x, words, pad)
        x = self.mid_self(x)
        x = self.mid[1](x, sentence)
        x = self.mid_cross[1](x, words, pad)
        op_logits = self.op_head(torch.cat([x.mean((2, 3)), sentence], 1))
        x = self.up(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        x = self.merge(torch.cat([x, skip], 1))
        for block in self.dec:
            x = block(x, sentence)
        x = self.dec_cross(x, words, pad)
        referent_logits = self.referent_head(x).flatten(1)
        heat = referent_logits.softmax(-1).view(b, 1, h // p, w // p)
        center = (heat * cell_centres(h // p, w // p, heat)).sum((2, 3))
        x = self.post(x + self.referent_in(heat / heat.amax((2, 3), keepdim=True)), sentence)
        x = F.silu(self.out_norm(x))
        scale, shift = self.head_film(sentence)[:, :, None, None].chunk(2, dim=1)
        x = F.silu(self.head_in(torch.cat([x, patches], 1)) * (1 + scale) + shift)
        x = F.silu(self.head_mid(x))
        coarse = F.pixel_shuffle(self.to_pixels(x), p)
        if self.refine is not None:
            coarse = coarse + self.refine(torch.cat([source * 2 - 1, coords, coarse], 1))
        return {"mask_logits": coarse[:, :1], "content": torch.sigmoid(coarse[:, 1:]),
                "op_logits": op_logits, "referent_logits": referent_logits, "center": center}

    @staticmethod
    def compose(source: torch.Tensor, outputs: dict[str, torch.Tensor], *, op: torch.Tensor | None = None,
                center: torch.Tensor | None = None, hard: bool = True) -> torch.Tensor:
        """The edited picture: the operated source where the mask is off, the content where it is on.

        `op`/`center` default to the model's own predictions; `hard` thresholds the mask at 0.5 so
        untouched pixels are copied exactly.
        """
        op = outputs["op_logits"].argmax(-1) if op is None else op
        center = outputs["center"].clamp(0.5 / ZOOM, 1 - 0.5 / ZOOM) if center is None else center
        base = apply_global_op(source, op, center)
        m = torch.sigmoid(outputs["mask_logits"])
        if hard:
            m = (m > 0.5).to(source.dtype)
        return (1 - m) * base + m * outputs["content"]
