"""Loaders of the field's benchmarks on tiny fake data in each benchmark's own layout."""

from __future__ import annotations

import json

import pytest
from bench_helpers import random_image, solid

from editlab.bench.harness import run_benchmark
from editlab.bench.suites import BENCHMARKS, get_benchmark
from editlab.errors import EditlabError
from editlab.judges import DummyBackend


def test_every_yaml_declares_version_loader_and_assumptions():
    for name in BENCHMARKS.names():
        bench = get_benchmark(name, data="/nonexistent")
        info = bench.describe()
        assert info["version"] >= 1 and bench.spec.loader and bench.spec.assumptions, name
        assert bench.spec.naming and bench.spec.licence, name


def test_unknown_option_is_a_did_you_mean_error():
    with pytest.raises(EditlabError, match="did you mean 'setting'"):
        get_benchmark("magicbrush", options={"settings": "all-turn"})


def _save_dataset(rows, path):
    import datasets

    datasets.Dataset.from_list(rows).save_to_disk(str(path))
    return str(path)


def test_emu_edit_reference_is_the_input_and_caption_problems_are_recorded(tmp_path, tiny_clip):
    rows = [
        {"idx": i, "instruction": f"edit {i}", "image": random_image(i, (24, 24)), "task": task, "split": "test",
         "hash": str(i), "input_caption": "a cat", "output_caption": out}
        for i, (task, out) in enumerate([("add", "a cat with a hat"), ("style", "a cat"), ("global", "")])
    ]
    data = _save_dataset(rows, tmp_path / "emu")
    results = run_benchmark("identity", "emu-edit", data=data, out=tmp_path / "run", metrics=["l1", "clip_out"],
                            encoders={"clip": tiny_clip}, print_table=False, progress=False)
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    assert records["0"]["scores"]["l1"] == 0.0  # identity vs the input image
    assert records["1"]["skipped"]["clip_out"] == "input and output captions are identical"
    assert records["2"]["skipped"]["clip_out"] == "missing caption"
    assert results["references"]["l1"] == "source"
    assert results["config"]["benchmark"]["options"]["caption_issues"] == "skip"
    dropped = get_benchmark("emu-edit", data=data, options={"caption_issues": "drop"}).samples()
    assert [s.id for s in dropped] == ["0"]


def test_emu_generations_set_swaps_split_names(tmp_path):
    bench = get_benchmark("emu-edit", data="facebook/emu_edit_test_set_generations")
    assert bench.loader.split() == "validation"
    assert get_benchmark("emu-edit").loader.split() == "test"


