"""The field's task taxonomy (REFERENCE.md §7) with each dataset's own name for a task.

editlab names tasks with the short canonical names below; `field_name(task, "imgedit")` gives
what a paper or benchmark calls it, so per-task scores line up with published tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from editlab.errors import EditlabError


@dataclass(frozen=True)
class Task:
    name: str
    group: str
    description: str
    # dataset -> that dataset's name for the task (absent: the dataset has no such task)
    aliases: tuple[tuple[str, str], ...] = ()


def _t(name: str, group: str, description: str, **aliases: str) -> Task:
    return Task(name, group, description, tuple(sorted(aliases.items())))


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        _t("add", "object", "add an object", imgedit="add", omniedit="object addition", emu="add",
           magicbrush="add", multiedit="object reference editing"),
        _t("remove", "object", "remove an object", imgedit="remove", omniedit="object removal", emu="remove",
           magicbrush="remove"),
        _t("replace", "object", "replace an object with another (object swap)", imgedit="replace",
           omniedit="object swap", emu="local", magicbrush="replace"),
        _t("move", "object", "move an object", multiedit="object reference editing"),
        _t("resize", "object", "make an object bigger or smaller", multiedit="object reference editing"),
        _t("count", "object", "change how many objects there are", multiedit="object reference editing"),
        _t("color", "attribute", "change an object's colour", imgedit="adjust", omniedit="attribute change",
           emu="local", magicbrush="color"),
        _t("material", "attribute", "change an object's material or surface pattern", imgedit="adjust",
           omniedit="attribute change", emu="texture"),
        _t("texture", "attribute", "change a surface texture", imgedit="adjust", emu="texture"),
        _t("shape", "attribute", "change an object's shape", imgedit="adjust"),
        _t("action", "people", "change a person's pose or action", imgedit="action",
           multiedit="person reference editing"),
        _t("expression", "people", "change a facial expression", multiedit="person reference editing"),
        _t("clothing", "people", "change clothing", multiedit="person reference editing"),
        _t("hair", "people", "change hair", multiedit="person reference editing"),
        _t("background", "scene", "replace or change the background", imgedit="background",
           omniedit="background swap", emu="background"),
        _t("environment", "scene", "weather, season or time of day", omniedit="environment change", emu="global"),
        _t("tone", "scene", "global tone or colour grading", imgedit="style", emu="global"),
        _t("style", "style", "style transfer", imgedit="style", omniedit="style transfer", emu="style",
           multiedit="style transfer"),
        _t("text", "text", "replace the wording of text in the image", multiedit="text editing"),
        _t("text_font", "text", "change the font of text", multiedit="text editing"),
        _t("text_color", "text", "change the colour of text", multiedit="text editing"),
        _t("gui", "gui", "edit GUI elements", multiedit="GUI editing"),
        _t("view", "view", "viewpoint or camera change (flip, rotate, novel view)", multiedit="view editing"),
        _t("zoom", "view", "zoom in or out", multiedit="view editing"),
        _t("outpaint", "view", "extend the canvas", multiedit="view editing"),
        _t("extract", "extract", "the subject alone on a clean background", imgedit="extract"),
        _t("hybrid", "hybrid", "two edits in one instruction", imgedit="hybrid"),
        _t("visual", "reference", "edit guided by a reference image", imgedit="visual"),
    ]
}

#: Multi-turn interaction types (ImgEdit): properties of an episode, not tasks.
MULTI_TURN_KINDS = ("memory", "understanding", "backtracking")


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(TASKS), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"unknown task {name!r}: {hint}known tasks: {', '.join(TASKS)}") from None


def field_name(task: str, dataset: str) -> str | None:
    """What `dataset` calls editlab's `task`, or None if it has no such task."""
    return dict(get_task(task).aliases).get(dataset)
