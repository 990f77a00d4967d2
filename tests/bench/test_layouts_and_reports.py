"""Issue 16: the benchmarks' official output layouts, splits named, reports that explain.

Data is written in each benchmark's release layout and outputs in each official output layout
(MagicBrush's evaluation/image_eval.py per-session folders, GEdit-Bench's fullset/ tree,
ImgEdit's <key>.png result folders, Emu Edit's <idx>.png); the numbers are recomputed here from
the formulas, not read back from editlab.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from bench_helpers import make_magicbrush, random_image

from editlab.bench.harness import BenchConfig, run, run_benchmark
from editlab.cli.main import main
from editlab.errors import EditlabError
from editlab.io import load_image
from editlab.judges import DummyBackend


def _l1(a, b) -> float:
    return float(np.abs(np.asarray(a.convert("RGB"), np.float64) / 255 - np.asarray(b.convert("RGB"), np.float64) / 255).mean())


def _records(folder):
    return {r["id"]: r for r in map(json.loads, (folder / "samples.jsonl").read_text().splitlines())}


@pytest.fixture
def magicbrush(tmp_path):
    return make_magicbrush(tmp_path / "data")


def _write_official_magicbrush(data, folder, flat=False):
    """A model's outputs as MagicBrush's image_eval.py reads them: <id>/<id>_1.png, _inde_<k>, _iter_<k>.

    The "model" returns a fixed, different image per name so every pairing is checked."""
    names = {}
    for seed, sid in enumerate(("100", "101", "102")):
        for offset, name in enumerate((f"{sid}_1", f"{sid}_inde_2", f"{sid}_iter_2")):
            path = folder / (f"{name}.png" if flat else f"{sid}/{name}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            random_image(500 + 10 * seed + offset, (32, 32)).save(path)
            names[name] = path
    return names


def test_precomputed_reads_magicbrush_per_session_folders_and_scores_both_settings(magicbrush, tmp_path):
    names = _write_official_magicbrush(magicbrush, tmp_path / "generated")
    results = run_benchmark("precomputed:" + str(tmp_path / "generated"), "magicbrush", data=str(magicbrush),
                            out=tmp_path / "run", metrics=["l1"], print_table=False, progress=False)
    assert results["failures"]["count"] == 0
    target = lambda sid, k: load_image(magicbrush / "images" / sid / f"{sid}-output{k}.png")  # noqa: E731
    sids = ("100", "101", "102")
    final = [_l1(load_image(names[f"{s}_iter_2"]), target(s, 2)) for s in sids]
    every = [_l1(load_image(names[f"{s}_1"]), target(s, 1)) for s in sids] + \
            [_l1(load_image(names[f"{s}_inde_2"]), target(s, 2)) for s in sids]
    assert results["tables"]["final-turn"]["overall"]["scores"]["l1"] == pytest.approx(np.mean(final), abs=1e-7)
    assert results["tables"]["all-turn"]["overall"]["scores"]["l1"] == pytest.approx(np.mean(every), abs=1e-7)
    # the flat names of earlier editlab runs give the same numbers
    _write_official_magicbrush(magicbrush, tmp_path / "flat", flat=True)
    flat = run_benchmark("precomputed:" + str(tmp_path / "flat"), "magicbrush", data=str(magicbrush),
                         out=tmp_path / "run-flat", metrics=["l1"], print_table=False, progress=False)
    assert flat["tables"] == results["tables"]
    assert results["config"]["editor_spec"] == "precomputed:" + str(tmp_path / "generated")


def test_a_folder_in_no_known_layout_fails_in_one_line_naming_what_was_looked_for(magicbrush, tmp_path, capsys):
    (tmp_path / "wrong").mkdir()
    random_image(0).save(tmp_path / "wrong" / "100-1.png")
    code = main(["bench", "--model", f"precomputed:{tmp_path / 'wrong'}", "-b", "magicbrush", "--data", str(magicbrush),
                 "--metrics", "l1", "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "100/100_1.png, 100_1.png" in err
    with pytest.raises(EditlabError, match="looked for"):
        run(BenchConfig(model=f"precomputed:{tmp_path / 'wrong'}", benchmark="magicbrush", data=str(magicbrush),
                        out=tmp_path / "run", metrics=["l1"], print_table=False, progress=False))


def test_a_model_run_writes_outputs_the_official_script_layout_reads(magicbrush, tmp_path):
    run_benchmark("identity", "magicbrush", data=str(magicbrush), out=tmp_path / "run", metrics=["l1"],
                  print_table=False, progress=False, limit=1)
    # what image_eval.py globs: <generated>/<img_id>/<img_id>_1.png, _inde_<k>.png, _iter_<k>.png
    assert sorted(p.name for p in (tmp_path / "run" / "outputs" / "100").iterdir()) == [
        "100_1.png", "100_inde_2.png", "100_iter_2.png"]


def test_hub_split_is_named_and_warned_about(tmp_path, capsys):
    import datasets

    rows = [{"img_id": "5", "turn_index": 1, "source_img": random_image(1, (16, 16)), "mask_img": None,
             "instruction": "add a hat", "target_img": random_image(2, (16, 16))}]
    datasets.DatasetDict({"dev": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "hub"))
    results = run_benchmark("identity", "magicbrush", data=str(tmp_path / "hub"), out=tmp_path / "run",
                            metrics=["l1"], progress=False)
    table = capsys.readouterr().out
    assert results["split"] == {"name": "dev", "source": f"hub dataset {tmp_path / 'hub'}", "comparable": False,
                                "note": "dev split: not comparable with the paper's test numbers"}
    assert "(dev split)" in table and "dev split: not comparable with the paper's test numbers" in table
    html = (tmp_path / "run" / "report.html").read_text()
    assert "(dev split)" in html and "not comparable with the paper" in html
    # a one-turn session is scored in both tables from its single edit
    assert results["tables"]["final-turn"]["overall"]["n"] == results["tables"]["all-turn"]["overall"]["n"] == 1


def test_gedit_precomputed_reads_the_model_folder_of_step1x_edit(tmp_path):
    import datasets

    rows = [{"key": f"k{i}", "task_type": "background_change", "instruction": "x", "instruction_language": lang,
             "input_image": random_image(i, (16, 16)), "input_image_raw": random_image(i, (16, 16)),
             "Intersection_exist": i == 0} for i, lang in enumerate(["en", "cn"])]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "gedit"))
    model = tmp_path / "save_dir" / "my-model"
    for i, lang in enumerate(["en", "cn"]):
        path = model / "fullset" / "background_change" / lang / f"k{i}.png"
        path.parent.mkdir(parents=True)
        random_image(i, (16, 16)).save(path)  # == the input
    answers = ['{"editing_success": 6, "overediting": 8}', '{"naturalness": 7, "artifacts": 9}']
    results = run_benchmark(f"precomputed:{model}", "gedit", data=str(tmp_path / "gedit"), out=tmp_path / "run",
                            judge_backend=DummyBackend(answers), print_table=False, progress=False, batch_size=1)
    assert results["failures"]["count"] == 0
    assert results["tables"]["en/intersection"]["overall"]["scores"]["O"] == pytest.approx((6 * 7) ** 0.5)
    assert results["tables"]["cn/intersection"]["overall"]["n"] == 0


def _imgedit_release(root):
    """ImgEdit-Bench's Benchmark/ folder: basic_edit.json + singleturn/, UGE_edit.json + its images, multiturn/."""
    (root / "singleturn" / "animal").mkdir(parents=True)
    basic = {}
    for i, edit_type in enumerate(["add", "add", "style"]):
        random_image(i, (16, 16)).save(root / "singleturn" / "animal" / f"{i}.jpg")
        basic[str(i + 1)] = {"id": f"animal/{i}.jpg", "prompt": f"{edit_type} it", "edit_type": edit_type}
    (root / "basic_edit.json").write_text(json.dumps(basic))
    (root / "hard").mkdir()
    random_image(7, (16, 16)).save(root / "hard" / "000029784.jpg")
    (root / "hard" / "UGE_edit.json").write_text(json.dumps({"1": {"id": "000029784.jpg", "prompt": "remove the lemon"}}))
    (root / "multiturn" / "memory").mkdir(parents=True)
    random_image(9, (16, 16)).save(root / "multiturn" / "memory" / "m.png")
    (root / "multiturn" / "memory" / "annotation.json").write_text(
        json.dumps({"id": "m.png", "turn1": "make all edits green", "turn2": "add a hat"}) + "\n")
    return root


