"""`ToyworldEditorPipeline`: the toyworld editor model + its word tokenizer, loaded from and saved to a folder.

Folder layout (safetensors and JSON only, no pickle):

    model_index.json          {"_class_name": "ToyworldEditorPipeline", "_editlab_kind": "toyworld-editor", ...}
    model/config.json + model.safetensors    (`editlab.models.ToyworldEditorModel`)
    tokenizer/tokenizer.json + tokenizer_config.json    (a `tokenizers` word-level tokenizer;
                              transformers' AutoTokenizer loads it as a PreTrainedTokenizerFast)
    editlab_training.json     how it was trained, with the learning curve
    README.md                 the model card

One call edits a batch in one forward pass (no sampler, no guidance: a toyworld edit has one
answer). Loading needs torch, safetensors and tokenizers only (no diffusers or transformers
import), so the default `editlab edit` starts fast. Pictures of any size are resized to the model's 64x64 and the result back; the model
only knows toyworld scenes, and says so (a warning) when a picture does not look like one.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from editlab.errors import EditlabError

KIND = "toyworld-editor"
PIPELINE_CLASS = "ToyworldEditorPipeline"
#: Longer instructions are refused, not silently cut (the model reads `max_tokens` words).
MAX_INSTRUCTION_CHARS = 2000
#: Share of pixels that must be near toyworld's palette for a picture to count as a toyworld scene.
TOYWORLD_LIKE_SHARE = 0.6
PAD_TOKEN = "<pad>"
#: written next to tokenizer.json so that transformers' AutoTokenizer can load the tokenizer too
TOKENIZER_CONFIG = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
                    "pad_token": PAD_TOKEN, "unk_token": "<unk>", "padding_side": "right"}


@dataclass
class ToyworldEditorOutput:
    images: list[Image.Image]


def word_tokenizer(tokenizer: Any) -> Any:
    """The `tokenizers.Tokenizer` inside `tokenizer` (a transformers fast tokenizer or one already), with its
    own truncation and padding off: `encode_instructions` pads, and cuts with a warning."""
    core = getattr(tokenizer, "backend_tokenizer", tokenizer)
    core.no_truncation()
    core.no_padding()
    return core


def encode_instructions(tokenizer: Any, texts: list[str], max_tokens: int, *, warn: bool = False) -> np.ndarray:
    """(len(texts), max_tokens) word ids, padded; longer instructions are cut, with a warning naming the
    ignored words when `warn` (the model reads `max_tokens` tokens, <bos> and <eos> included)."""
    tokenizer = word_tokenizer(tokenizer)
    ids = [encoding.ids for encoding in tokenizer.encode_batch(texts)]
    out = np.full((len(ids), max_tokens), tokenizer.token_to_id(PAD_TOKEN), dtype=np.int64)
    for row, words in enumerate(ids):
        if len(words) > max_tokens:
            if warn:
                warnings.warn(f"the instruction is {len(words)} tokens; the model reads {max_tokens}, so these words are "
                              f"ignored: {tokenizer.decode(words[max_tokens - 1:-1])!r}", stacklevel=3)
            words = [*words[: max_tokens - 1], words[-1]]  # keep <eos>, as the tokenizer's own truncation does
        out[row, : len(words)] = words
    return out


def run_model(model: Any, sources: Any, input_ids: Any, batch_size: int = 64) -> list[Image.Image]:
    """Edited pictures of `sources` ((B, 3, H, W) in [0, 1]) for instruction ids `input_ids` (B, L)."""
    import torch

    images: list[Image.Image] = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(sources), batch_size):
            source = sources[start: start + batch_size].to(device)
            ids = model.map_unknown_tokens(input_ids[start: start + batch_size].to(device))
            out = model.compose(source, model(source, ids))
            arrays = (out.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            images.extend(Image.fromarray(a) for a in arrays)
    return images


def looks_like_toyworld(image: Image.Image) -> bool:
    """Whether most pixels are near toyworld's colours (object colours, their dark shades, backgrounds)."""
    from editlab.toyworld import palette

    colours = [*palette.OBJECT_COLORS.values(), *palette.BACKGROUND_COLORS.values(), palette.LABEL_COLOR,
               palette.LETTER_COLOR]
    colours += [palette.dark_shade(c) for c in palette.OBJECT_COLORS.values()]
    colours += [palette.dark_shade(c, palette.TEXTURE_FACTOR) for c in palette.BACKGROUND_COLORS.values()]
    small = np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.NEAREST), dtype=np.float32).reshape(-1, 1, 3)
    table = np.asarray(colours, dtype=np.float32).reshape(1, -1, 3)
    near = np.abs(small - table).max(-1).min(-1) <= 24
    gray = np.ptp(small[:, 0], axis=-1) <= 6  # grayscale / sketch / posterized views of a scene
    return float((near | gray).mean()) >= TOYWORLD_LIKE_SHARE


