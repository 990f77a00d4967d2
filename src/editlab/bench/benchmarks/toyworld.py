"""toyworld benchmark: procedural scenes with exact targets, scored by the oracle and the usual metrics.

Single-turn samples come from `editlab.toyworld.generate_example` (split `test`: training phrasings
on unseen scenes; `heldout`: held-out phrasing families). Multi-turn episodes come from
`editlab.toyworld.generate_episode`: each turn edits the model's previous output, so errors
accumulate as they do for a real user.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from editlab.bench.benchmarks.base import BenchmarkLoader, BenchSample
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
        from editlab import toyworld

        generate_episode = getattr(toyworld, "generate_episode", None)
        if generate_episode is None:
            raise EditlabError("this editlab has no toyworld episodes yet; use mode=single")
        size = {"width": int(self.options["width"]), "height": int(self.options["height"])}
        seed, split = int(self.options["seed"]), self.options["split"]
        for index in range(int(self.options["episodes"])):
            episode = generate_episode(seed, split=split, index=index, **size)
            previous = None
            for turn, example in enumerate(episode_turns(episode), start=1):
                kind = getattr(episode, "kind", None) or example.meta.get("kind") or "episode"
                yield BenchSample(
                    example=example,
                    output_name=f"{episode_id(episode, example)}/turn{turn}",
                    input_from=previous,
                    group=f"turn{turn}",
                    context={**self._context(example), "kind": kind},
                )
                previous = example.id


def episode_turns(episode) -> list:
    turns = getattr(episode, "turns", None) or getattr(episode, "examples", None)
    if turns is None:
        raise EditlabError("toyworld episode has no turns; update editlab")
    return list(turns)


def episode_id(episode, example) -> str:
    return str(getattr(episode, "id", None) or example.episode or example.id)