def test_imgedit_one_run_gives_per_type_uge_and_multiturn_tables(tmp_path):
    data = _imgedit_release(tmp_path / "Benchmark")
    basic_answer = '{"adherence": 4, "quality": 5, "preservation": 3}'
    hard_answer = '{"score": 4, "unedited_changed": 0}'

    class RoutedBackend(DummyBackend):
        """Answers the basic rubric and the UGE rubric with their own canned answer."""

        def __init__(self):
            super().__init__([basic_answer])

        def chat(self, prompt, images, **kwargs):
            self.calls += 1
            return hard_answer if "unedited_changed" in prompt else basic_answer

    results = run_benchmark("identity", "imgedit", data=str(data), out=tmp_path / "run", judge_backend=RoutedBackend(),
                            print_table=False, progress=False, batch_size=1)
    assert list(results["tables"]) == ["basic", "uge", "multi-turn"]
    assert results["config"]["judges"] == ["imgedit", "imgedit-hard"]
    case = (4 + 4 + 3) / 3  # quality capped by adherence: min(5, 4)
    basic = results["tables"]["basic"]
    assert basic["tasks"]["add"]["scores"]["imgedit_score"] == pytest.approx(case)
    assert basic["overall"]["scores"]["imgedit_score"] == pytest.approx((case + case) / 2)  # mean of type means
    assert "imgedit_hard_score" not in basic["overall"]["scores"]
    assert results["tables"]["uge"]["overall"]["scores"] == {"imgedit_hard_score": 4.0}
    assert results["tables"]["multi-turn"]["overall"]["n"] == 2 and results["tables"]["multi-turn"]["overall"]["scores"] == {}
    outputs = tmp_path / "run" / "outputs"
    # the folders ImgEdit's basic_bench.py and UGE_bench.py take as --result_img_folder
    assert sorted(p.name for p in (outputs / "basic").iterdir()) == ["1.png", "2.png", "3.png"]
    assert [p.name for p in (outputs / "uge").iterdir()] == ["1.png"]
    assert (outputs / "multiturn" / "memory" / "m_turn2.png").exists()
    # and precomputed: reads them back from that run folder
    again = run_benchmark(f"precomputed:{tmp_path / 'run'}", "imgedit", data=str(data), out=tmp_path / "again",
                          judge_backend=RoutedBackend(), print_table=False, progress=False, batch_size=1)
    assert again["tables"]["basic"]["overall"] == basic["overall"]