def test_gedit_one_run_gives_en_cn_full_and_intersection_tables(tmp_path):
    rows = []
    for i, (task, lang, inter) in enumerate([("subject-add", "en", True), ("subject-add", "cn", True),
                                             ("color_alter", "en", False), ("color_alter", "en", True)]):
        rows.append({"key": f"k{i}", "task_type": task, "instruction": f"do {i}", "instruction_language": lang,
                     "input_image": random_image(i, (20, 20)), "input_image_raw": random_image(i, (40, 40)),
                     "Intersection_exist": inter})
    data = _save_dataset(rows, tmp_path / "gedit")
    bench = get_benchmark("gedit", data=data)
    samples = bench.samples()
    # Step1X-Edit's layout: <model>/fullset/<task_type>/<language>/<key>.png
    assert [s.output_name for s in samples] == ["fullset/subject-add/en/k0", "fullset/subject-add/cn/k1",
                                                "fullset/color_alter/en/k2", "fullset/color_alter/en/k3"]
    assert samples[2].tables == ("en/full",) and samples[3].tables == ("en/full", "en/intersection")
    assert len(get_benchmark("gedit", data=data, options={"subset": "intersection"}).samples()) == 3
    assert len(get_benchmark("gedit", data=data, options={"language": "en"}).samples()) == 3
    answers = ['{"editing_success": 9, "overediting": 4}', '{"naturalness": 9, "artifacts": 9}',
               '{"editing_success": 1, "overediting": 8}', '{"naturalness": 4, "artifacts": 9}']
    results = run_benchmark("identity", bench, out=tmp_path / "run", judge_backend=DummyBackend(answers),
                            print_table=False, progress=False, batch_size=1)
    # answers cycle, two calls per sample: k0 and k2 get SC=min(9,4)=4, PQ=9; k1 and k3 get SC=1, PQ=4
    sc = {"k0": 4, "k1": 1, "k2": 4, "k3": 1}
    pq = {"k0": 9, "k1": 4, "k2": 9, "k3": 4}
    task = {"k0": "subject-add", "k1": "subject-add", "k2": "color_alter", "k3": "color_alter"}
    members = {"en/full": ["k0", "k2", "k3"], "en/intersection": ["k0", "k3"], "cn/full": ["k1"],
               "cn/intersection": ["k1"]}
    assert list(results["tables"]) == list(members) and results["split"]["name"] == "test"
    for name, keys in members.items():
        by_task = {}
        for key in keys:
            by_task.setdefault(task[key], []).append(key)
        expected_sc = sum(sum(sc[k] for k in ks) / len(ks) for ks in by_task.values()) / len(by_task)
        expected_o = sum(sum((sc[k] * pq[k]) ** 0.5 for k in ks) / len(ks) for ks in by_task.values()) / len(by_task)
        scores = results["tables"][name]["overall"]["scores"]
        assert scores["SC"] == pytest.approx(expected_sc) and scores["O"] == pytest.approx(expected_o), name
    assert results["overall"] == results["tables"]["en/full"]["overall"]
    assert (tmp_path / "run" / "outputs" / "fullset" / "color_alter" / "en" / "k3.png").exists()


def _make_imgedit(root):
    (root / "singleturn" / "animal").mkdir(parents=True)
    entries = {}
    for i, edit_type in enumerate(["add", "add", "remove", "style"]):
        random_image(i, (24, 24)).save(root / "singleturn" / "animal" / f"{i}.jpg")
        entries[str(i + 1)] = {"id": f"animal/{i}.jpg", "prompt": f"{edit_type} something", "edit_type": edit_type}
    (root / "basic_edit.json").write_text(json.dumps(entries))
    (root / "multiturn" / "backtracking").mkdir(parents=True)
    random_image(9, (24, 24)).save(root / "multiturn" / "backtracking" / "m.png")
    (root / "multiturn" / "backtracking" / "annotation.json").write_text(json.dumps(
        {"id": "m.png", "turn1": "add a cat", "turn2": "make it red", "turn3": "undo the last change"}) + "\n")
    (root / "hard").mkdir()
    random_image(8, (24, 24)).save(root / "hard" / "000029784.jpg")
    (root / "hard" / "annotation.jsonl").write_text(json.dumps({"id": "000029784.jpg", "prompt": "fix the sign"}) + "\n")
    return str(root.parent)  # --data may be Benchmark/ or its parent


class CountingBackend(DummyBackend):
    pass


