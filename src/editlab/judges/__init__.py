"""Judges by name: `imgedit`, `imgedit-hard`, `viescore` (VLM rubrics on a chat backend) and `oracle` (toyworld).

>>> from editlab.judges import get_judge
>>> judge = get_judge("viescore", backend="openai:gpt-4o-2024-08-06")          # doctest: +SKIP
>>> judge = get_judge("imgedit", backend="openai:Qwen/Qwen2.5-VL-7B-Instruct@http://localhost:8000/v1")  # doctest: +SKIP
>>> verdicts = judge.judge([JudgeItem(source, output, "make it snowy")])       # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from editlab.errors import EditlabError
from editlab.judges.backends import (
    BACKENDS,
    ChatBackend,
    DummyBackend,
    OpenAIBackend,
    TransformersBackend,
    get_backend,
)
from editlab.judges.base import Judge, JudgeItem, Verdict, parse_scores
from editlab.registry import Registry

JUDGES: Registry = Registry("judge")
JUDGES.register("imgedit", "editlab.judges.rubric:ImgEditJudge")
JUDGES.register("imgedit-hard", "editlab.judges.rubric:ImgEditHardJudge")
JUDGES.register("viescore", "editlab.judges.rubric:VIEScoreJudge")
JUDGES.register("oracle", "editlab.judges.oracle:OracleJudge")


def get_judge(name: str | Judge, backend: str | ChatBackend | None = None, **options: Any) -> Judge:
    """A judge by name; VLM judges need a backend (`dummy`, `openai:MODEL[@URL]`, `transformers:MODEL`)."""
    if isinstance(name, Judge):
        return name
    judge_cls = JUDGES.get(name)
    if getattr(judge_cls, "needs_backend", True):
        if backend is None:
            raise EditlabError(
                f"judge {name!r} needs a VLM backend; pass --judge-backend openai:MODEL[@URL], transformers:MODEL or dummy"
            )
        return judge_cls(backend, **options)
    return judge_cls(**options)


__all__ = ["BACKENDS", "JUDGES", "ChatBackend", "DummyBackend", "Judge", "JudgeItem", "OpenAIBackend",
           "TransformersBackend", "Verdict", "get_backend", "get_judge", "parse_scores"]
