"""The toyworld oracle as a judge: exact scores from the scene's ground truth, no model involved."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from editlab.errors import EditlabError
from editlab.judges.base import Judge, JudgeItem, Verdict


class OracleJudge(Judge):
    name = "oracle"
    needs_backend = False
    score_keys = ("success", "adherence", "quality", "preservation")

    def __init__(self, **_: Any):
        try:
            from editlab.toyworld import Oracle
        except ImportError as exc:
            raise EditlabError(f"the toyworld oracle is not available ({exc}); update editlab or pass --judge none") from None
        self.oracle = Oracle()

    def describe(self) -> dict[str, Any]:
        import editlab

        return {"judge": self.name, "editlab_version": editlab.__version__,
                "oracle": getattr(self.oracle, "version", type(self.oracle).__name__)}

    def judge(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        verdicts = []
        for item in items:
            score = self.oracle.score(item.example, item.output)
            scores = {key: float(getattr(score, key)) for key in self.score_keys}
            details = getattr(score, "details", None)
            # JSON-safe copy (numpy numbers, tuples) for the cache and the per-sample log
            details = json.loads(json.dumps(details, default=_plain)) if details else None
            verdicts.append(Verdict(scores, None, [], 1, {"details": details} if details else {}))
        return verdicts


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
