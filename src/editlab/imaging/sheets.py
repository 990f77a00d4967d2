"""What every contact sheet needs: a font, pictures fitted to a cell, captions that fit.

Three sheets are drawn from these (each lays out a different thing): the guidance sweep grid
(`editors.guidance.contact_sheet`), toyworld example cards (`toyworld.sheet.contact_sheet`) and the
session history / version tree (`session.export.contact_sheet`).
"""

from __future__ import annotations

from functools import lru_cache

from PIL import Image, ImageFont


@lru_cache(maxsize=16)
def font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in font at `size` pixels (no font files needed)."""
    try:
        return ImageFont.load_default(size=max(1, size))
    except (TypeError, OSError, ImportError):  # Pillow < 10.1 or built without FreeType: fixed bitmap font
        return ImageFont.load_default()


def fit(image: Image.Image, box: int) -> Image.Image:
    """`image` scaled to fit a box x box square, aspect kept. A picture at most half the box (a 64x64
    toyworld scene) is enlarged by a whole factor with crisp pixels instead of blurred."""
    image = image.convert("RGB")
    factor = box // max(image.size)
    if factor >= 2:
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    scale = box / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                        Image.Resampling.LANCZOS)


def cell(image: Image.Image, box: int, background: tuple[int, int, int] = (232, 232, 232)) -> Image.Image:
    """`fit(image, box)` centred on a box x box square of `background`."""
    fitted = fit(image, box)
    square = Image.new("RGB", (box, box), background)
    square.paste(fitted, ((box - fitted.width) // 2, (box - fitted.height) // 2))
    return square


def wrap(text: str, face: ImageFont.ImageFont, width: int, max_lines: int) -> list[str]:
    """Greedy word wrap to `width` pixels; the last kept line ends with '…' if text was cut."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if face.getlength(candidate) <= width or not current:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " …"
    return [clip(line, face, width) for line in lines]


def clip(line: str, face: ImageFont.ImageFont, width: int) -> str:
    """`line` shortened with '…' until it fits `width` pixels."""
    while line and face.getlength(line) > width:
        line = line[:-2] + "…"
    return line