def test_imgedit_type_means_failures_and_cached_judge_calls(tmp_path):
    data = _make_imgedit(tmp_path / "Benchmark")
    good = '{"adherence": 4, "quality": 5, "preservation": 2}'
    # sample 3 (remove) gets garbage three times -> a counted failure, never a score
    answers = [good, good, "garbage", "garbage", "garbage", '{"adherence": 2, "quality": 2, "preservation": 2}']
    backend = CountingBackend(answers)
    results = run_benchmark("identity", "imgedit", data=data, out=tmp_path / "run", judge_backend=backend,
                            options={"suite": "basic"}, print_table=False, progress=False, batch_size=1)
    assert backend.calls == 6
    assert results["failures"]["count"] == 1 and results["failures"]["by_stage"] == {"judge:imgedit": 1}
    assert results["tasks"]["remove"]["n"] == 1 and results["tasks"]["remove"]["scores"] == {}
    add_score = (4 + 4 + 2) / 3  # quality capped by adherence
    assert results["tasks"]["add"]["scores"]["imgedit_score"] == pytest.approx(add_score)
    assert results["overall"]["scores"]["imgedit_score"] == pytest.approx((add_score + 2.0) / 2)
    again = run_benchmark("identity", "imgedit", data=data, out=tmp_path / "run", judge_backend=backend,
                          options={"suite": "basic"}, print_table=False, progress=False, batch_size=1)
    assert backend.calls == 6 and again["overall"] == results["overall"]
    retried = run_benchmark("identity", "imgedit", data=data, out=tmp_path / "run", judge_backend=backend,
                            options={"suite": "basic"}, retry_failed=True, print_table=False, progress=False, batch_size=1)
    assert backend.calls == 7  # only the failed sample was asked again (and the next canned answer is good)
    assert retried["failures"]["count"] == 0 and retried["tasks"]["remove"]["scores"]["imgedit_adherence"] == 4
    # a second output folder sharing the cache asks the judge nothing new
    shared = run_benchmark("identity", "imgedit", data=data, out=tmp_path / "other", judge_backend=backend,
                           options={"suite": "basic"}, cache=tmp_path / "run" / "cache.sqlite", print_table=False, progress=False, batch_size=1)
    assert backend.calls == 7 and shared["overall"] == retried["overall"]


def test_imgedit_multiturn_chains_turns_and_runs_without_a_judge(tmp_path):
    data = _make_imgedit(tmp_path / "Benchmark")
    results = run_benchmark("identity", "imgedit", data=data, options={"suite": "multiturn"}, out=tmp_path / "run",
                            print_table=False, progress=False)
    assert results["config"]["judges"] == [] and results["n_samples"] == 3
    assert (tmp_path / "run" / "outputs" / "multiturn" / "backtracking" / "m_turn3.png").exists()
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert [r["input_from"] for r in records] == [None, "backtracking/m/turn1", "backtracking/m/turn2"]
    assert {r["task"] for r in records} == {"backtracking"}


def test_imgedit_hard_suite_uses_its_capped_judge(tmp_path):
    data = _make_imgedit(tmp_path / "Benchmark")
    results = run_benchmark("identity", "imgedit", data=data, options={"suite": "hard"}, out=tmp_path / "run",
                            judge_backend=DummyBackend(['{"score": 5, "unedited_changed": 1}']),
                            print_table=False, progress=False)
    assert results["config"]["judges"] == ["imgedit-hard"]
    assert results["overall"]["scores"]["imgedit_hard_score"] == 3
    assert (tmp_path / "run" / "outputs" / "uge" / "000029784.png").exists()


def test_vlm_judge_is_not_silently_skipped(tmp_path):
    data = _make_imgedit(tmp_path / "Benchmark")
    results = run_benchmark("identity", "imgedit", data=data, out=tmp_path / "run", print_table=False, progress=False)
    assert "judge imgedit not run: no --judge-backend given" in results["config"]["notes"]


def test_multiedit_jsonl_folder_clip_and_dino_per_task(tmp_path, tiny_clip, tiny_dino):
    root = tmp_path / "multiedit"
    root.mkdir()
    lines = []
    for i, task in enumerate(["text editing", "GUI editing", "text editing"]):
        solid((10 * i, 0, 0)).save(root / f"s{i}.png")
        solid((0, 10 * i, 0)).save(root / f"t{i}.png")
        lines.append(json.dumps({"id": f"m{i}", "instruction": "x", "task": task, "source_image": f"s{i}.png",
                                 "target_image": f"t{i}.png"}))
    (root / "metadata.jsonl").write_text("\n".join(lines))
    bench = get_benchmark("multiedit", data=str(root))
    results = run_benchmark("identity", bench, out=tmp_path / "run", encoders={"clip": tiny_clip, "dino": tiny_dino},
                            print_table=False, progress=False)
    assert set(results["tasks"]) == {"text editing", "GUI editing"}
    assert set(results["overall"]["scores"]) == {"clip_i", "dino"}
    assert results["encoders"]["dino"]["source"] == tiny_dino
