"""`dedup`: drop repeated pairs across the whole dataset (a global stage).

The key is the perceptual hash of the source image plus the normalised instruction (lower case,
no punctuation), so the same photo may carry several different edits but not the same one twice.
`max_hamming > 0` also catches near-identical sources. The first occurrence in shard order wins;
a multi-turn episode is kept or dropped as a whole (keyed by its first turn).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from editlab.data.imagehash import hamming, phash
from editlab.data.sample import Sample
from editlab.data.stage import GlobalStage, ShardContext
from editlab.errors import EditlabError

KEYS = ("source+instruction", "source", "instruction", "source+edited")


def normalise_instruction(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@dataclass
class Dedup(GlobalStage):
    """Drop repeats: perceptual hash of the source + normalised instruction; first one wins."""

    name = "dedup"
    key: str = "source+instruction"
    max_hamming: int = 0

    def __post_init__(self) -> None:
        if self.key not in KEYS:
            raise EditlabError(f"dedup: key={self.key!r}; use one of {', '.join(KEYS)}")

    def thresholds(self):
        return {"key": self.key, "max Hamming distance": self.max_hamming}

    def summarize(self, sample: Sample) -> dict[str, Any]:
        row: dict[str, Any] = {"id": sample.id, "unit": sample.episode_id or sample.id, "turn": sample.turn}
        if "source" in self.key:
            row["source"] = phash(sample.image("source"))
        if "edited" in self.key:
            row["edited"] = phash(sample.image("edited"))
        if "instruction" in self.key:
            row["text"] = normalise_instruction(sample.instruction)
        return row

    def plan(self, summaries: list[dict[str, Any]], ctx: ShardContext) -> dict[str, Any]:
        units: dict[str, dict[str, Any]] = {}
        for row in summaries:  # a unit is keyed by its first turn
            if row["unit"] not in units or row["turn"] < units[row["unit"]]["turn"]:
                units[row["unit"]] = row
        seen: dict[tuple, str] = {}
        by_text: dict[str, list[tuple[int, str]]] = {}
        duplicates: dict[str, str] = {}
        for unit, row in units.items():
            exact = (row.get("source"), row.get("edited"), row.get("text"))
            if exact in seen:
                duplicates[unit] = seen[exact]
                continue
            if self.max_hamming and "source" in row:
                bucket = by_text.setdefault(row.get("text", ""), [])
                match = next((first for h, first in bucket if hamming(h, row["source"]) <= self.max_hamming), None)
                if match is not None:
                    duplicates[unit] = match
                    continue
                bucket.append((row["source"], unit))
            seen[exact] = unit
        return {"duplicates": duplicates}

    def apply(self, samples: list[Sample], plan: dict[str, Any], ctx: ShardContext) -> list[Sample]:
        duplicates = plan["duplicates"]
        for sample in samples:
            first = duplicates.get(sample.episode_id or sample.id)
            if first is not None:
                sample.reject(self.name, f"duplicate of {first}")
        return samples
