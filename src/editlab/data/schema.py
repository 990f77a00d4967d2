"""Arrow schemas: the exported dataset (shard schema v1, docs/architecture.md) and stage shards.

Exported parquet files carry Hugging Face `datasets` feature metadata, so
`datasets.load_dataset("parquet", data_files=...)` decodes the image columns to PIL without
editlab. Stage shards use the same columns plus `group`, `status` and `error`.
"""

from __future__ import annotations

import io
import json
from typing import Any

from editlab.data.sample import Sample
from editlab.errors import require

SCHEMA_VERSION = 1

#: (column, arrow type name, HF feature) in schema-v1 order.
V1_COLUMNS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("id", "string", {"dtype": "string", "_type": "Value"}),
    ("source_image", "image", {"_type": "Image"}),
    ("edited_image", "image", {"_type": "Image"}),
    ("mask", "image", {"_type": "Image"}),
    ("instruction", "string", {"dtype": "string", "_type": "Value"}),
    ("task", "string", {"dtype": "string", "_type": "Value"}),
    ("turn", "int32", {"dtype": "int32", "_type": "Value"}),
    ("episode_id", "string", {"dtype": "string", "_type": "Value"}),
    ("scores", "string", {"dtype": "string", "_type": "Value"}),
    ("provenance", "string", {"dtype": "string", "_type": "Value"}),
    ("meta", "string", {"dtype": "string", "_type": "Value"}),
)
WORK_COLUMNS: tuple[tuple[str, str, dict[str, str]], ...] = V1_COLUMNS + (
    ("group", "string", {"dtype": "string", "_type": "Value"}),
    ("status", "string", {"dtype": "string", "_type": "Value"}),
    ("error", "string", {"dtype": "string", "_type": "Value"}),
)
_IMAGE_COLUMN = {"source": "source_image", "edited": "edited_image", "mask": "mask"}


def _arrow_type(pa, name: str):
    if name == "image":
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return {"string": pa.string(), "int32": pa.int32()}[name]


def arrow_schema(columns=V1_COLUMNS):
    """The pyarrow schema with HF feature metadata (`{"info": {"features": ...}}`)."""
    pa = require("pyarrow", "data")
    features = {name: feature for name, _, feature in columns}
    schema = pa.schema([(name, _arrow_type(pa, kind)) for name, kind, _ in columns])
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def sample_to_row(sample: Sample, *, work: bool, keep_images: bool = True) -> dict[str, Any]:
    row: dict[str, Any] = {"id": sample.id}
    for name, column in _IMAGE_COLUMN.items():
        data = sample.png(name) if keep_images else None
        row[column] = None if data is None else {"bytes": data, "path": None}
    row.update(instruction=sample.instruction, task=sample.task, turn=int(sample.turn),
               episode_id=sample.episode_id, scores=_dumps(sample.scores),
               provenance=_dumps(sample.provenance), meta=_dumps(sample.meta))
    if work:
        row.update(group=sample.group, status=sample.status, error=sample.error)
    return row


def row_to_sample(row: dict[str, Any]) -> Sample:
    images = {name: (row.get(column) or {}).get("bytes") for name, column in _IMAGE_COLUMN.items()}
    return Sample(
        id=row["id"], instruction=row.get("instruction") or "", task=row.get("task") or "unknown",
        turn=int(row.get("turn") or 1), episode_id=row.get("episode_id"), group=row.get("group"),
        scores=json.loads(row.get("scores") or "{}"), provenance=json.loads(row.get("provenance") or "{}"),
        meta=json.loads(row.get("meta") or "{}"), status=row.get("status") or "ok", error=row.get("error"),
        **images,
    )


def samples_to_parquet(samples: list[Sample], *, work: bool, keep_rejected_images: bool = True) -> bytes:
    """Serialise samples to parquet bytes (deterministic for the same samples)."""
    pa = require("pyarrow", "data")
    pq = require("pyarrow.parquet", "data")
    columns = WORK_COLUMNS if work else V1_COLUMNS
    rows = [sample_to_row(s, work=work, keep_images=keep_rejected_images or s.ok) for s in samples]
    table = pa.Table.from_pylist(rows, schema=arrow_schema(columns))
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def parquet_to_samples(data: bytes, *, only_ok: bool = False) -> list[Sample]:
    pq = require("pyarrow.parquet", "data")
    rows = pq.read_table(io.BytesIO(data)).to_pylist()
    samples = [row_to_sample(row) for row in rows]
    return [s for s in samples if s.ok] if only_ok else samples
