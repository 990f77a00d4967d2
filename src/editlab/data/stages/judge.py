"""`judge-filter`: a VLM judge scores every pair, then one of three policies decides what stays.

The judges are `editlab.judges` (strict parsing, retries, pinned prompts): `viescore`
(SC / PQ / O = sqrt(SC * PQ), 0-10, GEdit-Bench) or `imgedit` (adherence / quality / preservation,
1-5). Backends: `openai:MODEL[@URL]` (any OpenAI-compatible server), `transformers:MODEL`, `dummy`.

* `score`: keep every row with its scores as columns; users filter later (ImgEdit);
* `threshold`: keep rows whose main score (and any `min_scores`) pass;
* `importance` (OmniEdit): keep a row with probability clip(scale * s ** power, 0, 1), s the main
  score rescaled to [0, 1]; the draw is seeded by the row id, so reruns keep the same rows.

A judge failure (unreachable, refused, unparseable after retries) is the row's error: never an
invented score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext, Stage
from editlab.errors import EditlabError
from editlab.io.seeds import uniform

MODES = ("score", "threshold", "importance")
#: judge -> (main score key, its range)
MAIN_SCORE = {"viescore": ("O", (0.0, 10.0)), "imgedit": ("imgedit_score", (1.0, 5.0)),
              "imgedit-hard": ("imgedit_hard_score", (1.0, 5.0))}


@dataclass
class JudgeFilter(Stage):
    """VLM judge scores (VIEScore / ImgEdit rubric): keep all, threshold, or importance-sample."""

    name = "judge-filter"
    judge: str = "viescore"
    backend: str = "openai:gpt-4o-2024-08-06"
    mode: str = "threshold"
    min_score: float | None = 5.0
    min_scores: dict[str, float] | None = None  # e.g. {SC: 5, PQ: 5}
    power: float = 2.0
    scale: float = 1.0
    max_attempts: int = 3
    batch_size: int = 8

    tiny_overrides: ClassVar[dict[str, Any]] = {"backend": "dummy", "min_score": None}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EditlabError(f"judge-filter: mode={self.mode!r}; use one of {', '.join(MODES)}")
        if self.judge not in MAIN_SCORE:
            raise EditlabError(f"judge-filter: judge={self.judge!r}; use one of {', '.join(MAIN_SCORE)}")

    def setup(self) -> None:
        from editlab.judges import get_judge

        self._judge = get_judge(self.judge, backend=self.backend, max_attempts=self.max_attempts)

    def models(self):
        judge = getattr(self, "_judge", None)
        if judge is None:
            return {}
        info = judge.describe()
        backend = info.get("backend", {})
        prompts = info.get("prompts", {})
        return {"judge": {"id": f"{self.judge} on {backend.get('model', backend.get('backend'))}",
                          "hash": ",".join(f"{k}:{v['version']}" for k, v in prompts.items())}}

    def thresholds(self):
        key, _ = MAIN_SCORE[self.judge]
        if self.mode == "score":
            return {"policy": "keep all; scores kept as columns"}
        if self.mode == "importance":
            return {"policy": "importance sampling", "keep probability": f"clip({self.scale} * s^{self.power}, 0, 1)",
                    f"judge_{key} >=": self.min_score}
        return {f"judge_{key} >=": self.min_score, **{f"judge_{k} >=": v for k, v in (self.min_scores or {}).items()}}

    expensive = True  # judge calls cost time or money: journal them

    def process(self, samples: list[Sample], ctx: ShardContext) -> list[Sample]:
        from editlab.judges import JudgeItem

        out = list(samples)
        todo = []
        for position, sample in enumerate(samples):
            done = ctx.journal.get(sample.id) if ctx.journal else None
            if done is not None:
                out[position] = done[0]
            elif sample.ok:
                todo.append(sample)
        for start in range(0, len(todo), max(1, self.batch_size)):
            batch = todo[start:start + self.batch_size]
            try:
                verdicts = self._judge.judge([JudgeItem(s.image("source"), s.image("edited"), s.instruction,
                                                        task=s.task) for s in batch])
            except Exception as exc:  # the backend as a whole failed: every row of the batch records it
                for sample in batch:
                    sample.fail(self.name, exc)
                continue
            for sample, verdict in zip(batch, verdicts, strict=True):
                self._decide(sample, verdict, ctx)
                if ctx.journal:
                    ctx.journal.put(sample.id, [sample])
        return out

    def _decide(self, sample: Sample, verdict, ctx: ShardContext) -> None:
        if verdict.scores is None:
            sample.fail(self.name, f"judge failed: {verdict.failure}")
            return
        for key, value in verdict.scores.items():
            sample.scores[f"judge_{key}"] = round(float(value), 6)
        key, (low, high) = MAIN_SCORE[self.judge]
        main = float(verdict.scores[key])
        if self.mode == "score":
            return
        if self.min_score is not None and main < self.min_score:
            sample.reject(self.name, f"judge {key} {main:.2f} < {self.min_score}")
            return
        if self.mode == "threshold":
            for name, minimum in (self.min_scores or {}).items():
                if float(verdict.scores.get(name, float("-inf"))) < minimum:
                    sample.reject(self.name, f"judge {name} {verdict.scores.get(name)} < {minimum}")
                    return
            return
        keep = min(1.0, max(0.0, self.scale * ((main - low) / (high - low)) ** self.power))
        sample.scores["judge_keep_prob"] = round(keep, 6)
        if uniform(ctx.job_seed, self.name, sample.id) >= keep:
            sample.reject(self.name, f"importance sampling (keep probability {keep:.2f})")
