"""toyworld benchmark: procedural scenes with exact targets, scored by the oracle and the usual metrics.

Single-turn samples come from `editlab.toyworld.generate_example` (split `test`: training phrasings
on unseen scenes; `heldout`: held-out phrasing families). Multi-turn episodes come from
`editlab.toyworld.generate_episode`: each turn edits the model's previous output, so errors
accumulate as they do for a real user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError


class ToyworldLoader(BenchmarkLoader):
    def samples(self) -> Iterator[BenchSample]:
        if self.options["mode"] == "multi":
            yield from self._episodes()
            return
        from editlab import toyworld

        size = {"width": int(self.options["width"]), "height": int(self.options["height"])}
        seed, split = int(self.options["seed"]), self.options["split"]
        # With task=None example i has task TOYWORLD_TASKS[i % 15]: --limit N covers every task
        # before repeating one, and ids stay unique.
        count = int(self.options["per_task"]) * len(toyworld.TOYWORLD_TASKS)
        for example in toyworld.generate_examples(count, seed=seed, split=split, **size):
            yield BenchSample(
                example=example,
                output_name=example.id,
                group=split,
                context=self._context(example),
                edit_mask=example.mask if self.options["use_masks"] else None,
            )

    @staticmethod
    def _context(example) -> dict[str, Any]:
        # Read only by special editors (the toyworld oracle editor); real editors never look.
        return {"toyworld_example": example, "target": example.target}

    def _episodes(self) -> Iterator[BenchSample]:
        """Each turn edits HEAD (the model's previous output); a backtracking turn checks out an
        earlier version first: its `meta["parent_turn"]` (0 = the episode's first image) names the
        version the editor receives, and `meta["editor_instruction"]` (when present) is what is left
        to do after the undo/checkout, e.g. "undo the last change and make it blue" -> "make it blue"."""
        from editlab import toyworld

        try:
            generate_episode = toyworld.generate_episode
        except (AttributeError, ImportError):
            generate_episode = None
        if generate_episode is None:
            raise EditlabError("this editlab has no toyworld episodes yet; use mode=single")
        size = {"width": int(self.options["width"]), "height": int(self.options["height"])}
        seed, split = int(self.options["seed"]), self.options["split"]
        for index in range(int(self.options["episodes"])):
            episode = generate_episode(seed, split=split, index=index, **size)
            turns = episode_turns(episode)
            name = episode_id(episode, turns[0])
            ids = [f"{name}/turn{turn}" for turn in range(1, len(turns) + 1)]
            for turn, example in enumerate(turns, start=1):
                parent = int(example.meta.get("parent_turn", turn - 1))
                if not 0 <= parent < turn:
                    raise EditlabError(f"toyworld episode {name}: turn {turn} has parent_turn {parent}; must be 0..{turn - 1}")
                sample = BenchSample(
                    example=_with_id(example, ids[turn - 1], name, turn), output_name=f"{name}/turn{turn}",
                    input_from=ids[parent - 1] if parent >= 1 else None, group=f"turn{turn}",
                    context={**self._context(example), "kind": example.meta.get("kind") or getattr(episode, "kind", None)},
                    edit_mask=example.mask if self.options["use_masks"] else None,
                )
                if example.meta.get("editor_instruction"):
                    sample.context["user_instruction"] = example.instruction
                    sample.example.instruction = example.meta["editor_instruction"]
                yield sample


def _with_id(example, sample_id: str, episode: str, turn: int):
    from dataclasses import replace

    return replace(example, id=sample_id, episode=episode, turn=turn)


def episode_turns(episode) -> list:
    turns = getattr(episode, "turns", None) or getattr(episode, "examples", None)
    if turns is None and isinstance(episode, (list, tuple)):
        turns = episode
    if not turns:
        raise EditlabError("toyworld episode has no turns; update editlab")
    return list(turns)


def episode_id(episode, first) -> str:
    return str(getattr(episode, "id", None) or first.episode or first.id)
