"""The harness end to end on a tiny MagicBrush-layout dataset: naming, settings, caching, failures."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pytest
from bench_helpers import make_magicbrush
from PIL import Image

from editlab.bench.harness import run_benchmark
from editlab.cli.main import main
from editlab.editors.base import Editor
from editlab.io import load_image
from editlab.metrics import pixel
from editlab.types import EditRequest


class CountingEditor(Editor):
    """Inverts the image; counts calls (a fake model)."""

    name = "counting"

    def __init__(self):
        self.calls = 0

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        self.calls += len(requests)
        from PIL import ImageOps

        return [ImageOps.invert(r.image.convert("RGB")) for r in requests]


@pytest.fixture
def magicbrush(tmp_path):
    return str(make_magicbrush(tmp_path / "data"))


def _images(root, sid, name):
    return load_image(f"{root}/images/{sid}/{sid}-{name}.png")


def _l1(output, target) -> float:
    """MagicBrush's L1, written out here: mean |a - b| of [0,1] RGB arrays (the sizes already match)."""
    a = np.asarray(output.convert("RGB"), dtype=np.float64) / 255
    b = np.asarray(target.convert("RGB"), dtype=np.float64) / 255
    return float(np.abs(a - b).mean())


def _l2(output, target) -> float:
    a = np.asarray(output.convert("RGB"), dtype=np.float64) / 255
    b = np.asarray(target.convert("RGB"), dtype=np.float64) / 255
    return float(((a - b) ** 2).mean())


def test_one_run_reports_final_turn_and_all_turn_in_the_official_layout(magicbrush, tmp_path):
    results = run_benchmark("identity", "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1", "l2"],
                            print_table=False, progress=False)
    outputs = tmp_path / "run" / "outputs"
    assert sorted(str(p.relative_to(outputs)) for p in outputs.rglob("*.png")) == [
        f"{sid}/{sid}_{name}.png" for sid in ("100", "101", "102") for name in ("1", "inde_2", "iter_2")]
    assert results["n_samples"] == 9 and results["config"]["benchmark"]["options"]["setting"] == "both"
    assert list(results["tables"]) == ["final-turn", "all-turn"] and results["table"] == "final-turn"
    assert results["split"]["name"] == "test" and results["split"]["comparable"] is True
    sids = ("100", "101", "102")
    # final-turn: identity twice = the input, compared with the last target
    final = [(_images(magicbrush, s, "input"), _images(magicbrush, s, "output2")) for s in sids]
    # all-turn: turn 1 edits the input, turn 2 the ground-truth turn-1 target
    every = [(_images(magicbrush, s, "input"), _images(magicbrush, s, "output1")) for s in sids] + \
            [(_images(magicbrush, s, "output1"), _images(magicbrush, s, "output2")) for s in sids]
    for table, pairs in (("final-turn", final), ("all-turn", every)):
        scores = results["tables"][table]["overall"]["scores"]
        assert results["tables"][table]["overall"]["n"] == len(pairs)
        # float32 in the metric, float64 here
        assert scores["l1"] == pytest.approx(np.mean([_l1(a, b) for a, b in pairs]), abs=1e-7)
        assert scores["l2"] == pytest.approx(np.mean([_l2(a, b) for a, b in pairs]), abs=1e-7)
    assert results["overall"] == results["tables"]["final-turn"]["overall"]
    assert results["references"] == {"l1": "target", "l2": "target"}


def test_all_turn_edits_ground_truth_inputs_and_scores_every_turn(magicbrush, tmp_path):
    results = run_benchmark("identity", "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"],
                            options={"setting": "all-turn"}, print_table=False, progress=False)
    assert (tmp_path / "run" / "outputs" / "100" / "100_inde_2.png").exists()
    assert results["n_scored"] == 6 and list(results["tables"]) == ["all-turn"]
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    turn2 = next(r for r in records if r["id"] == "100/turn2")
    expected = pixel.l1([_images(magicbrush, "100", "output1")], [_images(magicbrush, "100", "output2")])[0].item()
    assert turn2["scores"]["l1"] == pytest.approx(expected, abs=1e-9)
    assert turn2["instruction"] == "edit 2 of 100"  # numeric turn order despite reversed listing
    assert set(results["groups"]) == {"turn1", "turn2"}


