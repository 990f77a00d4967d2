"""VLM rubric judges: ImgEdit's 3-axis rubric, its hard-suite score, and VIEScore SC/PQ/O (GEdit-Bench).

The rules the original papers only *ask* the judge to follow are enforced here in code:
ImgEdit's quality and preservation are capped by adherence; the hard suite's score is capped at 3
when unedited areas were altered; VIEScore's O = sqrt(SC * PQ).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

from editlab.judges.backends import ChatBackend, get_backend
from editlab.judges.base import (
    AnswerFormatError,
    Judge,
    JudgeItem,
    RefusedAnswer,
    Verdict,
    load_prompt,
    parse_scores,
)


class RubricJudge(Judge):
    """Ask, parse strictly, retry; after `max_attempts` a Verdict with a failure and no scores."""

    prompts: tuple[str, ...] = ()

    def __init__(self, backend: ChatBackend | str, *, max_attempts: int = 3, concurrency: int | None = None,
                 **backend_options: Any):
        self.backend = get_backend(backend, **backend_options)
        self.max_attempts = max_attempts
        # HTTP endpoints answer several requests at once; local models and the dummy one at a time.
        self.concurrency = max(1, concurrency or (8 if self.backend.name == "openai" else 1))
        self._prompts = {name: load_prompt(name) for name in self.prompts}
        #: distinct (model version, fingerprint) the endpoint reported while judging: results.json
        self.served: list[dict[str, Any]] = []

    def describe(self) -> dict[str, Any]:
        return {
            "judge": self.name,
            "backend": self.backend.describe(),
            "prompts": {name: {"version": version, "sha256": hashlib.sha256(text.encode()).hexdigest()}
                        for name, (text, version) in self._prompts.items()},
            "max_attempts": self.max_attempts,
        }

    def ask(self, prompt_name: str, item: JudgeItem, images, ranges) -> tuple[dict | None, str | None, list[str], str | None]:
        """(scores, reason, raw answers, failure) for one prompt, with retries."""
        template, _ = self._prompts[prompt_name]
        prompt = template.format(instruction=item.instruction, task=item.task)
        answers: list[str] = []
        problem = "no attempt"
        for _ in range(self.max_attempts):
            try:
                answer = self.backend.chat(prompt, images)
            except RefusedAnswer as exc:
                answers.append(f"<refused: {exc}>")
                problem = f"refused ({exc})"
                continue
            except (ConnectionError, TimeoutError, OSError) as exc:
                answers.append(f"<error: {exc}>")
                problem = f"backend error ({exc})"
                continue
            answers.append(answer)
            if self.backend.last_served and self.backend.last_served not in self.served:
                self.served.append(dict(self.backend.last_served))
            try:
                scores, reason = parse_scores(answer, ranges)
                return scores, reason, answers, None
            except AnswerFormatError as exc:
                problem = f"unparseable answer ({exc})"
        return None, None, answers, f"{prompt_name}: {problem} after {self.max_attempts} attempts"

    def judge(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        verdicts: list[Verdict | None] = [None] * len(items)
        for index, verdict in self.judge_iter(items):
            verdicts[index] = verdict
        return verdicts  # type: ignore[return-value]

    def judge_iter(self, items: Sequence[JudgeItem]) -> Iterator[tuple[int, Verdict]]:
        if self.concurrency == 1 or len(items) == 1:
            for index, item in enumerate(items):
                yield index, self.judge_one(item)
            return
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="editlab-judge") as pool:
            futures = {pool.submit(self.judge_one, item): index for index, item in enumerate(items)}
            for future in as_completed(futures):
                yield futures[future], future.result()

    def judge_one(self, item: JudgeItem) -> Verdict:
        raise NotImplementedError


class ImgEditJudge(RubricJudge):
    """ImgEdit-Bench basic suite: adherence / quality / preservation (1-5), case score = their mean."""

    name = "imgedit"
    prompts = ("imgedit_v1",)
    score_keys = ("imgedit_adherence", "imgedit_quality", "imgedit_preservation", "imgedit_score")

    def judge_one(self, item: JudgeItem) -> Verdict:
        ranges = {"adherence": (1, 5), "quality": (1, 5), "preservation": (1, 5)}
        scores, reason, answers, failure = self.ask("imgedit_v1", item, [item.source, item.output], ranges)
        if scores is None:
            return Verdict(None, failure, answers, len(answers))
        adherence = scores["adherence"]
        quality, preservation = min(scores["quality"], adherence), min(scores["preservation"], adherence)
        return Verdict(
            {"imgedit_adherence": adherence, "imgedit_quality": quality, "imgedit_preservation": preservation,
             "imgedit_score": (adherence + quality + preservation) / 3},
            None, answers, len(answers), {"raw_scores": scores, "reason": reason},
        )


class ImgEditHardJudge(RubricJudge):
    """ImgEdit-Bench hard (understand-ground-edit) suite: one 1-5 score, capped at 3 if unedited areas changed."""

    name = "imgedit-hard"
    prompts = ("imgedit_hard_v1",)
    score_keys = ("imgedit_hard_score",)

    def judge_one(self, item: JudgeItem) -> Verdict:
        ranges = {"score": (1, 5), "unedited_changed": (0, 1)}
        scores, reason, answers, failure = self.ask("imgedit_hard_v1", item, [item.source, item.output], ranges)
        if scores is None:
            return Verdict(None, failure, answers, len(answers))
        value = min(scores["score"], 3) if scores["unedited_changed"] else scores["score"]
        return Verdict({"imgedit_hard_score": value}, None, answers, len(answers),
                       {"raw_scores": scores, "reason": reason})


class VIEScoreJudge(RubricJudge):
    """VIEScore as GEdit-Bench uses it: SC = min(success, no over-editing), PQ = min(naturalness,
    no artefacts), both 0-10; O = sqrt(SC * PQ). Two calls per sample; either failing fails the sample."""

    name = "viescore"
    prompts = ("viescore_sc_v1", "viescore_pq_v1")
    score_keys = ("SC", "PQ", "O")

    def judge_one(self, item: JudgeItem) -> Verdict:
        sc, sc_reason, sc_answers, sc_failure = self.ask(
            "viescore_sc_v1", item, [item.source, item.output], {"editing_success": (0, 10), "overediting": (0, 10)})
        pq, pq_reason, pq_answers, pq_failure = self.ask(
            "viescore_pq_v1", item, [item.output], {"naturalness": (0, 10), "artifacts": (0, 10)})
        answers = sc_answers + pq_answers
        if sc is None or pq is None:
            return Verdict(None, "; ".join(f for f in (sc_failure, pq_failure) if f), answers, len(answers))
        sc_value = min(sc["editing_success"], sc["overediting"])
        pq_value = min(pq["naturalness"], pq["artifacts"])
        return Verdict({"SC": sc_value, "PQ": pq_value, "O": math.sqrt(sc_value * pq_value)}, None, answers,
                       len(answers), {"raw_scores": {**sc, **pq}, "reasons": [sc_reason, pq_reason]})
