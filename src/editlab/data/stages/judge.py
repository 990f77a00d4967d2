"""`judge-filter`: VLM scores on every pair (VIEScore SC / PQ / overall), then one of three policies.

* `score`: keep everything, scores as columns; users filter later (ImgEdit);
* `threshold`: keep rows with SC, PQ and overall above the minimums;
* `importance` (OmniEdit): keep a row with probability clip(scale * (overall / 10) ** power, 0, 1),
  decided by a seeded uniform draw per row id, so reruns keep the same rows.

A judge failure (unreachable, unparseable) is the row's error: never an invented score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from editlab.data.sample import Sample
from editlab.data.seeds import uniform
from editlab.data.stage import ShardContext, Stage
from editlab.errors import EditlabError

MODES = ("score", "threshold", "importance")


@dataclass
class JudgeFilter(Stage):
    name = "judge-filter"
    judge: str = "openai"  # openai | transformers | dummy
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    mode: str = "threshold"
    min_sc: float | None = None
    min_pq: float | None = None
    min_overall: float | None = 5.0
    power: float = 2.0
    scale: float = 1.0
    retries: int = 2
    device: str | None = None

    tiny_overrides: ClassVar[dict[str, Any]] = {"judge": "dummy"}

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EditlabError(f"judge-filter: mode={self.mode!r}; use one of {', '.join(MODES)}")
        if self.judge not in ("openai", "transformers", "dummy"):
            raise EditlabError(f"judge-filter: judge={self.judge!r}; use openai, transformers or dummy")
        if self.judge != "dummy" and not self.model:
            raise EditlabError(f"judge-filter: judge {self.judge!r} needs model=")

    def setup(self) -> None:
        from editlab.data.backends.judges import ChatJudge, DummyJudge

        if self.judge == "dummy":
            self._judge = DummyJudge()
            return
        from editlab.data.backends.chat import get_chat_backend

        options: dict[str, Any] = {"model": self.model}
        if self.judge == "openai":
            options.update(base_url=self.base_url, api_key_env=self.api_key_env)
        else:
            options.update(device=self.device)
        self._judge = ChatJudge(get_chat_backend(self.judge, **options), retries=self.retries)

    def models(self):
        return {"judge": self._judge.describe()} if getattr(self, "_judge", None) else {}

    def thresholds(self):
        if self.mode == "score":
            return {"policy": "keep all (scores as columns)"}
        if self.mode == "importance":
            return {"policy": "importance sampling", "keep probability": f"clip({self.scale} * (overall/10)^{self.power})",
                    "overall >=": self.min_overall}
        return {"SC >=": self.min_sc, "PQ >=": self.min_pq, "overall >=": self.min_overall}

    def process_one(self, sample: Sample, ctx: ShardContext) -> Sample:
        result = self._judge.score(sample.image("source"), sample.image("edited"), sample.instruction,
                                   seed=ctx.seed(sample.id) % (2 ** 31))
        sample.scores.update(judge_sc=result["sc"], judge_pq=result["pq"], judge_overall=round(result["overall"], 6))
        sample.meta["judge_reasoning"] = result["reasoning"]
        if self.mode == "score":
            return sample
        overall = result["overall"]
        if self.min_overall is not None and overall < self.min_overall:
            return sample.reject(self.name, f"overall {overall:.2f} < {self.min_overall}")
        if self.mode == "threshold":
            if self.min_sc is not None and result["sc"] < self.min_sc:
                return sample.reject(self.name, f"SC {result['sc']:.1f} < {self.min_sc}")
            if self.min_pq is not None and result["pq"] < self.min_pq:
                return sample.reject(self.name, f"PQ {result['pq']:.1f} < {self.min_pq}")
            return sample
        keep = min(1.0, max(0.0, self.scale * (overall / 10.0) ** self.power))
        sample.scores["judge_keep_prob"] = round(keep, 6)
        if uniform(ctx.job_seed, self.name, sample.id) >= keep:
            return sample.reject(self.name, f"importance sampling (keep probability {keep:.2f})")
        return sample
