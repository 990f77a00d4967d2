"""Fixtures for the dataset-generation tests: small jobs in temp folders, tiny models only."""

from __future__ import annotations

import pytest

#: thresholds that let tiny random models' pairs through (their scores are meaningless)
LOOSE = {
    "clip-filter": {"min_caption_image": None, "min_direction": None, "min_image_image": None},
    "dino-filter": {"min_similarity": None},
    "grounding": {"min_area": 0.0, "max_area": 1.0, "box_threshold": 0.0},
    "judge-filter": {"min_score": None},
}


def loose_for(preset: str) -> dict:
    from editlab.data import load_preset

    names = {entry["stage"] for entry in load_preset(preset)["stages"]}
    return {name: values for name, values in LOOSE.items() if name in names}


@pytest.fixture
def ctx():
    from editlab.data.stage import ShardContext

    return ShardContext(job_seed=0, stage_index=1, stage_name="test", shard=0, num_shards=1, start=0, stop=4,
                        prefix="t")
