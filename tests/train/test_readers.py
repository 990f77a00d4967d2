import io
import json

import pytest

pytest.importorskip("datasets")

from train_toydata import _png, toy_pair, write_shard  # noqa: E402

from editlab.errors import EditlabError  # noqa: E402
from editlab.train.readers import COLUMN_PRESETS, detect_format, open_source, open_sources  # noqa: E402


def test_editlab_shards_schema_v1(shard_dir, tmp_path):
    source = open_source(str(shard_dir), cache_dir=str(tmp_path / "hf"))
    assert detect_format(str(shard_dir)) == "editlab"
    assert len(source) == 20
    example = source.example(1)
    assert example.source.size == (32, 32) and example.target.mode == "RGB"
    assert example.mask is not None and example.mask.mode == "L"
    assert source.example(0).mask is None  # null mask column = free-form example
    assert example.instruction.startswith("make the square")
    assert source.task(0) == "color" and source.task(1) == "style"
    assert source.size(3) == (32, 32)


def _magicbrush_dataset(n=4):
    import datasets

    rows = {"img_id": [], "turn_index": [], "source_img": [], "mask_img": [], "instruction": [], "target_img": []}
    for i in range(n):
        source, target, mask, instruction, _ = toy_pair(i)
        rows["img_id"].append(str(100 + i))
        rows["turn_index"].append(1 + i % 2)
        rows["source_img"].append(source)
        rows["mask_img"].append(mask.convert("RGB"))
        rows["instruction"].append(instruction)
        rows["target_img"].append(target)
    features = datasets.Features({"img_id": datasets.Value("string"), "turn_index": datasets.Value("int32"),
                                  "source_img": datasets.Image(), "mask_img": datasets.Image(),
                                  "instruction": datasets.Value("string"), "target_img": datasets.Image()})
    return datasets.Dataset.from_dict(rows, features=features)


def test_hf_dataset_with_preset_columns(tmp_path):
    _magicbrush_dataset().save_to_disk(str(tmp_path / "mb"))
    source = open_source(str(tmp_path / "mb"), column_preset="magicbrush")
    example = source.example(1)
    assert example.id.endswith(":101") and example.turn == 2
    assert example.target.size == (32, 32) and example.mask.mode == "L"


def test_hf_dataset_with_column_map_and_omniedit_prompt_lists(tmp_path):
    import datasets

    source_img, target, _, _, _ = toy_pair(0)
    ds = datasets.Dataset.from_dict(
        {"a": [source_img], "b": [target], "prompts": [["make it red", "turn it red"]], "task": ["object swap"]},
        features=datasets.Features({"a": datasets.Image(), "b": datasets.Image(),
                                    "prompts": datasets.List(datasets.Value("string")), "task": datasets.Value("string")}))
    ds.save_to_disk(str(tmp_path / "omni"))
    source = open_source(str(tmp_path / "omni"), column_map={"source": "a", "edited": "b", "instruction": "prompts",
                                                             "task": "task"})
    assert source.example(0).instruction == "make it red"
    assert source.task(0) == "replace"  # OmniEdit's "object swap" in editlab's taxonomy


def test_missing_columns_say_how_to_map(tmp_path):
    _magicbrush_dataset().save_to_disk(str(tmp_path / "mb"))
    with pytest.raises(EditlabError, match="--column_map"):
        open_source(str(tmp_path / "mb"), column_map={"source": "source_img"})
    with pytest.raises(EditlabError, match="did you mean 'magicbrush'"):
        open_source(str(tmp_path / "mb"), column_preset="magicbrsh")


def test_presets_cover_the_fields_datasets():
    for name in ("ip2p", "magicbrush", "ultraedit", "omniedit", "editlab"):
        assert {"source", "edited", "instruction"} <= set(COLUMN_PRESETS[name])
    assert COLUMN_PRESETS["ip2p"]["source"] == "original_image"
    assert COLUMN_PRESETS["magicbrush"]["edited"] == "target_img"


def test_webdataset_tars(tmp_path):
    webdataset = pytest.importorskip("webdataset")
    path = tmp_path / "shard-000000.tar"
    with webdataset.TarWriter(str(path)) as sink:
        for i in range(5):
            source, target, mask, instruction, task = toy_pair(i, (48, 32))
            sink.write({"__key__": f"ex{i:05d}", "source.png": _png(source), "edited.png": _png(target),
                        "mask.png": _png(mask), "json": json.dumps({"instruction": instruction, "task": task,
                                                                   "id": f"ex{i}"}).encode()})
    source = open_source(str(tmp_path / "*.tar"))
    assert len(source) == 5
    example = source.example(2)
    assert example.source.size == (48, 32) and example.mask.mode == "L"
    assert example.instruction == toy_pair(2)[3] and source.task(2) == toy_pair(2)[4]
    assert source.size(0) == (48, 32)


def test_concatenated_sources_and_limits(shard_dir, tmp_path):
    write_shard(tmp_path / "more" / "p.parquet", 3)
    source = open_sources([str(shard_dir), str(tmp_path / "more")], cache_dir=str(tmp_path / "hf"))
    assert len(source) == 23 and source.example(22).instruction
    limited = open_sources([str(shard_dir)], max_examples=5, cache_dir=str(tmp_path / "hf"))
    assert len(limited) == 5


def test_missing_paths_are_clear(tmp_path):
    with pytest.raises(EditlabError, match="webdataset"):
        open_source(str(tmp_path / "nothing-*.tar"), data_format="webdataset")
    with pytest.raises(EditlabError, match="parquet"):
        open_source(str(tmp_path / "none.parquet"), data_format="editlab")
    assert io  # keep import
