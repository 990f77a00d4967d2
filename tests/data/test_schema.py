"""Samples, parquet shards (schema v1 + HF features) and webdataset tars."""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from editlab.data.export.writers import parquet_bytes, webdataset_bytes
from editlab.data.sample import Sample
from editlab.data.schema import V1_COLUMNS, arrow_schema, parquet_to_samples, samples_to_parquet


def _sample(i: int, mask: bool = True) -> Sample:
    rng = np.random.default_rng(i)
    source = Image.fromarray(rng.integers(0, 255, (8, 12, 3), dtype=np.uint8))
    return Sample(id=f"x-{i}", source=source, edited=source.transpose(Image.FLIP_LEFT_RIGHT),
                  mask=Image.new("L", (12, 8), 255) if mask else None, instruction="flip it", task="view",
                  turn=1, scores={"clip_image": 0.5}, provenance={"stages": [{"stage": "t"}]}, meta={"k": [1, 2]})


def test_schema_v1_columns_and_hf_features_match_datasets():
    import datasets

    schema = arrow_schema()
    assert schema.names == [name for name, _, _ in V1_COLUMNS]
    assert schema.names == ["id", "source_image", "edited_image", "mask", "instruction", "task", "turn", "episode_id",
                            "scores", "provenance", "meta"]
    features = datasets.Features.from_arrow_schema(schema)
    assert isinstance(features["source_image"], datasets.Image)
    assert isinstance(features["mask"], datasets.Image)
    assert features["turn"] == datasets.Value("int32")
    # our metadata is what datasets itself writes for these features
    assert datasets.Features(features).arrow_schema.metadata == schema.metadata


def test_round_trip_keeps_bytes_and_status():
    samples = [_sample(0), _sample(1, mask=False)]
    samples[1].reject("clip-filter", "too far")
    data = samples_to_parquet(samples, work=True, keep_rejected_images=False)
    back = parquet_to_samples(data)
    assert [s.id for s in back] == ["x-0", "x-1"]
    assert back[0].png("source") == samples[0].png("source")
    assert back[1].status == "filtered" and back[1].error == "clip-filter: too far"
    assert back[1].source is None  # rejected rows lose their images unless asked to keep them
    assert samples_to_parquet(back, work=True) == data  # untouched rows keep their exact bytes
    kept = parquet_to_samples(samples_to_parquet(samples, work=True, keep_rejected_images=True))
    assert kept[1].png("source") == samples[1].png("source")
    assert [s.id for s in parquet_to_samples(data, only_ok=True)] == ["x-0"]


def test_export_parquet_is_schema_v1_and_loads_with_datasets(tmp_path):
    import datasets

    path = tmp_path / "train-00000.parquet"
    path.write_bytes(parquet_bytes([_sample(0), _sample(1, mask=False)]))
    assert pq.read_schema(path).names == [name for name, _, _ in V1_COLUMNS]
    ds = datasets.load_dataset("parquet", data_files=[str(path)], split="train")
    row = ds[0]
    assert isinstance(row["source_image"], Image.Image) and row["source_image"].size == (12, 8)
    assert row["mask"].mode == "L" and ds[1]["mask"] is None
    assert json.loads(row["scores"]) == {"clip_image": 0.5}
    assert row["turn"] == 1 and row["episode_id"] is None


def test_webdataset_tar_reads_with_webdataset(tmp_path):
    wds = pytest.importorskip("webdataset")
    path = tmp_path / "train-00000.tar"
    data = webdataset_bytes([_sample(0), _sample(1, mask=False)])
    assert data == webdataset_bytes([_sample(0), _sample(1, mask=False)])  # reproducible bytes
    path.write_bytes(data)
    rows = list(wds.WebDataset(str(path), shardshuffle=False).decode("pil"))
    assert [r["__key__"] for r in rows] == ["x-0", "x-1"]
    assert set(rows[0]) >= {"source.png", "edited.png", "mask.png", "json"} and "mask.png" not in rows[1]
    assert rows[0]["json"]["instruction"] == "flip it" and rows[0]["source.png"].size == (12, 8)


def test_sample_image_decoding_is_lazy():
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    sample = Sample(id="a", source=buffer.getvalue())
    assert sample.png("source") == buffer.getvalue()
    assert sample.image("source").getpixel((0, 0)) == (255, 0, 0)
