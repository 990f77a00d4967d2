"""`classic-edit`: exact global edits by image processing (tone, view, zoom) — no model needed.

Cheap, exact pairs for the tasks where a diffusion model adds nothing but noise: black-and-white,
sepia, contrast, brightness, pastel, horizontal flip, upside down, zoom in. Used as the tone/view
specialist of the router and as a fast generator for tests and benchmarks. If an instruction writer
already chose an operation (meta.classic_op) it is used; otherwise one is drawn per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image, ImageEnhance, ImageOps

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext
from editlab.data.stages.pairs import PairGenerator
from editlab.errors import EditlabError


def _sepia(image: Image.Image) -> Image.Image:
    grey = ImageOps.grayscale(image)
    return ImageOps.colorize(grey, black=(40, 26, 13), white=(255, 240, 192))


def _zoom(image: Image.Image) -> Image.Image:
    w, h = image.size
    box = (w // 6, h // 6, w - w // 6, h - h // 6)
    return image.crop(box).resize((w, h), Image.LANCZOS)


def _pastel(image: Image.Image) -> Image.Image:
    return ImageEnhance.Brightness(ImageEnhance.Color(image).enhance(0.45)).enhance(1.2)


#: op -> (task, instruction, function)
OPS = {
    "grayscale": ("tone", "make the photo black and white", lambda im: ImageOps.grayscale(im).convert("RGB")),
    "sepia": ("tone", "give it a warm vintage sepia tone", _sepia),
    "contrast": ("tone", "increase the contrast", lambda im: ImageEnhance.Contrast(im).enhance(1.6)),
    "brighten": ("tone", "make the image brighter", lambda im: ImageEnhance.Brightness(im).enhance(1.4)),
    "darken": ("tone", "make the image darker", lambda im: ImageEnhance.Brightness(im).enhance(0.6)),
    "pastel": ("tone", "give it soft pastel colors", _pastel),
    "flip": ("view", "flip the image horizontally", ImageOps.mirror),
    "upside-down": ("view", "turn the image upside down", lambda im: im.rotate(180)),
    "zoom": ("zoom", "zoom in on the center", _zoom),
}


@dataclass
class ClassicEdit(PairGenerator):
    """Exact global edits by image processing: tone, flip, upside down, zoom."""

    name = "classic-edit"
    expensive = False  # microseconds per row: no journal
    ops: list[str] = field(default_factory=lambda: list(OPS))
    keep_instruction: bool = True  # keep a writer's wording when it chose the op

    def __post_init__(self) -> None:
        unknown = [op for op in self.ops if op not in OPS]
        if unknown or not self.ops:
            raise EditlabError(f"classic-edit: unknown ops {unknown}; choose from {', '.join(OPS)}")

    def generate(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        op = sample.meta.get("classic_op")
        chosen = op in OPS
        if not chosen:
            op = self.ops[int(ctx.rng(sample.id, "op").integers(len(self.ops)))]
        task, instruction, function = OPS[op]
        image = sample.image("source")
        if image is None:
            raise EditlabError("classic-edit needs a source image")
        sample.edited = function(image.convert("RGB"))
        if not (chosen and self.keep_instruction and sample.instruction):
            sample.instruction = instruction
        sample.task, sample.mask = task, None
        sample.meta["classic_op"] = op
        sample.record(self.name, op=op)
        return [sample]
