import math

import numpy as np
import pytest
from PIL import Image

from editlab.editors.base import Editor
from editlab.editors.guidance import (
    Scorer,
    SweepCell,
    SweepResult,
    auto_guidance,
    contact_sheet,
    default_scorer_name,
    get_scorer,
    run_sweep,
)
from editlab.errors import EditlabError
from editlab.types import EditRequest


class ScaleEditor(Editor):
    """Brightens by the text scale and keeps more of the input with the image scale; records requests."""

    name = "scale"

    def __init__(self):
        self.requests = []

    def edit_batch(self, requests):
        self.requests.extend(requests)
        out = []
        for r in requests:
            value = min(255, int(20 * r.params["guidance_scale"] / r.params["image_guidance_scale"]))
            out.append(Image.new("RGB", r.image.size, (value, value, value)))
        return out


class TargetScorer:
    """Prefers outputs whose brightness is close to 100."""

    name = "target"

    def score(self, source, output, instruction):
        return -abs(float(np.asarray(output).mean()) - 100.0)


def request():
    return EditRequest(Image.new("RGB", (30, 20)), "make it brighter", seed=None, params={"num_inference_steps": 3})


def test_sweep_grid_order_seed_and_params():
    editor = ScaleEditor()
    result = run_sweep(editor, request(), text_scales=(5, 10), image_scales=(1, 2))
    assert [(c.text_scale, c.image_scale) for c in result.cells] == [(5, 1), (10, 1), (5, 2), (10, 2)]
    assert {r.seed for r in editor.requests} == {0}
    assert all(r.params["num_inference_steps"] == 3 for r in editor.requests)
    assert result.cell(10, 2).image.getpixel((0, 0)) == (100, 100, 100)


def test_auto_guidance_picks_best_and_records_it():
    assert isinstance(TargetScorer(), Scorer)
    best, result = auto_guidance(ScaleEditor(), request(), TargetScorer(), text_scales=(5, 10), image_scales=(1, 2))
    assert np.asarray(best).mean() == 100
    assert (result.meta["chosen"]["text_scale"], result.meta["chosen"]["image_scale"]) in {(5, 1), (10, 2)}
    # a tie goes to the more conservative edit: lower text scale
    assert result.meta["chosen"]["text_scale"] == 5
    assert result.to_dict()["scorer"] == {"name": "target"}


def test_best_skips_failed_scores():
    image = Image.new("RGB", (2, 2))
    result = SweepResult(request(), (1.0, 2.0), (1.0,), [SweepCell(1.0, 1.0, image, math.nan), SweepCell(2.0, 1.0, image, -5.0)])
    assert result.best().text_scale == 2.0
    with pytest.raises(EditlabError, match="no cell"):
        SweepResult(request(), (1.0,), (1.0,), [SweepCell(1.0, 1.0, image)]).best()


def test_contact_sheet_layout():
    result = run_sweep(ScaleEditor(), request(), text_scales=(3, 5, 7.5), image_scales=(1, 1.5), scorer=TargetScorer())
    sheet = contact_sheet(result, cell_size=64)
    assert sheet.mode == "RGB"
    assert sheet.width >= 4 * 64 and sheet.height >= 2 * 64
    # the best cell is framed in red
    assert (np.asarray(sheet) == [220, 30, 30]).all(axis=-1).sum() > 100


def test_bad_scales():
    with pytest.raises(EditlabError, match="text scales is empty"):
        run_sweep(ScaleEditor(), request(), text_scales=())
    with pytest.raises(EditlabError, match=">= 0"):
        run_sweep(ScaleEditor(), request(), image_scales=(-1,))


def test_scorer_registry_and_defaults(tiny_clip_dir):
    assert default_scorer_name(None) == "toyworld" and default_scorer_name("x/y", "openai/clip") == "clip"
    with pytest.raises(EditlabError, match="needs a scorer"):
        default_scorer_name("timbrooks/instruct-pix2pix")
    with pytest.raises(EditlabError, match="unknown scorer 'clp'"):
        get_scorer("clp")
    scorer = get_scorer("clip", encoder=str(tiny_clip_dir))
    source = Image.fromarray(np.random.RandomState(0).randint(0, 256, (40, 40, 3), dtype=np.uint8))
    far = Image.fromarray(255 - np.asarray(source))
    parts = scorer.parts(source, far, "make it red")
    expected = parts["directional"] - max(0.0, 0.7 - parts["image"])
    assert scorer.score(source, far, "make it red") == pytest.approx(expected)
    assert scorer.score(source, source, "make it red") == pytest.approx(0.0, abs=1e-6)
    assert scorer.describe()["encoder"]["sha256"]


def test_judge_scorer_with_dummy_backend():
    scorer = get_scorer("judge", judge="viescore", backend="dummy")
    value = scorer.score(Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8), (9, 9, 9)), "make it gray")
    assert math.isfinite(value) and scorer.describe()["name"] == "judge"


def test_toyworld_oracle_scorer_with_ground_truth():
    from editlab import toyworld

    example = toyworld.generate_example(0, task="color")
    scorer = get_scorer("toyworld", example=example)
    good = scorer.score(example.source, example.target, example.instruction)
    bad = scorer.score(example.source, example.source, example.instruction)
    assert good > 1.0 > bad