def test_mask_provided_variant_is_its_own_table_in_the_same_run(magicbrush, tmp_path):
    seen = []

    class MaskEditor(Editor):
        name = "mask-recorder"

        def edit_batch(self, requests):
            seen.extend((r.context["sample_id"], r.mask is not None) for r in requests)
            return [r.image.convert("RGB") for r in requests]

    results = run_benchmark(MaskEditor(), "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"],
                            options={"use_masks": "both"}, print_table=False, progress=False, limit=1)
    assert list(results["tables"]) == ["final-turn", "all-turn", "final-turn+mask", "all-turn+mask"]
    assert dict(seen)["100/turn1"] is False and dict(seen)["mask/100/turn1"] is True
    assert (tmp_path / "run" / "outputs" / "mask" / "100" / "100_iter_2.png").exists()
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert next(r for r in records if r["id"] == "mask/100/turn2/iter")["mask"] is True


def test_rerun_repeats_no_editor_call_and_gives_the_same_results(magicbrush, tmp_path):
    editor = CountingEditor()
    first = run_benchmark(editor, "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"],
                          print_table=False, progress=False)
    assert editor.calls == 9  # each session: turn 1 once (both settings), inde_2, iter_2
    second = run_benchmark(editor, "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"],
                           print_table=False, progress=False)
    assert editor.calls == 9 and first["run"]["editor_calls"] == 9 and second["run"]["editor_calls"] == 0
    assert second["tables"] == first["tables"] and second["tasks"] == first["tasks"]
    # a different seed is a different request: edited again
    run_benchmark(editor, "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"], seed=1,
                  print_table=False, progress=False, limit=1)
    assert editor.calls == 12


