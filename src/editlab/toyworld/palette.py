"""The closed vocabularies of toyworld: colours, shapes, patterns, backgrounds, words, styles.

Object colours are saturated mid-tones and background colours are pale tints, so every pixel can
be told apart as "object" or "background" by its colour alone (the oracle relies on it). Each
object colour has a dark shade (used for stripes, dots and checks) that is closer to its own base
colour's family than to any other colour, and a label is a black plate with white letters.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

#: Object colours: well separated, saturated, never pale (no white/black objects).
OBJECT_COLORS: dict[str, RGB] = {
    "red": (222, 40, 40),
    "orange": (242, 112, 22),
    "yellow": (230, 180, 0),
    "green": (40, 162, 62),
    "cyan": (22, 186, 204),
    "blue": (42, 82, 218),
    "purple": (138, 62, 194),
    "pink": (236, 92, 176),
    "gray": (128, 128, 128),
}

#: Pattern ink = the object colour times this factor (a darker shade of the same hue).
DARK_FACTOR = 0.5

#: Background colours: pale tints, each a single word.
BACKGROUND_COLORS: dict[str, RGB] = {
    "white": (255, 255, 255),
    "cream": (250, 244, 206),
    "mint": (206, 244, 214),
    "sky": (200, 224, 250),
    "lavender": (232, 212, 250),
    "peach": (255, 214, 190),
    "silver": (218, 218, 218),
}

#: Background texture ink = the background colour times this factor (a faint darker shade).
TEXTURE_FACTOR = 0.9

#: Label plate and letters.
LABEL_COLOR: RGB = (20, 20, 20)
LETTER_COLOR: RGB = (255, 255, 255)

#: Shapes chosen to stay distinct at 12 px (a hexagon blurs into a circle there, so there is none).
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "cross", "heart", "moon")
SHAPE_PLURALS: dict[str, str] = {s: ("crosses" if s == "cross" else s + "s") for s in SHAPES}

PATTERNS: tuple[str, ...] = ("solid", "striped", "dotted", "checkered")

BACKGROUND_KINDS: tuple[str, ...] = ("solid", "gradient", "grid", "checker", "dots")
TEXTURES: tuple[str, ...] = ("grid", "checker", "dots")

#: Words a label can show: 2-4 capital letters, chosen to look different from each other.
WORDS: tuple[str, ...] = ("CAT", "DOG", "SUN", "HI", "OK", "YES", "NO", "GO", "STOP", "TOY", "BOX", "ZOO", "ART", "MAP")

STYLES: tuple[str, ...] = ("grayscale", "sepia", "invert", "posterize", "sketch")

#: View operations; rotations by 90 degrees keep the canvas size only on square images.
VIEW_OPS: tuple[str, ...] = ("flip_h", "flip_v", "rotate_180", "rotate_90", "rotate_270")

DIRECTIONS: tuple[str, ...] = ("left", "right", "up", "down")

#: The 3x3 regions an added object may be asked for, by (column, row) in thirds.
REGIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0), "top": (1, 0), "top right": (2, 0),
    "left": (0, 1), "center": (1, 1), "right": (2, 1),
    "bottom left": (0, 2), "bottom": (1, 2), "bottom right": (2, 2),
}

NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight")


def dark_shade(rgb: RGB, factor: float = DARK_FACTOR) -> RGB:
    return tuple(int(round(c * factor)) for c in rgb)  # type: ignore[return-value]


def object_rgb(color: str) -> RGB:
    return OBJECT_COLORS[color]


def background_rgb(color: str) -> RGB:
    return BACKGROUND_COLORS[color]
