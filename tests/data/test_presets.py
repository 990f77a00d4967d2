"""Every preset runs end to end on tiny random models and writes a well-formed dataset; the toyworld
preset's dataset is read by the trainer."""

from __future__ import annotations

import json

import pytest

from editlab.data import build_dataset, list_presets, load_preset
from editlab.data.stages import build_stage

PAPER_PRESETS = ["ip2p", "ultraedit-freeform", "ultraedit-region", "imgedit", "multiedit", "omniedit", "toyworld"]


def test_every_paper_has_a_preset_and_presets_are_valid():
    assert set(PAPER_PRESETS) <= set(list_presets())
    for name in list_presets():
        preset = load_preset(name)
        assert preset["description"] and preset["reference"]
        for entry in preset["stages"]:
            build_stage(entry)  # parameters exist and validate


def test_preset_numbers_follow_the_papers():
    def stage(preset, name):
        return next(s for s in load_preset(preset)["stages"] if s["stage"] == name)

    clip = stage("ip2p", "clip-filter")
    assert (clip["min_caption_image"], clip["min_direction"], clip["min_image_image"], clip["top_k"]) == (0.2, 0.2, 0.7, 4)
    p2p = stage("ip2p", "prompt-to-prompt")
    assert (p2p["p_min"], p2p["p_max"], p2p["candidates"]) == (0.1, 0.9, 100)
    assert stage("ultraedit-freeform", "clip-filter")["min_image_image"] == 0.75
    assert stage("ultraedit-region", "clip-filter")["min_image_image"] == 0.7
    assert stage("ultraedit-region", "clip-filter")["min_direction"] == 0.22
    assert stage("ultraedit-region", "dino-filter")["min_similarity"] == 0.4
    grounding = stage("ultraedit-region", "grounding")
    assert (grounding["box_threshold"], grounding["text_threshold"], grounding["max_area"]) == (0.3, 0.25, 0.9)
    assert stage("imgedit", "grounding")["max_area"] == 0.6 and stage("imgedit", "judge-filter")["mode"] == "score"
    assert stage("omniedit", "judge-filter")["mode"] == "importance"
    inpaint = stage("ultraedit-region", "inpaint-region")
    assert (inpaint["soft_low"], inpaint["soft_high"], inpaint["blend_every"]) == (0.1, 0.8, 2)


@pytest.mark.parametrize("preset", PAPER_PRESETS)
def test_preset_runs_end_to_end_on_tiny_models(tmp_path, preset):
    import datasets
    import webdataset as wds

    # --tiny: tiny random models, and filters rank without thresholding (random scores mean nothing)
    result = build_dataset(preset, n=3, shard_size=3, out=str(tmp_path), tiny=True, progress=False, seed=1)
    assert result.rows > 0, json.dumps(result.stats["stages"], indent=1)[:2000]
    ds = datasets.load_dataset("parquet", data_files=result.data_files, split="train")
    assert len(ds) == result.rows and ds[0]["source_image"].size == ds[0]["edited_image"].size
    assert all(ds[i]["instruction"] for i in range(len(ds)))
    assert len(list(wds.WebDataset(result.webdataset_files, shardshuffle=False))) == result.rows
    card = (tmp_path / "dataset_card.md").read_text()
    assert "tiny random models" in card and "### Models" in card and "### Thresholds" in card
    stages = result.stats["stages"]
    assert all(s["pass_rate"] is not None for s in stages[1:])


def test_toyworld_preset_is_what_the_trainer_reads(tmp_path):
    from editlab.train.readers import open_sources

    result = build_dataset("toyworld", n=30, shard_size=15, out=str(tmp_path), progress=False)
    import datasets

    source = open_sources([str(tmp_path / "data")])
    assert len(source) == result.rows
    example = source.example(0)
    assert example.source.size == (64, 64) and example.target.size == (64, 64) and example.mask is not None
    assert example.instruction and example.task in result.stats["tasks"]
    ds = datasets.load_dataset("parquet", data_files=result.data_files, split="train")
    single = [row["task"] for row in ds.select_columns(["task", "episode_id"]) if row["episode_id"] is None]
    counts = {task: single.count(task) for task in set(single)}
    assert len(counts) == 15 and max(counts.values()) - min(counts.values()) <= 1  # balanced
    assert result.stats["episodes"] > 0 and set(result.stats["turns"]) >= {"1", "2"}


def test_the_trainer_trains_on_a_toyworld_dataset(tmp_path):
    pytest.importorskip("accelerate")
    from pathlib import Path

    from editlab.cli.main import main

    data = build_dataset("toyworld", n=24, shard_size=12, out=str(tmp_path / "data"), progress=False,
                         toyworld={"width": 32, "height": 32})
    config = Path(__file__).parents[2] / "configs" / "train" / "tiny.yaml"
    if not config.exists():
        pytest.skip("the trainer's tiny config is not in this checkout")
    code = main(["train", "--config", str(config), "--data", str(tmp_path / "data" / "data"), "--max_steps", "2",
                 "--checkpoint_every", "100", "--log_every", "1", "--output_dir", str(tmp_path / "run")])
    assert code == 0 and data.rows > 0
    assert (tmp_path / "run" / "model").is_dir()
