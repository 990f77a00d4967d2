"""Contact sheets: source | target | mask per example, with the instruction as a caption."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from PIL import Image, ImageDraw

from editlab.imaging.sheets import font
from editlab.types import EditExample

CAPTION_SIZE = 12
PAD = 6


def _panel(image: Image.Image | None, width: int, height: int) -> Image.Image:
    if image is None:
        return Image.new("RGB", (width, height), (235, 235, 235))
    # Integer upscaling keeps toyworld's small pictures crisp.
    return image.convert("RGB").resize((width, height), Image.Resampling.NEAREST)


def contact_sheet(examples: Iterable[EditExample], *, columns: int = 2, panel: int = 128) -> Image.Image:
    """One card per example (source | target | mask, instruction and task below), `columns` cards a row.

    >>> from editlab.toyworld import generate_examples
    >>> contact_sheet(generate_examples(4, seed=0)).mode
    'RGB'
    """
    examples = list(examples)
    if not examples:
        return Image.new("RGB", (panel, panel), "white")
    w0, h0 = examples[0].source.size
    scale = max(1, panel // max(w0, h0))
    pw, ph = w0 * scale, h0 * scale
    letters = font(CAPTION_SIZE)
    chars = max(12, (3 * pw + 2 * PAD) // 7)
    captions = []
    for ex in examples:
        lines = textwrap.wrap(ex.instruction, chars)[:4]
        label = f"[{ex.task}" + (f", turn {ex.turn}" if ex.episode else "") + f"] {ex.id}"
        captions.append([label, *lines])
    line_h = CAPTION_SIZE + 3
    card_w = 3 * pw + 4 * PAD
    card_h = ph + 2 * PAD + line_h * max(len(c) for c in captions) + PAD
    columns = max(1, min(columns, len(examples)))
    rows = -(-len(examples) // columns)
    sheet = Image.new("RGB", (columns * card_w, rows * card_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (ex, caption) in enumerate(zip(examples, captions, strict=True)):
        x0, y0 = (i % columns) * card_w, (i // columns) * card_h
        for j, image in enumerate((ex.source, ex.target, ex.mask)):
            px, py = x0 + PAD + j * (pw + PAD), y0 + PAD
            sheet.paste(_panel(image, pw, ph), (px, py))
            draw.rectangle((px - 1, py - 1, px + pw, py + ph), outline=(200, 200, 200))
        for k, line in enumerate(caption):
            draw.text((x0 + PAD, y0 + ph + 2 * PAD + k * line_h), line, font=letters,
                      fill=(90, 90, 90) if k == 0 else (0, 0, 0))
    return sheet
