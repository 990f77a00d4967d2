"""`editlab edit` end to end on a tiny model: outputs, regions, sweeps, batches and errors."""

import json

import numpy as np
import pytest
from PIL import Image

from editlab.cli.main import main
from editlab.imaging.masks import feather_weights, mask_from_box


@pytest.fixture
def photo_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (41, 67, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def model_args(tiny_ip2p_dir):
    return ["--model", str(tiny_ip2p_dir), "--num-inference-steps", "2"]


def run(args, capsys):
    code = main(["edit", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_edit_writes_same_size_png_with_provenance(photo_path, tmp_path, model_args, capsys):
    out = tmp_path / "out" / "edited.png"
    code, stdout, _ = run([photo_path, "make it red", "-o", out, *model_args, "--seed", 3], capsys)
    assert code == 0 and "wrote" in stdout
    image = Image.open(out)
    assert image.size == (67, 41)
    record = json.loads(image.text["editlab"])
    assert record["seed"] == 3 and record["editor"]["editor"] == "ip2p"
    assert record["edit"]["num_inference_steps"] == 2 and record["edit"]["size_plan"]["original"] == [67, 41]


def test_region_box_keeps_the_rest_exact(photo_path, tmp_path, model_args, capsys):
    out = tmp_path / "edited.png"
    code, _, _ = run([photo_path, "make it red", "-o", out, *model_args, "--mask-box", "5,5,30,25",
                      "--mask-feather", "3"], capsys)
    assert code == 0
    outside = feather_weights(mask_from_box((67, 41), (5, 5, 30, 25)), 3) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out))[outside], np.asarray(Image.open(photo_path))[outside])


def test_sweep_writes_a_contact_sheet(photo_path, tmp_path, model_args, capsys):
    out = tmp_path / "sheet.png"
    code, stdout, _ = run([photo_path, "make it red", "-o", out, *model_args, "--sweep", "--guidance-scales", "3,7.5",
                           "--image-guidance-scales", "1,1.5"], capsys)
    assert code == 0 and "4 edits" in stdout
    sheet = Image.open(out)
    assert sheet.width > 3 * 256 and json.loads(sheet.text["editlab"])["sweep"]["text_scales"] == [3.0, 7.5]


def test_auto_guidance_with_clip_scorer(photo_path, tmp_path, model_args, tiny_clip_dir, capsys):
    out, sheet = tmp_path / "best.png", tmp_path / "scored.png"
    code, stdout, _ = run([photo_path, "make it red", "-o", out, *model_args, "--auto-guidance", "--scorer", "clip",
                           "--clip-model", tiny_clip_dir, "--text-scales", "5,10", "--image-guidance-scales", "1,1.5",
                           "--sheet", sheet], capsys)
    assert code == 0 and "chose text" in stdout and sheet.exists()
    record = json.loads(Image.open(out).text["editlab"])["auto_guidance"]
    scores = [c["score"] for c in record["scores"]]
    assert len(scores) == 4 and record["chosen"]["score"] == max(scores)
    assert Image.open(out).size == (67, 41)


def test_batch_folder_goes_to_run_batch(photo_path, tmp_path, model_args, capsys):
    out_dir = tmp_path / "batch-out"
    code, stdout, _ = run([photo_path.parent, "make it red", "-o", out_dir, *model_args], capsys)
    assert code == 0 and "manifest" in stdout
    rows = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    assert rows and all(row["status"] == "ok" for row in rows)


@pytest.mark.parametrize("case", ["unknown-model", "wrong-kind", "mask-size", "empty-instruction", "corrupt-image",
                                  "bad-box", "bad-extension", "bad-steps"])
def test_errors_are_one_line_and_write_nothing(case, photo_path, tmp_path, tiny_ip2p_dir, capsys):
    from editlab.pipelines.tiny import save_tiny_pipeline

    out = tmp_path / "never.png"
    args = [photo_path, "make it red", "-o", out, "--model", tiny_ip2p_dir, "--steps", "2"]
    expected = {
        "unknown-model": "unknown model 'not-a-model'",
        "wrong-kind": "4 input channels: a text-to-image checkpoint",
        "mask-size": "mask is 10x10 but the image is 67x41",
        "empty-instruction": "empty instruction",
        "corrupt-image": "cannot open image|not an image editlab can read|truncated or corrupt",
        "bad-box": "--mask-box needs 4 numbers",
        "bad-extension": "unknown image extension '.txt'",
        "bad-steps": "--num-inference-steps must be a whole number >= 1",
    }[case]
    if case == "unknown-model":
        args[5] = "not-a-model"
    elif case == "wrong-kind":
        args[5] = save_tiny_pipeline(tmp_path / "t2i", "text-to-image")
    elif case == "mask-size":
        Image.new("L", (10, 10), 255).save(tmp_path / "mask.png")
        args += ["--mask", tmp_path / "mask.png"]
    elif case == "empty-instruction":
        args[1] = "  "
    elif case == "corrupt-image":
        broken = tmp_path / "broken.png"
        broken.write_bytes(photo_path.read_bytes()[:60])
        args[0] = broken
    elif case == "bad-box":
        args += ["--mask-box", "1,2,3"]
    elif case == "bad-extension":
        out = tmp_path / "never.txt"
        args[3] = out
    elif case == "bad-steps":
        args[7] = "0"
    capsys.readouterr()  # drop what building the fixtures printed
    code, stdout, stderr = run(args, capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("editlab: error: ")
    import re

    assert re.search(expected, lines[0]), lines[0]
    assert not out.exists() and not list(tmp_path.glob(".never*"))


def test_help_ends_with_a_runnable_example(capsys):
    with pytest.raises(SystemExit):
        main(["edit", "--help"])
    text = capsys.readouterr().out
    assert text.rstrip().splitlines()[-4].strip().startswith("editlab edit photo.png")


def test_quiet_by_default_one_line_and_verbose_shows_the_libraries(photo_path, tiny_ip2p_dir, tmp_path):
    """A diffusion model edit prints its one line; other libraries' warnings and loading bars only with -v."""
    import os
    import subprocess
    import sys

    base = [sys.executable, "-m", "editlab", "edit", str(photo_path), "make it red", "-o", str(tmp_path / "o.png"),
            "--model", str(tiny_ip2p_dir), "--num-inference-steps", "1"]
    env = {k: v for k, v in os.environ.items() if k not in ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY",
                                                             "HF_HUB_DISABLE_PROGRESS_BARS")}
    quiet = subprocess.run(base, capture_output=True, text=True, env=env, timeout=300)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and len(quiet.stdout.strip().splitlines()) == 1, (quiet.stdout, quiet.stderr)
    verbose = subprocess.run(base + ["-v"], capture_output=True, text=True, env=env, timeout=300)
    assert verbose.returncode == 0 and "Loading pipeline components" in verbose.stderr
