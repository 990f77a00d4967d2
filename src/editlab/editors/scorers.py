"""Scorers for auto-guidance: CLIP trade-off, the toyworld oracle, a VLM judge.

Each has `name`, `score(source, output, instruction) -> float` (higher is better) and
`describe()` for provenance.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image

from editlab.errors import EditlabError


class ClipTradeoffScorer:
    """Edit strength vs faithfulness to the input, in CLIP space (the IP2P paper's two axes).

    score = directional similarity - penalty * max(0, min_image_similarity - image similarity)

    Directional similarity is cos(E(out) - E(in), E(out caption) - E(in caption)). Without
    captions (an instruction is all we have), the captions are `source_caption` and
    "`source_caption`, `instruction`", so the text direction is what the instruction adds.
    Image similarity is CLIP-I between input and output; below `min_image_similarity`
    (IP2P's filter used 0.7) the edit is penalised for drifting away from the input.
    The metrics are `editlab.metrics` (reference-checked preprocessing).
    """

    name = "clip"

    def __init__(
        self,
        encoder: Any = None,
        *,
        min_image_similarity: float = 0.7,
        penalty: float = 1.0,
        source_caption: str = "a photo",
    ):
        from editlab.metrics.encoders import resolve_encoder

        self.encoder = resolve_encoder(encoder, "clip")
        self.min_image_similarity = min_image_similarity
        self.penalty = penalty
        self.source_caption = source_caption

    def parts(self, source: Image.Image, output: Image.Image, instruction: str) -> dict[str, float]:
        from editlab.metrics.similarity import clip_directional_similarity, clip_image_similarity

        caption = f"{self.source_caption}, {instruction.strip().rstrip('.')}"
        direction = float(clip_directional_similarity([source], [output], [self.source_caption], [caption],
                                                      encoder=self.encoder)[0])
        image = float(clip_image_similarity([output], [source], encoder=self.encoder)[0])
        return {"directional": direction, "image": image}

    def score(self, source: Image.Image, output: Image.Image, instruction: str) -> float:
        parts = self.parts(source, output, instruction)
        return parts["directional"] - self.penalty * max(0.0, self.min_image_similarity - parts["image"])

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "encoder": self.encoder.describe(), "min_image_similarity": self.min_image_similarity,
                "penalty": self.penalty, "source_caption": self.source_caption,
                "formula": "clip_dir - penalty * max(0, min_image_similarity - clip_img)"}


class ToyworldOracleScorer:
    """The toyworld oracle, exact and model-free.

    With a ground-truth `example` (a toyworld `EditExample`, e.g. from a benchmark) it scores
    against that. Otherwise it reads the source picture back into a scene graph
    (`toyworld.parse_scene`) and the instruction into an edit (`toyworld.parse_instruction`),
    and verifies the output against the scene the edit must give (`Oracle.score_edit`).
    score = success + 0.1 * overall / 5 (success dominates; ImgEdit-style grades break ties).
    """

    name = "toyworld"

    def __init__(self, example: Any = None):
        try:
            from editlab import toyworld

            self._oracle = toyworld.Oracle()
        except (ImportError, AttributeError) as exc:
            raise EditlabError(f"the toyworld oracle is not available in this editlab ({exc}); "
                               "use --scorer clip or --scorer judge") from None
        self._toyworld = toyworld
        self.example = example
        if example is None:
            self._parser()  # fail before any edit is made, not after a whole sweep

    def _parser(self):
        try:
            return self._toyworld.parse_instruction
        except (ImportError, AttributeError) as exc:
            raise EditlabError(f"the toyworld instruction parser is not available yet ({exc}); "
                               "use --scorer clip or --scorer judge") from None

    def verdict(self, source: Image.Image, output: Image.Image, instruction: str):
        if self.example is not None:
            return self._oracle.score(self.example, output)
        parse_instruction = self._parser()
        scene = self._toyworld.parse_scene(source)
        edit = parse_instruction(instruction, scene)
        if edit is None:
            raise EditlabError(f"the toyworld oracle does not understand {instruction!r}; use --scorer clip")
        return self._oracle.score_edit(scene, edit, output, source_image=source)

    def score(self, source: Image.Image, output: Image.Image, instruction: str) -> float:
        verdict = self.verdict(source, output, instruction)
        return float(bool(verdict.success)) + 0.1 * float(verdict.overall) / 5.0

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "oracle": type(self._oracle).__name__, "ground_truth": self.example is not None,
                "formula": "success + 0.1 * overall / 5"}


class JudgeScorer:
    """A VLM judge from `editlab.judges` (e.g. viescore, imgedit); mean of its scores.

    A failed or unparseable answer scores NaN, which the sweep never picks.
    """

    name = "judge"

    def __init__(self, judge: str = "viescore", backend: str | None = None, **options: Any):
        from editlab.judges import get_judge

        self.judge = get_judge(judge, backend=backend, **options)

    def score(self, source: Image.Image, output: Image.Image, instruction: str) -> float:
        from editlab.judges import JudgeItem

        verdict = self.judge.judge([JudgeItem(source=source, output=output, instruction=instruction)])[0]
        if not verdict.scores:
            return math.nan
        return sum(verdict.scores.values()) / len(verdict.scores)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "judge": self.judge.describe(), "formula": "mean of the judge's scores"}
