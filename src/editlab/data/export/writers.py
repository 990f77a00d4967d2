"""Final shards: parquet in schema v1 (readable by `datasets` without editlab) and webdataset tars.

A webdataset sample is `<key>.source.png`, `<key>.edited.png`, `<key>.mask.png` (when there is a
mask) and `<key>.json` (instruction, task, turn, episode, scores, provenance, meta). Tar members
get a fixed mtime and owner so a rebuild gives the same bytes.
"""

from __future__ import annotations

import io
import json
import re
import tarfile

from editlab.data.sample import Sample
from editlab.data.schema import samples_to_parquet


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
    """A webdataset tar: members `<key>.<ext>`, grouped by key, extensions sorted (as webdataset's
    TarWriter writes them). Written with `tarfile` because importing webdataset imports torch, which
    costs seconds in every worker of a model-free job."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for sample in samples:
            key = webdataset_key(sample.id)
            members = {"source.png": sample.png("source"), "edited.png": sample.png("edited"),
                       "mask.png": sample.png("mask"),
                       "json": json.dumps(sample_record(sample), ensure_ascii=False).encode()}
            for ext in sorted(members):
                data = members[ext]
                if data is None:
                    continue
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size, info.mtime, info.mode = len(data), 0, 0o444
                info.uname = info.gname = "editlab"
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
