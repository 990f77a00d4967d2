"""A batch on a real diffusion backend: mixed sizes, resume skips everything done."""

from __future__ import annotations

import pytest
from PIL import Image

from editlab.batch import read_manifest, run_batch
from editlab.editors import EDITORS, get_editor

pytestmark = pytest.mark.skipif("model" not in EDITORS, reason="the diffusion backends are not registered")


def test_batch_on_a_tiny_ip2p_model(tmp_path):
    from editlab.pipelines.tiny import save_tiny_pipeline

    editor = get_editor(str(save_tiny_pipeline(tmp_path / "tiny-ip2p")))
    (tmp_path / "in").mkdir()
    for k, size in enumerate([(32, 32), (48, 32), (32, 32)]):
        Image.new("RGB", size, (60 * k, 90, 30)).save(tmp_path / "in" / f"{k}.png")
    options = {"instruction": "make it snow", "batch_size": 2, "defaults": {"num_inference_steps": 2},
               "progress": False}
    run_batch(tmp_path / "in", tmp_path / "out", editor, **options)
    records = read_manifest(tmp_path / "out")
    assert {k: (r["status"], r["batch"]) for k, r in records.items()} == {"0": ("ok", 2), "1": ("ok", 1), "2": ("ok", 2)}
    assert Image.open(tmp_path / "out" / "1.png").size == (48, 32)
    before = {k: r["time"] for k, r in records.items()}
    run_batch(tmp_path / "in", tmp_path / "out", editor, **options)
    assert {k: r["time"] for k, r in read_manifest(tmp_path / "out").items()} == before  # all skipped