def test_emu_edit_precomputed_idx_names(tmp_path):
    import datasets

    rows = [{"idx": i, "instruction": "x", "image": random_image(i, (16, 16)), "task": "add", "split": "test",
             "hash": str(i), "input_caption": "a", "output_caption": "b"} for i in range(2)]
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "emu"))
    (tmp_path / "gen").mkdir()
    outputs = [random_image(40 + i, (16, 16)) for i in range(2)]
    for i, image in enumerate(outputs):
        image.save(tmp_path / "gen" / f"{i}.png")
    results = run_benchmark(f"precomputed:{tmp_path / 'gen'}", "emu-edit", data=str(tmp_path / "emu"),
                            out=tmp_path / "run", metrics=["l1"], print_table=False, progress=False)
    expected = np.mean([_l1(outputs[i], random_image(i, (16, 16))) for i in range(2)])  # against the INPUT
    assert results["overall"]["scores"]["l1"] == pytest.approx(expected, abs=1e-7)
    assert results["split"]["name"] == "test"


def test_report_explains_reasons_settings_options_and_counts_failed_edits_apart(tmp_path):
    pytest.importorskip("editlab.toyworld.oracle")
    results = run_benchmark("identity", "toyworld", out=tmp_path / "run", limit=15, params={"guidance_scale": 3.0},
                            print_table=False, progress=False)
    records = _records(tmp_path / "run")
    failed = sum(1 for r in records.values() if r["scored"] and r["scores"].get("success") == 0)
    assert failed > 0 and results["overall"]["failed_edits"] == failed and results["overall"]["errors"] == 0
    assert any(r["reason"] for r in records.values())
    assert all(r["settings"]["guidance_scale"] == 3.0 and "seed" in r["settings"] for r in records.values())
    html = (tmp_path / "run" / "report.html").read_text()
    assert "failed edits" in html and "why: " in html and "guidance_scale=3.0" in html
    assert "<th>per_task</th>" in html  # options as a table, not a Python dict
    assert "{'" not in html
    assert "<th>as given</th><td>identity</td>" in html


def test_bench_compare_gives_hand_computed_deltas_intervals_and_a_plot(magicbrush, tmp_path, capsys):
    base_out, other_out = tmp_path / "base", tmp_path / "other"
    assert main(["bench", "-e", "identity", "-b", "magicbrush", "--data", str(magicbrush), "--metrics", "l1",
                 "--out", str(base_out)]) == 0  # old spellings still work
    _write_official_magicbrush(magicbrush, tmp_path / "generated")
    assert main(["bench", "--model", f"precomputed:{tmp_path / 'generated'}", "-b", "magicbrush", "--data",
                 str(magicbrush), "--metrics", "l1", "-o", str(other_out)]) == 0
    capsys.readouterr()
    assert main(["bench", "compare", str(base_out), str(other_out), "-o", str(tmp_path / "cmp")]) == 0
    comparison = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    base, other = _records(base_out), _records(other_out)
    for table in ("final-turn", "all-turn"):
        ids = [i for i, r in base.items() if table in r["tables"]]
        by_hand = np.mean([other[i]["scores"]["l1"] - base[i]["scores"]["l1"] for i in ids])
        row = next(r for r in comparison["rows"] if r["table"] == table and r["task"] == "overall")
        assert row["delta"] == pytest.approx(by_hand, abs=1e-12) and row["paired"] and row["n"] == len(ids)
        assert row["ci95"][0] <= row["delta"] <= row["ci95"][1]
        # the interval of a paired mean difference lies within the range of the per-sample differences
        diffs = [other[i]["scores"]["l1"] - base[i]["scores"]["l1"] for i in ids]
        assert min(diffs) - 1e-12 <= row["ci95"][0] and row["ci95"][1] <= max(diffs) + 1e-12
    markdown = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| run | table | task | score | baseline | run | delta | 95% CI | n |" in markdown
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert "<svg" in html and "final-turn" in html
    assert main(["bench", "compare", str(base_out)]) == 2
    assert "at least two run folders" in capsys.readouterr().err
    assert main(["bench", "compare", str(base_out), str(tmp_path / "nothing")]) == 2
    assert "no results.json" in capsys.readouterr().err
