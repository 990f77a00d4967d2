"""Judges: score an edit (source, output, instruction) and never invent a score.

A VLM judge sends a versioned rubric prompt to a chat backend, parses the answer strictly (a JSON
object with exactly the expected integer fields in range), retries an unparseable or refused
answer, and after the last attempt returns a *failure* (kept in the results and counted in the
report), never a number it made up.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.io.hashing import image_hash, stable_hash

PROMPTS = Path(__file__).parent / "prompts"


@dataclass
class JudgeItem:
    """What a judge sees of one sample."""

    source: Image.Image
    output: Image.Image
    instruction: str
    task: str = "unknown"
    example: Any = None  # the EditExample (the oracle reads its ground truth)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Verdict:
    """Scores, or a failure (never both). `answers` keeps every raw answer for the per-sample log."""

    scores: dict[str, float] | None
    failure: str | None = None
    answers: list[str] = field(default_factory=list)
    attempts: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"scores": self.scores, "failure": self.failure, "answers": self.answers,
                "attempts": self.attempts, "details": self.details}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(**data)


class Judge(ABC):
    name = "judge"
    #: score names this judge adds to a sample's scores
    score_keys: tuple[str, ...] = ()
    #: a judge that needs a VLM backend (False for the toyworld oracle)
    needs_backend = True

    @abstractmethod
    def judge(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        """One verdict per item, in order."""

    def judge_iter(self, items: Sequence[JudgeItem]) -> Iterator[tuple[int, Verdict]]:
        """(index, verdict) as each finishes, so the harness can save every answer at once."""
        for index, item in enumerate(items):
            yield index, self.judge([item])[0]

    def describe(self) -> dict[str, Any]:
        return {"judge": self.name}

    def cache_key(self, item: JudgeItem) -> str:
        """Hash of everything that goes into the call: judge/model/prompt, images, instruction, task."""
        return stable_hash({"judge": self.describe(), "source": image_hash(item.source),
                            "output": image_hash(item.output), "instruction": item.instruction, "task": item.task})


class RefusedAnswer(Exception):
    """The backend answered with a refusal (content filter, empty content)."""


class AnswerFormatError(ValueError):
    """The answer is not the JSON object the rubric asks for."""


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_scores(answer: str, ranges: dict[str, tuple[int, int]], extra_keys: Sequence[str] = ("reason", "reasoning")):
    """Strictly parse `{"key": int, ...}`: exactly the keys in `ranges` (plus optional reason keys).

    >>> parse_scores('{"score": 4, "reason": "ok"}', {"score": (1, 5)})
    ({'score': 4}, 'ok')
    """
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnswerFormatError(f"not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise AnswerFormatError("not a JSON object")
    missing = [k for k in ranges if k not in data]
    unexpected = [k for k in data if k not in ranges and k not in extra_keys]
    if missing or unexpected:
        raise AnswerFormatError(f"keys: missing {missing}, unexpected {unexpected}")
    scores = {}
    for key, (low, high) in ranges.items():
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise AnswerFormatError(f"{key} is {value!r}, not an integer")
        if not low <= value <= high:
            raise AnswerFormatError(f"{key}={value} outside {low}-{high}")
        scores[key] = value
    reason = next((str(data[k]) for k in extra_keys if k in data), None)
    return scores, reason


def load_prompt(name: str) -> tuple[str, str]:
    """(prompt text, version) from prompts/<name>.txt; the version is the file's `version:` first line."""
    text = (PROMPTS / f"{name}.txt").read_text(encoding="utf-8")
    first, _, body = text.partition("\n")
    if not first.startswith("version:"):
        raise ValueError(f"prompt {name} must start with a 'version:' line")
    return body.strip() + "\n", first.split(":", 1)[1].strip()
