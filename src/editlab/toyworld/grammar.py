"""The instruction grammar: paraphrase families, split into families for training and held out.

A *family* is one way of phrasing every task: a frame ("could you {} ?"), clause templates per
task ("turn {ref} {color}") and a style of referring expression ("the red star", "the star which
is red", "red star"). Families `imperative`, `request`, `goal` and `terse` are used for the train
and test splits; `wish` and `formal` are held out, so a model's success on the `heldout` split
measures generalisation to phrasings it never saw. The vocabulary is small and closed
(`vocabulary()`), so a word-level tokenizer covers every instruction.

>>> FAMILIES["goal"].split, FAMILIES["wish"].split
('train', 'heldout')
>>> "star" in vocabulary()
True
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from editlab.toyworld import palette
from editlab.toyworld.edits import TOYWORLD_TASKS, Edit
from editlab.toyworld.refer import Ref
from editlab.toyworld.scene import Background, Scene

SPLITS = ("train", "test", "heldout")
#: Which family split each dataset split draws from.
SPLIT_FAMILIES = {"train": "train", "test": "train", "heldout": "heldout"}

REF_STYLES = ("plain", "clause", "terse", "which")


@dataclass(frozen=True)
class Family:
    name: str
    split: str  # "train" or "heldout"
    ref_style: str
    frames: tuple[str, ...]
    joiner: str
    clauses: dict[str, tuple[str, ...]]


# Slots: {ref} referring expression; {color}; {pattern} adjective; {pattern_noun}; {new}/{new_bare}
# replacement shape; {obj}/{obj_bare} added object; {region}/{region_bare}; {dir}/{dir_bare};
# {size}/{size_verb}/{size_formal}; {k}, {look_k}, {total}, {look_total}, {look_plural},
# {k_copies}; {bg}/{bg_bare}; {style}/{style_name}/{style_noun}; {old}/{word};
# {view_do}/{view_done}/{view_terse}/{view_formal}.
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("imperative", "train", "plain", ("{}",), " and ", {
            "add": ("add {obj} {region}",),
            "remove": ("remove {ref}", "delete {ref}"),
            "replace": ("replace {ref} with {new}",),
            "color": ("make {ref} {color}", "color {ref} {color}"),
            "material": ("make {ref} {pattern}",),
            "move": ("move {ref} {dir}",),
            "resize": ("make {ref} {size}",),
            "count": ("add {k} more {look_k}",),
            "background": ("change the background to {bg}", "make the background {bg}"),
            "style": ("make it {style}", "make the image {style}"),
            "text": ("change the word {old} to {word}",),
            "view": ("{view_do}",),
            "zoom": ("zoom in on {ref}",),
            "extract": ("extract {ref}",),
        }),
        Family("request", "train", "clause", ("could you {} ?", "please {}"), " and ", {
            "add": ("put {obj} {region}",),
            "remove": ("take away {ref}", "erase {ref}"),
            "replace": ("swap {ref} for {new}",),
            "color": ("turn {ref} {color}", "paint {ref} {color}"),
            "material": ("change the pattern of {ref} to {pattern_noun}",),
            "move": ("shift {ref} {dir}",),
            "resize": ("{size_verb} {ref}",),
            "count": ("put {k} more {look_k} in the picture",),
            "background": ("put everything on {bg}",),
            "style": ("apply a {style_name} filter",),
            "text": ("make the sign say {word}",),
            "view": ("{view_do}",),
            "zoom": ("get closer to {ref}",),
            "extract": ("isolate {ref} on a white background",),
        }),
        Family("goal", "train", "plain", ("{}",), " and ", {
            "add": ("there should be {obj} {region}",),
            "remove": ("{ref} should be gone",),
            "replace": ("{ref} should be {new}",),
            "color": ("{ref} should be {color}",),
            "material": ("{ref} should be {pattern}",),
            "move": ("{ref} should be further {dir_bare}",),
            "resize": ("{ref} should be {size}",),
            "count": ("there should be {total} {look_total}",),
            "background": ("the background should be {bg}",),
            "style": ("the image should be {style}",),
            "text": ("the sign should say {word}",),
            "view": ("the image should be {view_done}",),
            "zoom": ("the picture should be a close up of {ref}",),
            "extract": ("{ref} should be alone on a white background",),
        }),
        Family("terse", "train", "terse", ("{}",), " ; ", {
            "add": ("add {obj_bare} {region_bare}",),
            "remove": ("delete {ref}",),
            "replace": ("{ref} -> {new_bare}",),
            "color": ("{ref} -> {color}",),
            "material": ("{ref} -> {pattern}",),
            "move": ("{ref} -> {dir_bare}",),
            "resize": ("{ref} -> {size}",),
            "count": ("{look_plural} -> {total}",),
            "background": ("background -> {bg_bare}",),
            "style": ("style -> {style_name}",),
            "text": ("{old} -> {word}",),
            "view": ("{view_terse}",),
            "zoom": ("zoom {ref}",),
            "extract": ("{ref} only",),
        }),
        Family("wish", "heldout", "clause", ("i want {}", "i would like {}"), " and ", {
            "add": ("{obj} {region}",),
            "remove": ("{ref} to be gone",),
            "replace": ("{ref} to be {new}",),
            "color": ("{ref} to be {color}",),
            "material": ("{ref} to be {pattern}",),
            "move": ("{ref} moved {dir}",),
            "resize": ("{ref} to be {size}",),
            "count": ("{total} {look_total}",),
            "background": ("the background to be {bg}",),
            "style": ("the image to be {style}",),
            "text": ("the sign to say {word}",),
            "view": ("the image {view_done}",),
            "zoom": ("a close up of {ref}",),
            "extract": ("just {ref} on a white background",),
        }),
        Family("formal", "heldout", "which", ("{}",), " and then ", {
            "add": ("insert {obj} {region}",),
            "remove": ("get rid of {ref}",),
            "replace": ("substitute {new} for {ref}",),
            "color": ("change the color of {ref} to {color}",),
            "material": ("give {ref} a {pattern} surface",),
            "move": ("slide {ref} {dir}",),
            "resize": ("{size_formal} the size of {ref}",),
            "count": ("make {k_copies} of {ref}",),
            "background": ("replace the background with {bg}",),
            "style": ("convert the image to {style_noun}",),
            "text": ("rewrite {old} as {word}",),
            "view": ("{view_formal}",),
            "zoom": ("magnify the area around {ref}",),
            "extract": ("cut out {ref} and place it on a white background",),
        }),
    ]
}

# ----------------------------------------------------------------------------- slot values

PATTERN_ADJ = {"solid": "plain", "striped": "striped", "dotted": "dotted", "checkered": "checkered"}
PATTERN_NOUN = {"solid": "plain", "striped": "stripes", "dotted": "dots", "checkered": "checks"}
REGION_PHRASE = {
    "top left": "in the top left", "top": "at the top", "top right": "in the top right",
    "left": "on the left", "center": "in the center", "right": "on the right",
    "bottom left": "in the bottom left", "bottom": "at the bottom", "bottom right": "in the bottom right",
}
DIR_PHRASE = {"left": "to the left", "right": "to the right", "up": "up", "down": "down"}
SIZE_VERB = {"bigger": "enlarge", "smaller": "shrink"}
SIZE_FORMAL = {"bigger": "increase", "smaller": "reduce"}
STYLE_ADJ = {"grayscale": "grayscale", "sepia": "sepia", "invert": "inverted", "posterize": "posterized",
             "sketch": "a sketch"}
STYLE_NOUN = {"grayscale": "grayscale", "sepia": "sepia", "invert": "a negative", "posterize": "a poster",
              "sketch": "a pencil sketch"}
VIEW_DO = {"flip_h": "flip the image horizontally", "flip_v": "flip the image vertically",
           "rotate_180": "rotate the image 180 degrees", "rotate_90": "rotate the image 90 degrees clockwise",
           "rotate_270": "rotate the image 90 degrees counterclockwise"}
VIEW_DONE = {"flip_h": "flipped horizontally", "flip_v": "flipped vertically", "rotate_180": "rotated 180 degrees",
             "rotate_90": "rotated 90 degrees clockwise", "rotate_270": "rotated 90 degrees counterclockwise"}
VIEW_TERSE = {"flip_h": "flip horizontal", "flip_v": "flip vertical", "rotate_180": "rotate 180",
              "rotate_90": "rotate 90 clockwise", "rotate_270": "rotate 90 counterclockwise"}
VIEW_FORMAL = {"flip_h": "mirror the image left to right", "flip_v": "mirror the image top to bottom",
               "rotate_180": "turn the image around", "rotate_90": "turn the image a quarter turn clockwise",
               "rotate_270": "turn the image a quarter turn counterclockwise"}
BG_KIND_NOUN = {"grid": "grid", "checker": "checkerboard", "dots": "dot pattern"}

# Referring-expression words per style.
EXTREME_WORDS = {
    "plain": {"leftmost": "leftmost", "rightmost": "rightmost", "topmost": "topmost", "bottommost": "bottommost",
              "largest": "largest", "smallest": "smallest"},
    "clause": {"leftmost": "on the far left", "rightmost": "on the far right", "topmost": "at the very top",
               "bottommost": "at the very bottom", "largest": "biggest", "smallest": "tiniest"},
    "which": {"leftmost": "furthest to the left", "rightmost": "furthest to the right", "topmost": "highest up",
              "bottommost": "lowest down", "largest": "with the largest size", "smallest": "with the smallest size"},
}
EXTREME_WORDS["terse"] = EXTREME_WORDS["plain"]
RELATION_WORDS = {
    "plain": {"above": "above", "below": "below", "left_of": "to the left of", "right_of": "to the right of"},
    "terse": {"above": "above", "below": "below", "left_of": "left of", "right_of": "right of"},
}
RELATION_WORDS["clause"] = {k: "that is " + v for k, v in RELATION_WORDS["plain"].items()}
RELATION_WORDS["which"] = {k: "which is " + v for k, v in RELATION_WORDS["plain"].items()}
#: Clause-style position words follow the noun; size words precede it.
POSTFIX_EXTREMES = {"clause": ("leftmost", "rightmost", "topmost", "bottommost"),
                    "which": ("leftmost", "rightmost", "topmost", "bottommost", "largest", "smallest")}


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def head_words(ref: Ref, noun: str = "shape") -> str:
    """'striped red star', 'red shape', 'shape'."""
    words = [PATTERN_ADJ[ref.pattern]] if ref.pattern else []
    words += [ref.color] if ref.color else []
    words.append(ref.shape or noun)
    return " ".join(words)


def which_head(ref: Ref) -> str:
    """'star which is red', 'shape which is striped and red', 'star'."""
    noun = ref.shape or "shape"
    if ref.pattern and ref.color:
        return f"{noun} which is {PATTERN_ADJ[ref.pattern]} and {ref.color}"
    if ref.pattern or ref.color:
        return f"{noun} which is {PATTERN_ADJ[ref.pattern] if ref.pattern else ref.color}"
    return noun


CONTEXT_WORDS = {
    "plain": "the {shape} you added", "clause": "the {shape} that you added", "terse": "added {shape}",
    "which": "the {shape} which was added",
}


def describe_ref(ref: Ref, style: str) -> str:
    """The referring expression in one family style."""
    if ref.context == "it":
        return "" if style == "terse" else "it"  # terse: the subject is left out ("-> blue")
    if ref.context == "added":
        return CONTEXT_WORDS[style].format(shape=ref.shape or "shape")
    the = "" if style == "terse" else "the "
    noun = "one" if style == "clause" else "shape"
    head = ref.head()
    if ref.relation:
        anchor = the + head_words(ref.anchor)
        return f"{the}{head_words(head, noun)} {RELATION_WORDS[style][ref.relation]} {anchor}"
    if ref.extreme:
        words = EXTREME_WORDS[style][ref.extreme]
        if ref.extreme in POSTFIX_EXTREMES.get(style, ()):
            return f"{the}{head_words(head, 'shape' if style == 'which' else noun)} {words}"
        return f"{the}{words} {head_words(head, noun)}"
    if style == "which":
        return the + which_head(head)
    return the + head_words(head, noun)


def look_words(look: Ref, n: int) -> str:
    """'red star' / 'striped red stars' / 'plain red stars'."""
    words = [PATTERN_ADJ[look.pattern]] if look.pattern else []
    words.append(look.color)
    words.append(look.shape if n == 1 else palette.SHAPE_PLURALS[look.shape])
    return " ".join(words)


def object_words(shape: str, color: str | None, pattern: str = "solid") -> str:
    words = [PATTERN_ADJ[pattern]] if pattern != "solid" else []
    words += [color] if color else []
    return " ".join([*words, shape])


def background_words(background: Background) -> tuple[str, str]:
    """(with article, bare): ('a mint grid', 'mint grid'), ('plain sky', 'plain sky')."""
    if background.kind == "solid":
        bare = f"plain {background.color}"
        return bare, bare
    if background.kind == "gradient":
        bare = f"{background.color} to {background.color2} gradient"
    else:
        bare = f"{background.color} {BG_KIND_NOUN[background.kind]}"
    return article(bare), bare


def slot_values(edit: Edit, scene: Scene, style: str) -> dict[str, str]:
    """Every slot a clause template of `edit.task` may use, for a family with ref `style`."""
    p = edit.params
    values: dict[str, str] = {}
    if edit.ref is not None:
        values["ref"] = describe_ref(edit.ref, style)
    task = edit.task
    if task == "color":
        values["color"] = p["color"]
    elif task == "material":
        values["pattern"], values["pattern_noun"] = PATTERN_ADJ[p["pattern"]], PATTERN_NOUN[p["pattern"]]
    elif task == "replace":
        bare = object_words(p["shape"], p.get("color"))
        values["new"], values["new_bare"] = article(bare), bare
    elif task == "add":
        new = p["object"]
        bare = object_words(new["shape"], new["color"], new["pattern"])
        values["obj"], values["obj_bare"] = article(bare), bare
        values["region"], values["region_bare"] = REGION_PHRASE[p["region"]], p["region"]
    elif task == "move":
        values["dir"], values["dir_bare"] = DIR_PHRASE[p["direction"]], p["direction"]
    elif task == "resize":
        d = p["direction"]
        values.update(size=d, size_verb=SIZE_VERB[d], size_formal=SIZE_FORMAL[d])
    elif task == "count":
        look = p["look"] if isinstance(p["look"], Ref) else Ref.from_dict(p["look"])
        k, total = p["count"], p["total"]
        values.update(
            k=palette.NUMBER_WORDS[k], look_k=look_words(look, k), total=palette.NUMBER_WORDS[total],
            look_total=look_words(look, total), look_plural=look_words(look, 2),
            k_copies=f"{palette.NUMBER_WORDS[k]} more {'copy' if k == 1 else 'copies'}",
        )
    elif task == "background":
        values["bg"], values["bg_bare"] = background_words(Background.from_dict(p["background"]))
    elif task == "style":
        s = p["style"]
        values.update(style=STYLE_ADJ[s], style_name=s, style_noun=STYLE_NOUN[s])
    elif task == "text":
        values["old"], values["word"] = p["old"], p["word"]
    elif task == "view":
        op = p["op"]
        values.update(view_do=VIEW_DO[op], view_done=VIEW_DONE[op], view_terse=VIEW_TERSE[op],
                      view_formal=VIEW_FORMAL[op])
    return values


def family_names(split: str) -> list[str]:
    """Families an example of dataset split `split` may be phrased in."""
    if split not in SPLIT_FAMILIES:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [name for name, f in FAMILIES.items() if f.split == SPLIT_FAMILIES[split]]


def _choose(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def clause(edit: Edit, scene: Scene, family: Family, rng: np.random.Generator) -> str:
    if edit.task == "hybrid":
        return family.joiner.join(clause(part, scene, family, rng) for part in edit.parts)
    template = _choose(rng, family.clauses[edit.task])
    return template.format(**slot_values(edit, scene, family.ref_style))


def realise(edit: Edit, scene: Scene, family: str, rng: np.random.Generator) -> str:
    """The instruction for `edit` on `scene` (the source) in `family`, as a user would type it.

    >>> from editlab.toyworld.scene import SceneObject
    >>> scene = Scene(objects=[SceneObject(0, "star", "red")])
    >>> edit = Edit("color", 0, Ref(shape="star", color="red"), {"color": "blue"})
    >>> realise(edit, scene, "goal", np.random.default_rng(0))
    'The red star should be blue.'
    """
    fam = FAMILIES[family]
    text = _choose(rng, fam.frames).format(clause(edit, scene, fam, rng))
    return finish(text)


def finish(text: str) -> str:
    """Sentence case, punctuation attached to the word before it, a final '.' unless it is a question.

    >>> finish("undo the last change . now make it blue")
    'Undo the last change. Now make it blue.'
    """
    text = re.sub(r"\s+([.,?:;])", r"\1", " ".join(text.split()))
    text = re.sub(r"(?<![\w'])i(?![\w'])", "I", text)
    if text[-1] not in "?.":
        text += "."
    sentences = re.split(r"(?<=[.?]) ", text)
    return " ".join(s[0].upper() + s[1:] for s in sentences)


# ----------------------------------------------------------------------------- episodes

#: Sentences that multi-turn episodes add around a turn's instruction, per family split.
EPISODE_PHRASES = {
    "train": {
        "undo": "undo the last change .", "original": "go back to the original . instead ,",
        "follow": "now", "constraint": "from now on make every shape you add {color} .",
    },
    "heldout": {
        "undo": "revert the last edit .", "original": "start over from the original picture . instead ,",
        "follow": "next ,", "constraint": "every new shape should be {color} from now on .",
    },
}


# ----------------------------------------------------------------------------- vocabulary

TOKEN_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]+")


def tokenize(text: str) -> list[str]:
    """The words of an instruction as a word-level tokenizer sees them (lower case, punctuation split).

    >>> tokenize("Could you turn the red star blue?")
    ['could', 'you', 'turn', 'the', 'red', 'star', 'blue', '?']
    """
    return TOKEN_PATTERN.findall(text.lower())


def _literal_words(template: str) -> list[str]:
    fields = [name for _, name, _, _ in string.Formatter().parse(template) if name]
    text = template
    for name in fields:
        text = text.replace("{" + name + "}", " ")
    return tokenize(text.replace("{}", " "))


@lru_cache(maxsize=1)
def vocabulary() -> tuple[str, ...]:
    """Every token any toyworld instruction can contain (sorted), for a word-level tokenizer."""
    words: set[str] = {".", "?", "a", "an"}
    for phrases in EPISODE_PHRASES.values():
        for phrase in phrases.values():
            words.update(_literal_words(phrase))
    words.update(tokenize(" ".join(CONTEXT_WORDS.values()).replace("{shape}", " ")) + ["it"])
    for fam in FAMILIES.values():
        words.update(_literal_words(fam.joiner))
        for frame in fam.frames:
            words.update(_literal_words(frame))
        for templates in fam.clauses.values():
            for template in templates:
                words.update(_literal_words(template))
    slot_words = [
        *palette.OBJECT_COLORS, *palette.BACKGROUND_COLORS, *palette.SHAPES, *palette.SHAPE_PLURALS.values(),
        *palette.NUMBER_WORDS, *palette.DIRECTIONS, *palette.STYLES, "shape", "one", "more", "copy", "copies",
        "bigger", "smaller", "plain", "to", "gradient", *palette.REGIONS,
        *PATTERN_ADJ.values(), *PATTERN_NOUN.values(), *REGION_PHRASE.values(), *DIR_PHRASE.values(),
        *SIZE_VERB.values(), *SIZE_FORMAL.values(), *STYLE_ADJ.values(), *STYLE_NOUN.values(),
        *VIEW_DO.values(), *VIEW_DONE.values(), *VIEW_TERSE.values(), *VIEW_FORMAL.values(),
        *BG_KIND_NOUN.values(), *palette.WORDS, "the", "which", "is", "and", "that",
    ]
    for table in (*EXTREME_WORDS.values(), *RELATION_WORDS.values()):
        slot_words.extend(table.values())
    for entry in slot_words:
        words.update(tokenize(entry))
    return tuple(sorted(words))


assert all(set(f.clauses) == set(TOYWORLD_TASKS) - {"hybrid"} for f in FAMILIES.values()), "a family lacks a task"
