"""Fixtures for the dataset-generation tests: small jobs in temp folders, tiny models only."""

from __future__ import annotations

import pytest


@pytest.fixture
def ctx():
    from editlab.data.stage import ShardContext

    return ShardContext(job_seed=0, stage_index=1, stage_name="test", shard=0, num_shards=1, start=0, stop=4,
                        prefix="t")
