"""`multi-turn` (ImgEdit): turn single edits into conversations that test memory, understanding
and backtracking.

A chosen row (`fraction` of them, seeded) becomes turn 1 of an episode; turns 2..`turns` follow,
each of one kind:
* understanding: refers back with a pronoun or an omitted subject ("now make it blue");
* memory: a new edit with a constraint from earlier that must still hold ("... keep the cat as it is");
* backtracking: "undo the last change" — the answer is the previous version, exactly.
Each turn starts from the previous turn's output (meta.source_from), so pair generators must run
after this stage; they generate turns in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from editlab.data.backends.chat import parse_json_object, user_message
from editlab.data.sample import Sample
from editlab.data.stage import ShardContext
from editlab.data.stages.instructions import InstructionWriter, canonical_task
from editlab.data.templates import BACKGROUNDS, COLORS, ENVIRONMENTS, STYLES
from editlab.errors import EditlabError
from editlab.tasks import MULTI_TURN_KINDS


@dataclass
class MultiTurn(InstructionWriter):
    """Turn rows into episodes: memory, understanding and backtracking turns."""

    name = "multi-turn"
    fraction: float = 1.0
    turns: int = 3
    kinds: list[str] = field(default_factory=lambda: list(MULTI_TURN_KINDS))

    system_prompt = ("You continue an image-editing conversation. Write the user's next instructions; each must "
                     "make sense after the previous ones. Answer with one JSON object only.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.turns < 2:
            raise EditlabError("multi-turn: turns must be at least 2")
        if not 0 <= self.fraction <= 1:
            raise EditlabError("multi-turn: fraction must be in [0, 1]")
        unknown = [k for k in self.kinds if k not in MULTI_TURN_KINDS]
        if unknown or not self.kinds:
            raise EditlabError(f"multi-turn: unknown kinds {unknown}; choose from {', '.join(MULTI_TURN_KINDS)}")

    def thresholds(self):
        return {"fraction of items": self.fraction, "turns": self.turns, "kinds": self.kinds}

    def _plan_kinds(self, sample: Sample, ctx: ShardContext) -> list[str]:
        rng = ctx.rng(sample.id, "kinds")
        kinds = []
        for _ in range(2, self.turns + 1):
            options = [k for k in self.kinds if not (k == "backtracking" and kinds and kinds[-1] == "backtracking")]
            if not sample.meta.get("object"):
                options = [k for k in options if k != "understanding"]
            kinds.append(str(rng.choice(options or ["memory"])))
        return kinds

    def process_one(self, sample: Sample, ctx: ShardContext) -> list[Sample]:
        if not sample.instruction:
            raise EditlabError("multi-turn needs turn 1's instruction; put an instruction writer before it")
        if ctx.rng(sample.id, "episode").random() >= self.fraction:
            return [sample]
        kinds = self._plan_kinds(sample, ctx)
        if self._chat is None:
            followups = [self._template_turn(sample, kind, ctx, turn) for turn, kind in enumerate(kinds, start=2)]
        else:
            followups = self._ask_turns(sample, kinds, ctx)
        episode = sample.id
        sample.episode_id, sample.turn = episode, 1
        sample.meta["multi_turn_kinds"] = kinds
        rows, previous = [sample], sample
        for turn, (kind, answer) in enumerate(zip(kinds, followups, strict=True), start=2):
            row = sample.derive(f"{episode}-t{turn}", turn=turn, episode_id=episode, instruction=answer["instruction"],
                                task=answer["task"] if kind != "backtracking" else previous.task, edited=None)
            row.meta.update(multi_turn_kind=kind, source_from=previous.id,
                            output_caption=answer.get("output_caption") or previous.meta.get("output_caption"),
                            input_caption=previous.meta.get("output_caption") or previous.meta.get("input_caption"))
            for key in ("target_from", "classic_op", "removal_caption", "replacement"):  # turn 1's, not this turn's
                row.meta.pop(key, None)
            if answer.get("classic_op"):
                row.meta["classic_op"] = answer["classic_op"]
            if kind == "backtracking":
                row.meta["target_from"] = previous.id
                row.meta["output_caption"] = previous.meta.get("input_caption")
            row.record(self.name, kind=kind)
            rows.append(row)
            previous = row
        return rows

    def _template_turn(self, sample: Sample, kind: str, ctx: ShardContext, turn: int) -> dict[str, Any]:
        rng = ctx.rng(sample.id, "turn", turn)
        caption = sample.meta.get("output_caption") or sample.meta.get("input_caption") or "a photo"
        obj = sample.meta.get("object")
        if kind == "backtracking":
            return {"instruction": str(rng.choice(["undo the last change", "go back to how it was before",
                                                   "revert that last edit"])), "task": sample.task}
        if kind == "understanding" and obj:
            color = str(rng.choice(COLORS))
            phrase = str(rng.choice([f"now make it {color}", f"actually, make it {color} instead",
                                     f"and make that one {color} too"]))
            return {"instruction": phrase, "task": "color", "output_caption": f"{caption}, the {obj} is {color}"}
        choice = int(rng.integers(3))
        keep = f", but keep the {obj} exactly as it is now" if obj else ", keeping every earlier change"
        if choice == 0:
            place = str(rng.choice(BACKGROUNDS))
            return {"instruction": f"change the background to {place}{keep}", "task": "background",
                    "output_caption": f"{caption}, in front of {place}"}
        if choice == 1:
            adjective, phrase = ENVIRONMENTS[int(rng.integers(len(ENVIRONMENTS)))]
            return {"instruction": f"make it {adjective}{keep}", "task": "environment",
                    "output_caption": f"{caption}, {phrase}"}
        style = str(rng.choice(STYLES))
        return {"instruction": f"turn it into a {style}{keep}", "task": "style", "output_caption": f"{caption}, {style}"}

    def _ask_turns(self, sample: Sample, kinds: list[str], ctx: ShardContext) -> list[dict[str, Any]]:
        prompt = (f"Image caption: {sample.meta.get('input_caption', 'unknown')}\nTurn 1 instruction: "
                  f"{sample.instruction}\nWrite turns 2 to {len(kinds) + 1}; their kinds, in order: {', '.join(kinds)} "
                  "(understanding = refer back with a pronoun; memory = a new edit that must respect an earlier "
                  "one; backtracking = undo the previous turn).\nTasks: "
                  f"{self.task_list()}.\nAnswer as "
                  '{"turns": [{"instruction": ..., "task": ..., "output_caption": ...}, ...]}.')
        messages = [{"role": "system", "content": self.system_prompt}, user_message(prompt)]
        problem = ""
        for attempt in range(self.retries + 1):
            text = self._chat.complete(messages, seed=ctx.seed(sample.id, attempt), max_tokens=self.max_tokens)
            try:
                return self._validate_turns(parse_json_object(text), kinds, sample)
            except ValueError as exc:
                problem = str(exc)
        raise ValueError(f"unparseable answer after {self.retries + 1} tries: {problem}")

    def _validate_turns(self, answer: dict[str, Any], kinds: list[str], sample: Sample) -> list[dict[str, Any]]:
        turns = answer.get("turns", answer.get("items"))
        if not isinstance(turns, list) or len(turns) != len(kinds):
            raise ValueError(f"expected {len(kinds)} turns, got {turns!r:.120}")
        out = []
        for kind, turn in zip(kinds, turns, strict=True):
            if not isinstance(turn, dict) or not str(turn.get("instruction", "")).strip():
                raise ValueError(f"turn without an instruction: {turn!r:.120}")
            task = canonical_task(turn.get("task")) or (sample.task if kind == "backtracking" else None)
            if task is None:
                raise ValueError(f"turn task {turn.get('task')!r} unknown")
            out.append({**turn, "instruction": str(turn["instruction"]).strip(), "task": task})
        return out
