"""toyworld: a procedural world of flat shapes where every edit has an exact answer.

Scenes (a background, 1-6 objects, an optional word label) are scene graphs in normalised
coordinates, rendered anti-aliased at any size; edits over the field's taxonomy change the graph
exactly; a grammar of paraphrase families phrases them, with families held out to measure
generalisation; the oracle parses pictures back into scene graphs and scores edits exactly.
Needs only numpy and Pillow (no torch).

>>> from editlab import toyworld
>>> ex = toyworld.generate_example(0, task="color")
>>> ex.instruction, ex.task                                   # doctest: +SKIP
('Make the red star blue.', 'color')
>>> toyworld.Oracle().score(ex, ex.target).success            # doctest: +SKIP
True

Modules: palette (closed vocabularies), shapes, scene (graph + sampling), render, styles,
refer (referring expressions), edits (structured edits), grammar (instructions), generate
(examples), episodes (multi-turn), perception (image -> scene graph), oracle (scoring),
instructions (text -> edit), sheet (contact sheets).
"""

from __future__ import annotations

from editlab._lazy import lazy_exports
from editlab.toyworld.edits import GLOBAL_TASKS, TOYWORLD_TASKS, Edit, apply_edit, sample_edit
from editlab.toyworld.generate import generate_example, generate_examples, make_example
from editlab.toyworld.grammar import FAMILIES, SPLITS, family_names, realise, tokenize, vocabulary
from editlab.toyworld.refer import Ref, resolve, sample_ref
from editlab.toyworld.render import render
from editlab.toyworld.scene import Background, Label, Scene, SceneObject, View, sample_scene

# Parts that are larger to import load on first use.
_LAZY = {
    "Oracle": "editlab.toyworld.oracle:Oracle",
    "OracleScore": "editlab.toyworld.oracle:OracleScore",
    "parse_scene": "editlab.toyworld.perception:parse_scene",
    "parse_instruction": "editlab.toyworld.instructions:parse_instruction",
    "Episode": "editlab.toyworld.episodes:Episode",
    "generate_episode": "editlab.toyworld.episodes:generate_episode",
    "EPISODE_KINDS": "editlab.toyworld.episodes:EPISODE_KINDS",
    "score_episode": "editlab.toyworld.episodes:score_episode",
    "play_episode": "editlab.toyworld.play:play_episode",
    "contact_sheet": "editlab.toyworld.sheet:contact_sheet",
    "save_example": "editlab.toyworld.files:save_example",
    "load_example": "editlab.toyworld.files:load_example",
}

__all__ = [
    "TOYWORLD_TASKS", "GLOBAL_TASKS", "FAMILIES", "SPLITS",
    "Background", "Label", "Scene", "SceneObject", "View", "sample_scene", "render",
    "Ref", "resolve", "sample_ref", "Edit", "apply_edit", "sample_edit",
    "family_names", "realise", "tokenize", "vocabulary",
    "generate_example", "generate_examples", "make_example", *_LAZY,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