class ToyworldEditorPipeline:
    """The shipped default editor: `pipe(prompt=[...], image=[...]).images`."""

    def __init__(self, model: Any, tokenizer: Any):
        self.model, self.tokenizer = model, word_tokenizer(tokenizer)
        self.model.eval()

    # -- loading and saving
    @classmethod
    def from_pretrained(cls, folder: str | Path, **_: Any) -> ToyworldEditorPipeline:
        from tokenizers import Tokenizer

        from editlab.models.toyworld_editor import ToyworldEditorModel

        folder = Path(folder)
        if not is_toyworld_editor_folder(folder):
            raise EditlabError(f"{folder} is not a toyworld editor folder (its model_index.json names another class)")
        try:
            model = ToyworldEditorModel.from_pretrained(folder / "model")
            tokenizer = Tokenizer.from_file(str(folder / "tokenizer" / "tokenizer.json"))
        except Exception as exc:  # missing or damaged files, weights of another shape (tokenizers raises plain Exception)  # missing/damaged files, weights of another shape
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EditlabError(f"cannot load the toyworld editor from {folder} ({type(exc).__name__}: {first[:200]}); "
                               "re-export it with `editlab train --config configs/train/toyworld-editor.yaml "
                               "--export-only` or reinstall editlab") from None
        return cls(model, tokenizer)

    def save_pretrained(self, folder: str | Path, *, extra_files: dict[str, str] | None = None) -> Path:
        """Write the folder (atomically: a finished folder replaces the old one); `extra_files` maps a file
        name to its text (the model card, the training record)."""
        import shutil

        folder = Path(folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.model.save_pretrained(tmp / "model")
        (tmp / "tokenizer").mkdir()
        self.tokenizer.save(str(tmp / "tokenizer" / "tokenizer.json"))
        tokenizer_config = {**TOKENIZER_CONFIG, "model_max_length": int(self.model.config.max_tokens)}
        (tmp / "tokenizer" / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n")
        index = {"_class_name": PIPELINE_CLASS, "_editlab_kind": KIND, "model": ["editlab", "ToyworldEditorModel"],
                 "tokenizer": ["tokenizers", "Tokenizer"]}
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text, encoding="utf-8")
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        return folder

    # -- editing
    @property
    def size(self) -> int:
        return int(self.model.config.image_size)

    def __call__(self, prompt: str | list[str], image: Image.Image | list[Image.Image], **_: Any) -> ToyworldEditorOutput:
        """Edit each picture by its instruction; sampler arguments (steps, guidance, generator) are accepted and
        ignored: the edit is one deterministic forward pass."""
        import torch

        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        images = [image] if isinstance(image, Image.Image) else list(image)
        if len(prompts) != len(images):
            raise EditlabError(f"got {len(prompts)} instructions for {len(images)} pictures; pass one per picture")
        for picture in images:
            if not looks_like_toyworld(picture):
                warnings.warn("the default toyworld model only edits toyworld scenes (flat shapes on pale backgrounds); "
                              "this picture does not look like one. Pass --model with a real editing model "
                              "(e.g. timbrooks/instruct-pix2pix) for photos", stacklevel=2)
                break
        s = self.size
        sources = torch.stack([
            torch.from_numpy(np.array(im.convert("RGB").resize((s, s), Image.Resampling.BILINEAR)
                                        if im.size != (s, s) else im.convert("RGB"))).permute(2, 0, 1)
            for im in images]).float() / 255
        for text in prompts:
            if len(text) > MAX_INSTRUCTION_CHARS:
                raise EditlabError(f"instruction of {len(text)} characters; the limit is {MAX_INSTRUCTION_CHARS}: "
                                   "say the edit in fewer words")
        ids = encode_instructions(self.tokenizer, prompts, int(self.model.config.max_tokens), warn=True)
        outputs = run_model(self.model, sources, torch.from_numpy(ids))
        return ToyworldEditorOutput([out.resize(im.size, Image.Resampling.BILINEAR) if im.size != (s, s) else out
                                     for out, im in zip(outputs, images, strict=True)])


def is_toyworld_editor_folder(folder: Path) -> bool:
    index = Path(folder) / "model_index.json"
    if not index.is_file():
        return False
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("_class_name") == PIPELINE_CLASS