def test_precomputed_outputs_score_like_the_run_and_missing_files_are_counted_failures(magicbrush, tmp_path):
    editor = CountingEditor()
    ran = run_benchmark(editor, "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1"],
                        print_table=False, progress=False)
    (tmp_path / "run" / "outputs" / "101" / "101_iter_2.png").unlink()
    judged = run_benchmark(f"precomputed:{tmp_path / 'run'}", "magicbrush", data=magicbrush, out=tmp_path / "judged",
                           metrics=["l1"], print_table=False, progress=False)
    assert judged["failures"]["count"] == 1 and judged["failures"]["by_stage"] == {"missing output": 1}
    assert judged["failures"]["samples"][0]["sample"] == "101/turn2/iter"
    assert "101/101_iter_2.png" in judged["failures"]["samples"][0]["error"]
    assert judged["missing_outputs"] == ["101/turn2/iter"]
    assert judged["overall"]["counts"]["l1"] == 2  # the missing one has no score, not a made-up one
    assert judged["overall"]["missing"] == 1 and judged["overall"]["errors"] == 0
    scores = {r["id"]: r["scores"] for r in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    judged_scores = {r["id"]: r["scores"] for r in map(json.loads, (tmp_path / "judged" / "samples.jsonl").read_text().splitlines())}
    assert judged_scores["100/turn2/iter"] == scores["100/turn2/iter"]
    assert ran["overall"]["counts"]["l1"] == 3


def test_clip_t_uses_the_local_caption_and_records_missing_ones(magicbrush, tmp_path, tiny_clip):
    # bind the tiny encoder through a custom YAML copy of magicbrush
    import yaml

    from editlab.bench.suites import BENCHMARKS
    from editlab.metrics.similarity import clip_text_similarity

    spec = yaml.safe_load(BENCHMARKS.get("magicbrush").read_text())
    spec["metrics"]["clip_t"]["encoder"] = tiny_clip
    spec["metrics"]["clip_i"]["encoder"] = tiny_clip
    custom = tmp_path / "mb_tiny.yaml"
    custom.write_text(yaml.safe_dump(spec))
    results = run_benchmark("identity", str(custom), data=magicbrush, out=tmp_path / "run", metrics=["clip_t", "clip_i"],
                            options={"setting": "all-turn"}, print_table=False, progress=False)
    records = {r["id"]: r for r in map(json.loads, (tmp_path / "run" / "samples.jsonl").read_text().splitlines())}
    expected = clip_text_similarity([_images(magicbrush, "101", "input")], ["a picture number 1"], encoder=tiny_clip)[0].item()
    assert records["101/turn1"]["scores"]["clip_t"] == pytest.approx(expected, abs=1e-6)
    assert "clip_t" not in records["100/turn2"]["scores"]
    assert "no local caption" in records["100/turn2"]["skipped"]["clip_t"]
    assert results["encoders"]["clip_t"]["sha256"] == results["encoders"]["clip_i"]["sha256"]
    assert results["encoders"]["clip_i"]["source"] == tiny_clip


def test_results_schema_files_and_markdown(magicbrush, tmp_path, capsys):
    results = run_benchmark("identity", "magicbrush", data=magicbrush, out=tmp_path / "run", metrics=["l1", "ssim"],
                            print_table=True, progress=False)
    for key in ("schema", "schema_version", "created", "editlab_version", "git", "libraries", "config", "seeds",
                "encoders", "references", "judges", "tasks", "overall", "failures", "n_samples"):
        assert key in results
    assert results["libraries"]["torch"]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["overall"] == results["overall"]
    table = capsys.readouterr().out
    assert "| task | n | l1 | ssim | errors | failed edits |" in table and "**overall**" in table
    assert "magicbrush v2 (test split) - identity" in table and "#### all-turn" in table
    html = (tmp_path / "run" / "report.html").read_text()
    assert "data:image/jpeg;base64" in html and "magicbrush" in html
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_cli_bench_and_judge(magicbrush, tmp_path, capsys):
    assert main(["bench", "--editor", "identity", "--benchmark", "magicbrush", "--data", magicbrush, "--metrics",
                 "l1,l2", "--limit", "2", "--out", str(tmp_path / "run")]) == 0
    assert json.loads((tmp_path / "run" / "results.json").read_text())["n_samples"] == 6
    assert main(["judge", "--outputs", str(tmp_path / "run"), "--benchmark", "magicbrush", "--data", magicbrush,
                 "--metrics", "l1", "--limit", "2"]) == 0
    judged = json.loads((tmp_path / "run-judged" / "results.json").read_text())
    assert judged["config"]["editor"]["editor"] == "precomputed" and judged["failures"]["count"] == 0
    capsys.readouterr()
    assert main(["bench", "--editor", "identity", "--benchmark", "magicbrsh", "--out", str(tmp_path / "x")]) == 2
    assert "did you mean 'magicbrush'" in capsys.readouterr().err
    assert main(["bench", "--editor", "identity", "--benchmark", "magicbrush", "--data", magicbrush,
                 "--option", "setting=sideways", "--out", str(tmp_path / "x")]) == 2
    assert "must be one of both, final-turn, all-turn" in capsys.readouterr().err


class GuidanceEditor(Editor):
    """Blends towards red, less so with a higher image-guidance scale (like IP2P's s_I)."""

    name = "guidance-blend"

    def edit_batch(self, requests: Sequence[EditRequest]) -> list[Image.Image]:
        outputs = []
        for request in requests:
            keep = min(1.0, 0.4 * request.params["image_guidance_scale"])
            red = Image.new("RGB", request.image.size, (255, 0, 0))
            outputs.append(Image.blend(red, request.image.convert("RGB"), keep))
        return outputs


def test_image_guidance_sweep_gives_the_tradeoff_plot(tmp_path, tiny_clip):
    import datasets
    from bench_helpers import random_image

    rows = [{"idx": i, "instruction": "make it red", "image": random_image(i, (32, 32)), "task": "global",
             "split": "test", "hash": str(i), "input_caption": "a photo", "output_caption": "a red photo"}
            for i in range(3)]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "emu"))
    results = run_benchmark(GuidanceEditor(), "emu-edit", data=str(tmp_path / "emu"), out=tmp_path / "run",
                            metrics=["clip_i", "clip_dir", "l1"], encoders={"clip": tiny_clip},
                            sweep_image_guidance=[1.0, 1.5, 2.5], print_table=False, progress=False)
    sweep = results["sweep"]
    assert [entry["label"] for entry in sweep] == ["igs-1", "igs-1.5", "igs-2.5"]
    assert [entry["params"]["image_guidance_scale"] for entry in sweep] == [1.0, 1.5, 2.5]
    l1 = [entry["overall"]["scores"]["l1"] for entry in sweep]
    assert l1[0] > l1[1] > l1[2] == pytest.approx(0.0)  # more image guidance, closer to the input
    assert (tmp_path / "run" / "outputs" / "igs-1.5" / "0.png").exists()
    html = (tmp_path / "run" / "report.html").read_text()
    assert "<svg" in html and "CLIP directional similarity" in html and "igs-2.5" in html


