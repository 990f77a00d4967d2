"""Model-free stages: sources, template writers, multi-turn chaining, classic edits, toyworld, dedup, balance."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from editlab.data.sample import Sample
from editlab.data.stage import ShardContext
from editlab.data.stages import build_stage
from editlab.data.templates import find_objects, template_edit
from editlab.data.worker import keep_episodes_whole
from editlab.errors import EditlabError


def _ctx(start=0, stop=4, shard=0) -> ShardContext:
    return ShardContext(job_seed=0, stage_index=1, stage_name="t", shard=shard, num_shards=1, start=start, stop=stop,
                        prefix="t")


def _image(seed: int, size=(32, 32)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


# -- sources -------------------------------------------------------------------------------------
def test_caption_sources(tmp_path):
    builtin = build_stage({"stage": "captions"}).generate(_ctx())
    assert [s.id for s in builtin] == [f"t-{i:08d}" for i in range(4)]
    assert builtin[0].meta["input_caption"] == build_stage({"stage": "captions"}).generate(_ctx())[0].meta["input_caption"]
    path = tmp_path / "caps.jsonl"
    path.write_text("\n".join(json.dumps({"caption": f"a dog number {i}"}) for i in range(3)))
    rows = build_stage({"stage": "captions", "path": str(path)}).generate(_ctx(0, 10))
    assert [s.meta["input_caption"] for s in rows] == ["a dog number 0", "a dog number 1", "a dog number 2"]


def test_image_sources_from_a_folder_and_a_listing(tmp_path):
    for name, size in (("b.png", (100, 60)), ("a.jpg", (64, 64)), ("c.png", (20, 20))):
        _image(len(name), size).save(tmp_path / name)
    stage = build_stage({"stage": "images", "path": str(tmp_path), "resize": 40, "multiple_of": 8, "min_short_side": 30})
    rows = stage.generate(_ctx(0, 5))
    assert [s.meta["source_path"].rsplit("/", 1)[1] for s in rows] == ["a.jpg", "b.png", "c.png"]  # sorted
    assert rows[1].image("source").size == (64, 40)  # short side 40, then cropped to multiples of 8
    assert rows[2].status == "filtered" and "short side 20 < 30" in rows[2].error
    listing = tmp_path / "list.jsonl"
    listing.write_text(json.dumps({"image": "b.png", "caption": "a red thing"}) + "\n")
    rows = build_stage({"stage": "images", "path": str(listing), "resize": None, "multiple_of": 1}).generate(_ctx(0, 1))
    assert rows[0].meta["input_caption"] == "a red thing" and rows[0].image("source").size == (100, 60)


def test_parquet_listings_are_read_a_shard_at_a_time(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from editlab.data import build_dataset
    from editlab.data.stages.sources import open_rows

    for part in range(2):  # two files, row groups of 4 rows
        table = pa.table({"caption": [f"caption {part * 10 + i}" for i in range(10)]})
        pq.write_table(table, tmp_path / f"caps-{part}.parquet", row_group_size=4)
    pattern = str(tmp_path / "caps-*.parquet")
    assert len(open_rows(pattern)) == 20
    assert [r["caption"] for r in open_rows(pattern).slice(8, 13)] == [f"caption {i}" for i in (8, 9, 10, 11, 12)]
    rows = build_stage({"stage": "captions", "path": pattern}).generate(_ctx(18, 24))
    assert [s.meta["input_caption"] for s in rows] == ["caption 18", "caption 19"]
    # an editlab (or any HF) parquet dataset with image structs is a source of anchor images
    made = build_dataset("toyworld", n=6, shard_size=3, out=str(tmp_path / "tw"), progress=False)
    source = build_stage({"stage": "images", "path": str(tmp_path / "tw/data/*.parquet"), "image_column": "source_image",
                          "caption_column": "instruction", "resize": None, "multiple_of": 1})
    rows = source.generate(_ctx(0, made.rows))
    assert len(rows) == made.rows and all(r.ok for r in rows) and rows[0].image("source").size == (64, 64)
    assert rows[0].meta["input_caption"]


def test_demo_scenes_have_captions_and_boxes():
    rows = build_stage({"stage": "images", "demo_size": 64, "resize": None}).generate(_ctx(0, 2))
    meta = rows[0].meta
    assert meta["input_caption"].startswith("a photo of") and meta["objects"]
    assert all(0 <= v <= 1 for v in meta["objects"][0]["box"])


# -- template instruction writing ----------------------------------------------------------------
@pytest.mark.parametrize("task", ["style", "environment", "tone", "background", "color", "material", "replace",
                                  "remove", "add", "view", "zoom"])
def test_template_triples(task):
    edit = template_edit("a cat on a wooden table, photograph", np.random.default_rng(1), tasks=[task])
    assert edit["task"] == task and edit["instruction"] and edit["output_caption"]
    assert edit["output_caption"] != "a cat on a wooden table, photograph"
    if task in ("color", "material", "replace", "remove"):
        assert edit["object"] in ("cat", "table")


def test_find_objects_in_order():
    assert find_objects("A dog chasing two cats near a red car") == ["dog", "cat", "car"]


def test_writer_stages_with_the_template_backend(ctx):
    sample = Sample(id="t-0", meta={"input_caption": "a horse in a park"})
    out = build_stage({"stage": "caption-llm", "tasks": ["color"]}).process([sample], ctx)[0]
    assert out.ok and out.task == "color" and "horse" in out.instruction and "horse" in out.meta["output_caption"]
    missing = build_stage({"stage": "caption-llm"}).process([Sample(id="t-1")], ctx)[0]
    assert missing.status == "error" and "input caption" in missing.error
    grounded = Sample(id="t-2", meta={"input_caption": "a cat", "target": {"name": "cat", "box": [0, 0, 0.2, 0.3],
                                                                          "area": 0.03}})
    out = build_stage({"stage": "grounded-instruct", "tasks": ["remove"]}).process([grounded], ctx)[0]
    assert out.instruction == "remove the small cat at the top left" and out.meta["object"] == "cat"
    add = build_stage({"stage": "grounded-instruct", "tasks": ["add"]}).process([grounded.derive("t-3")], ctx)[0]
    assert add.task == "add" and add.meta["removal_caption"] and add.meta["object"] == "cat"


def test_writer_validates_settings():
    with pytest.raises(EditlabError, match="unknown task 'colour'"):
        build_stage({"stage": "caption-llm", "tasks": ["colour"]})
    with pytest.raises(EditlabError, match="needs model="):
        build_stage({"stage": "vlm-instruct", "backend": "openai"})


# -- multi-turn episodes, chained through a generator ----------------------------------------------
def _turn_one(i: int) -> Sample:
    return Sample(id=f"t-{i}", source=_image(i), instruction="make the photo black and white", task="tone",
                  meta={"input_caption": "a photo", "classic_op": "grayscale"})


@pytest.mark.parametrize("kind", ["backtracking", "memory"])
def test_multi_turn_episodes_chain_through_the_generator(ctx, kind):
    rows = build_stage({"stage": "multi-turn", "turns": 3, "kinds": [kind]}).process([_turn_one(0)], ctx)
    assert [(r.id, r.turn, r.episode_id) for r in rows] == [("t-0", 1, "t-0"), ("t-0-t2", 2, "t-0"),
                                                            ("t-0-t3", 3, "t-0")]
    assert all("classic_op" not in r.meta for r in rows[1:])  # turn 1's operation is not inherited
    made = build_stage({"stage": "classic-edit"}).process(rows, ctx)
    assert all(r.ok for r in made), [r.error for r in made]
    first, second, third = made
    assert second.png("source") == first.png("edited")  # turn 2 edits turn 1's output
    assert third.png("source") == second.png("edited")
    if kind == "backtracking":
        assert second.instruction in ("undo the last change", "go back to how it was before", "revert that last edit")
        assert second.png("edited") == first.png("source")  # undo = exactly the previous version
    else:
        assert second.meta["multi_turn_kind"] == "memory"


def test_multi_turn_fraction_and_dropped_turns(ctx):
    rows = build_stage({"stage": "multi-turn", "fraction": 0.0}).process([_turn_one(0)], ctx)
    assert len(rows) == 1 and rows[0].episode_id is None
    rows = build_stage({"stage": "multi-turn", "turns": 3}).process([_turn_one(1)], ctx)
    rows[1].reject("clip-filter", "too far")
    keep_episodes_whole(rows)
    assert [r.status for r in rows] == ["ok", "filtered", "filtered"]
    assert "turn 2 of this episode was dropped" in rows[2].error


def test_classic_edit_is_exact(ctx):
    sample = _turn_one(3)
    out = build_stage({"stage": "classic-edit"}).process([sample], ctx)[0]
    assert out.image("edited").tobytes() == ImageOps.grayscale(_image(3)).convert("RGB").tobytes()
    assert out.task == "tone" and out.instruction == "make the photo black and white"
    with pytest.raises(EditlabError, match="unknown ops"):
        build_stage({"stage": "classic-edit", "ops": ["sharpen"]})


# -- toyworld --------------------------------------------------------------------------------------
def test_toyworld_grammar_paraphrases_keep_the_images(ctx):
    source = build_stage({"stage": "toyworld", "tasks": ["color"], "width": 32, "height": 32}).generate(_ctx(0, 1))
    rendered = build_stage({"stage": "toyworld-render"}).process(source, ctx)
    rows = build_stage({"stage": "toyworld-grammar", "paraphrases": 2}).process(rendered, ctx)
    assert [r.id for r in rows] == ["t-00000000", "t-00000000-p1", "t-00000000-p2"]
    assert len({r.instruction for r in rows}) == 3 and len({r.meta["family"] for r in rows}) == 3
    assert all(r.png("edited") == rows[0].png("edited") for r in rows)


def test_toyworld_source_rejects_unknown_tasks():
    with pytest.raises(EditlabError, match="did you mean 'color'"):
        build_stage({"stage": "toyworld", "tasks": ["colour"]})


# -- dedup and balance ---------------------------------------------------------------------------
def test_dedup_plan_and_apply(ctx):
    stage = build_stage({"stage": "dedup"})
    a = Sample(id="a", source=_image(1), instruction="Make it red!")
    b = Sample(id="b", source=_image(1), instruction="make it red")  # same photo, same edit
    c = Sample(id="c", source=_image(1), instruction="make it blue")
    d = Sample(id="d", source=_image(2), instruction="make it red")
    plan = stage.plan([stage.summarize(s) for s in (a, b, c, d)], ctx)
    assert plan == {"duplicates": {"b": "a"}}
    out = stage.apply([a, b, c, d], plan, ctx)
    assert [s.status for s in out] == ["ok", "filtered", "ok", "ok"] and out[1].error == "dedup: duplicate of a"


def test_dedup_near_duplicates_by_hamming(ctx):
    stage = build_stage({"stage": "dedup", "max_hamming": 6})
    base = _image(5, (64, 64))
    noisy = Image.fromarray(np.clip(np.asarray(base, np.int16) + 3, 0, 255).astype(np.uint8))
    rows = [Sample(id="a", source=base, instruction="x"), Sample(id="b", source=noisy, instruction="x")]
    assert stage.plan([stage.summarize(s) for s in rows], ctx)["duplicates"] == {"b": "a"}


def _units(counts: dict[str, int]) -> list[Sample]:
    return [Sample(id=f"{task}-{i}", task=task) for task, n in counts.items() for i in range(n)]


@pytest.mark.parametrize("params, expected", [
    ({}, {"a": 4, "b": 4, "c": 4}),
    ({"weights": {"a": 2}}, {"a": 8, "b": 4, "c": 4}),
    ({"mode": "cap", "max_per_task": 5}, {"a": 5, "b": 4, "c": 5}),
    ({"min_per_task": 5}, {"a": 6, "b": 0, "c": 6}),
])
def test_balance_quotas(ctx, params, expected):
    stage = build_stage({"stage": "balance", **params})
    samples = _units({"a": 10, "b": 4, "c": 6})
    plan = stage.plan([stage.summarize(s) for s in samples], ctx)
    assert plan["targets"] == expected
    kept = [s.task for s in stage.apply(samples, plan, ctx) if s.ok]
    assert {t: kept.count(t) for t in expected} == expected


def test_balance_keeps_episodes_whole(ctx):
    stage = build_stage({"stage": "balance"})
    samples = [Sample(id=f"e{i}-t{t}", task="color" if t == 1 else "style", episode_id=f"e{i}", turn=t)
               for i in range(3) for t in (1, 2)] + _units({"remove": 1})
    plan = stage.plan([stage.summarize(s) for s in samples], ctx)
    assert plan["counts"] == {"color": 3, "remove": 1}  # an episode counts once, under its first turn's task
    out = stage.apply(samples, plan, ctx)
    kept_episodes = {s.episode_id for s in out if s.ok and s.episode_id}
    assert len(kept_episodes) == 1
    assert all(s.ok for s in out if s.episode_id in kept_episodes)
