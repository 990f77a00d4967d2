"""`balance`: per-task quotas over the whole dataset (a global stage).

`mode: proportional` keeps, per task, floor(weight * s) units where s is the largest scale every task
can meet (equal weights: every task cut to the rarest task's count); `mode: cap` only applies
`max_per_task`. Which units survive is a seeded random choice (not "the first N"), stored as one
cut-off per task, so the plan stays small and reruns keep the same rows. Episodes count as one unit,
under their first turn's task (or, with `episodes: keep`, are left out of the quotas).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from editlab.data.sample import Sample
from editlab.data.stage import GlobalStage, ShardContext
from editlab.errors import EditlabError
from editlab.io.seeds import uniform


@dataclass
class Balance(GlobalStage):
    """Per-task quotas (proportional to weights, or capped), chosen by a seeded draw."""

    name = "balance"
    mode: str = "proportional"
    weights: dict[str, float] | None = None  # task -> relative share; unlisted tasks get default_weight
    default_weight: float = 1.0
    max_per_task: int | None = None
    min_per_task: int = 0  # tasks with fewer units are dropped entirely (0: keep every task)
    episodes: str = "balance"  # "balance": an episode is a unit of its first turn's task; "keep": never dropped

    def __post_init__(self) -> None:
        if self.mode not in ("proportional", "cap"):
            raise EditlabError(f"balance: mode={self.mode!r}; use proportional or cap")
        if self.episodes not in ("balance", "keep"):
            raise EditlabError("balance: episodes must be 'balance' or 'keep'")
        if any(w < 0 for w in (self.weights or {}).values()) or self.default_weight < 0:
            raise EditlabError("balance: weights must be >= 0")

    def thresholds(self):
        return {"mode": self.mode, "weights": self.weights or "equal", "max per task": self.max_per_task,
                "min per task": self.min_per_task}

    def summarize(self, sample: Sample) -> dict[str, Any]:
        return {"unit": sample.episode_id or sample.id, "task": sample.task, "turn": sample.turn,
                "episode": sample.episode_id is not None}

    def _key(self, ctx: ShardContext, unit: str) -> float:
        return uniform(ctx.job_seed, self.name, unit)

    def plan(self, summaries: list[dict[str, Any]], ctx: ShardContext) -> dict[str, Any]:
        first: dict[str, dict[str, Any]] = {}
        for row in summaries:
            if row.get("episode") and self.episodes == "keep":
                continue
            if row["unit"] not in first or row["turn"] < first[row["unit"]]["turn"]:
                first[row["unit"]] = row
        keys: dict[str, list[float]] = defaultdict(list)
        for unit, row in first.items():
            keys[row["task"]].append(self._key(ctx, unit))
        counts = {task: len(v) for task, v in keys.items()}
        weights = {task: (self.weights or {}).get(task, self.default_weight) for task in counts}
        eligible = {t for t, c in counts.items() if c >= max(1, self.min_per_task) and weights[t] > 0}
        targets = {task: 0 for task in counts}
        if eligible:
            if self.mode == "proportional":
                scale = min(counts[t] / weights[t] for t in eligible)
                targets.update({t: min(counts[t], math.floor(weights[t] * scale + 1e-9)) for t in eligible})
            else:
                targets.update({t: counts[t] for t in eligible})
        if self.max_per_task is not None:
            targets = {t: min(v, self.max_per_task) for t, v in targets.items()}
        cutoffs = {task: (sorted(keys[task])[targets[task] - 1] if targets[task] else -1.0) for task in counts}
        return {"counts": counts, "targets": targets, "cutoffs": cutoffs}

    def apply(self, samples: list[Sample], plan: dict[str, Any], ctx: ShardContext) -> list[Sample]:
        unit_task: dict[str, tuple[int, str]] = {}
        for sample in samples:
            unit = sample.episode_id or sample.id
            if unit not in unit_task or sample.turn < unit_task[unit][0]:
                unit_task[unit] = (sample.turn, sample.task)
        for sample in samples:
            if sample.episode_id and self.episodes == "keep":
                continue
            unit = sample.episode_id or sample.id
            task = unit_task[unit][1]
            if self._key(ctx, unit) > plan["cutoffs"].get(task, -1.0):
                sample.reject(self.name, f"task {task} over its quota of {plan['targets'].get(task, 0)}")
        return samples
