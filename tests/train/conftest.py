"""Fixtures for the trainer's tests: tiny shards and a vocabulary file, built in code."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests import train_toydata (importlib import mode)

from train_toydata import WORDS, write_shard  # noqa: E402


@pytest.fixture
def vocab_file(tmp_path) -> Path:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(WORDS))
    return path


@pytest.fixture
def shard_dir(tmp_path) -> Path:
    write_shard(tmp_path / "shards" / "part-00000.parquet", 12)
    write_shard(tmp_path / "shards" / "part-00001.parquet", 8)
    return tmp_path / "shards"