def test_magicbrush_hub_layout_without_captions(tmp_path):
    import datasets
    from bench_helpers import random_image

    from editlab.bench.suites import get_benchmark

    rows = [{"img_id": sid, "turn_index": turn, "source_img": random_image(10 * int(sid) + turn, (16, 16)),
             "mask_img": random_image(99, (16, 16)), "instruction": f"{sid}-{turn}",
             "target_img": random_image(10 * int(sid) + turn + 1, (16, 16))}
            for sid in ("7", "3") for turn in (2, 1)]
    datasets.DatasetDict({"dev": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "mb-hub"))
    bench = get_benchmark("magicbrush", data=str(tmp_path / "mb-hub"), options={"setting": "final-turn"})
    samples = bench.samples()
    assert [s.output_name for s in samples] == ["3/3_1", "3/3_iter_2", "7/7_1", "7/7_iter_2"]
    assert [s.aliases for s in samples][0] == ("3_1",)
    split = bench.describe()["split"]
    assert split["name"] == "dev" and split["comparable"] is False and "not comparable" in split["note"]
    assert [s.example.instruction for s in samples] == ["3-1", "3-2", "7-1", "7-2"]
    assert samples[1].input_from == "3/turn1" and samples[0].scored is False and samples[1].skip_metrics["clip_t"].startswith("no local caption")


def _imgedit_with_keys(root, keys):
    from bench_helpers import random_image

    (root / "singleturn").mkdir(parents=True)
    random_image(0, (16, 16)).save(root / "singleturn" / "0.png")
    entries = {key: {"id": "0.png", "prompt": "add a cat", "edit_type": "add"} for key in keys}
    (root / "basic_edit.json").write_text(json.dumps(entries))
    return str(root)


@pytest.mark.parametrize("key", ["../../../x", "/ABSOLUTE/x"])
def test_a_benchmark_key_cannot_write_outside_out(tmp_path, capsys, key):
    if key.startswith("/"):
        key = str(tmp_path / "abs" / "x")  # somewhere real and writable: the old code wrote it
    data = _imgedit_with_keys(tmp_path / "data", ["1", key])
    out = tmp_path / "a" / "b" / "out" / "deep"
    before = sorted(tmp_path.rglob("*"))
    code = main(["bench", "--editor", "identity", "--benchmark", "imgedit", "--data", data, "--out", str(out),
                 "--judge", "none"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "output name" in err and "cannot be a file name" in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere, inside OUT or out of it


def test_an_image_id_cannot_read_outside_the_benchmark(tmp_path, capsys):
    data = _imgedit_with_keys(tmp_path / "data", ["1"])
    (tmp_path / "data" / "basic_edit.json").write_text(json.dumps({"1": {"id": "../../secret.png", "prompt": "x"}}))
    code = main(["bench", "--editor", "identity", "--benchmark", "imgedit", "--data", data,
                 "--out", str(tmp_path / "out"), "--judge", "none"])
    err = capsys.readouterr().err
    assert code == 2 and "ImgEdit image id '../../secret.png'" in err and "Traceback" not in err
