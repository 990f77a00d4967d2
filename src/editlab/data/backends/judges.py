"""Judges for `judge-filter`: VIEScore-style semantic consistency (SC) and perceptual quality (PQ).

SC = min(edit success, no over-editing) and PQ = min(naturalness, no artefacts), each 0-10 from a
VLM; overall = sqrt(SC * PQ) (REFERENCE.md §5-6). Answers are parsed strictly: an unparseable or
out-of-range answer is retried, then raised, so the row records a failure instead of an invented
score. Backends: `openai` / `transformers` (through the chat backends) and `dummy` (deterministic
pseudo-scores from the image bytes: plumbing only).

This is a thin local adapter; `editlab.bench.judges` holds the benchmark judges (caching, pinned
versions), and the filter uses them when they are installed.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from PIL import Image

from editlab.data.backends.chat import ChatBackend, parse_json_object, user_message

PROMPT_VERSION = "viescore-1"
SC_PROMPT = (
    "You are a meticulous judge of image edits. The first image is the original, the second is the edited "
    "image, and the edit instruction is: {instruction!r}.\nGive two integer scores from 0 to 10: the first "
    "says how well the edited image follows the instruction (0 = not at all, 10 = perfectly); the second says "
    "how little was changed beyond what the instruction asks (0 = everything changed, 10 = nothing else "
    'changed).\nAnswer with JSON only: {{"score": [first, second], "reasoning": "one sentence"}}.')
PQ_PROMPT = (
    "You are a meticulous judge of image quality. Give two integer scores from 0 to 10 for this image: the "
    "first for how natural it looks (lighting, shadows, proportions), the second for the absence of artefacts "
    '(distortions, blur, noise, broken parts; 10 = none).\nAnswer with JSON only: {"score": [first, second], '
    '"reasoning": "one sentence"}.')


def parse_scores(text: str) -> tuple[float, float, str]:
    answer = parse_json_object(text)
    score = answer.get("score")
    if not isinstance(score, list) or len(score) != 2:
        raise ValueError(f"expected 'score': [a, b], got {score!r}")
    values = []
    for value in score:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 10:
            raise ValueError(f"score {value!r} is not a number in 0-10")
        values.append(float(value))
    return values[0], values[1], str(answer.get("reasoning", ""))[:300]


class Judge:
    name = "judge"

    def score(self, source: Image.Image, edited: Image.Image, instruction: str, *, seed: int) -> dict[str, Any]:
        """{"sc": float, "pq": float, "overall": float, "reasoning": str}"""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"id": self.name, "prompt_version": PROMPT_VERSION}


def combine(sc: float, pq: float, reasoning: str = "") -> dict[str, Any]:
    return {"sc": sc, "pq": pq, "overall": math.sqrt(sc * pq), "reasoning": reasoning}


class DummyJudge(Judge):
    """Deterministic pseudo-scores from the pair's bytes: same pair, same scores; meaningless."""

    name = "dummy"

    def score(self, source, edited, instruction, *, seed):
        digest = hashlib.sha256(source.tobytes() + edited.tobytes() + instruction.encode()).digest()
        return combine(float(digest[0] % 11), float(digest[1] % 11), "dummy judge")


class ChatJudge(Judge):
    """A VLM behind a chat backend asked the two VIEScore questions."""

    def __init__(self, chat: ChatBackend, retries: int = 2):
        self.chat, self.retries = chat, retries
        self.name = chat.describe().get("id", "chat")

    def _ask(self, prompt: str, images: list[Image.Image], seed: int) -> tuple[float, float, str]:
        problem = ""
        for attempt in range(self.retries + 1):
            text = self.chat.complete([user_message(prompt, images)], seed=seed + attempt, max_tokens=200)
            try:
                return parse_scores(text)
            except ValueError as exc:
                problem = str(exc)
        raise ValueError(f"judge answer unparseable after {self.retries + 1} tries: {problem}")

    def score(self, source, edited, instruction, *, seed):
        success, overediting, why_sc = self._ask(SC_PROMPT.format(instruction=instruction), [source, edited], seed)
        natural, artefacts, why_pq = self._ask(PQ_PROMPT, [edited], seed)
        return combine(min(success, overediting), min(natural, artefacts), f"SC: {why_sc} PQ: {why_pq}")

    def describe(self):
        return {**self.chat.describe(), "prompt_version": PROMPT_VERSION}
