"""Final shards: parquet in schema v1 (readable by `datasets` without editlab) and webdataset tars.

A webdataset sample is `<key>.source.png`, `<key>.edited.png`, `<key>.mask.png` (when there is a
mask) and `<key>.json` (instruction, task, turn, episode, scores, provenance, meta). Tar members
get a fixed mtime and owner so a rebuild gives the same bytes.
"""

from __future__ import annotations

import io
import json
import re

from editlab.data.sample import Sample
from editlab.data.schema import samples_to_parquet
from editlab.errors import require


def parquet_bytes(samples: list[Sample]) -> bytes:
    return samples_to_parquet(samples, work=False)


def webdataset_key(sample_id: str) -> str:
    # webdataset splits a member name at the first dot: keys must not contain one
    return re.sub(r"[^A-Za-z0-9_\-]", "_", sample_id)


def sample_record(sample: Sample) -> dict:
    return {"id": sample.id, "instruction": sample.instruction, "task": sample.task, "turn": sample.turn,
            "episode_id": sample.episode_id, "scores": sample.scores, "provenance": sample.provenance,
            "meta": sample.meta}


def webdataset_bytes(samples: list[Sample]) -> bytes:
    wds = require("webdataset", "data")
    buffer = io.BytesIO()
    with wds.TarWriter(buffer, encoder=False, mtime=0, user="editlab", group="editlab") as writer:
        for sample in samples:
            record = {"__key__": webdataset_key(sample.id), "source.png": sample.png("source"),
                      "edited.png": sample.png("edited"),
                      "json": json.dumps(sample_record(sample), ensure_ascii=False).encode()}
            mask = sample.png("mask")
            if mask is not None:
                record["mask.png"] = mask
            writer.write({k: v for k, v in record.items() if v is not None})
    return buffer.getvalue()
