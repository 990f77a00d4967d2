"""The toyworld editor model: its picture-operation bank equals toyworld's, composing copies untouched pixels
exactly, folders round-trip, and the shipped model edits (a quality floor far above returning the input)."""

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from editlab import toyworld  # noqa: E402
from editlab.models.toyworld_editor import GLOBAL_OPS, ToyworldEditorModel, apply_global_op  # noqa: E402
from editlab.train.toyworld_pool import global_op_of  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "src" / "editlab" / "assets" / "toyworld-editor"


def _tensor(image):
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("task", ["style", "view"])
def test_operation_bank_reproduces_toyworld_pictures(task):
    for example in toyworld.generate_examples(12, seed=5, task=task):
        op = GLOBAL_OPS.index(global_op_of(example.meta["edit"]))
        out = apply_global_op(_tensor(example.source), op, torch.tensor([[0.5, 0.5]]))
        got = (out[0].permute(1, 2, 0) * 255).round().numpy()
        # sepia rounds differently from PIL by one level on some pixels; everything else is exact
        assert np.abs(got - np.asarray(example.target, dtype=np.float64)).max() <= 1, example.instruction


def test_bilinear_zoom_about_the_true_centre_passes_the_oracle():
    oracle = toyworld.Oracle()
    for example in toyworld.generate_examples(6, seed=5, task="zoom"):
        params = example.meta["edit"]["params"]
        out = apply_global_op(_tensor(example.source), GLOBAL_OPS.index("zoom"), torch.tensor([[params["cx"], params["cy"]]]))
        picture = (out[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy()
        from PIL import Image

        assert oracle.score(example, Image.fromarray(picture)).success


def _tiny_model(**kw):
    return ToyworldEditorModel(vocab_size=40, max_tokens=8, channels=16, deep_channels=32, text_dim=32, **kw)


def test_compose_copies_every_unmasked_pixel_exactly():
    model = _tiny_model().eval()
    source = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        out = model(source, torch.randint(4, 40, (2, 8)))
    out["mask_logits"] = torch.full_like(out["mask_logits"], -10.0)
    out["op_logits"] = torch.zeros_like(out["op_logits"])
    out["op_logits"][:, 0] = 1.0  # identity
    assert torch.equal(ToyworldEditorModel.compose(source, out), source)


def test_unknown_words_are_read_as_unk():
    model = _tiny_model(known_token_ids=[0, 1, 2, 3, 10, 11], unk_token_id=3)
    ids = torch.tensor([[1, 10, 25, 11, 2, 0, 0, 0]])
    assert model.map_unknown_tokens(ids).tolist() == [[1, 10, 3, 11, 2, 0, 0, 0]]


def test_pipeline_folder_round_trips(tmp_path):
    from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline, is_toyworld_editor_folder
    from editlab.train.toyworld_editor import build_tokenizer

    tokenizer = build_tokenizer(16)
    model = ToyworldEditorModel(vocab_size=len(tokenizer), max_tokens=16, channels=16, deep_channels=32, text_dim=32)
    pipe = ToyworldEditorPipeline(model, tokenizer)
    folder = pipe.save_pretrained(tmp_path / "m", extra_files={"README.md": "# card\n"})
    assert is_toyworld_editor_folder(folder) and not list(folder.rglob("*.bin")) and not list(folder.rglob("*.pt"))
    again = ToyworldEditorPipeline.from_pretrained(folder)
    example = toyworld.generate_example(0, task="color")
    a = pipe(prompt=example.instruction, image=example.source).images[0]
    b = again(prompt=example.instruction, image=example.source).images[0]
    assert a.tobytes() == b.tobytes()
    wide = again(prompt="flip it", image=example.source.resize((128, 64))).images[0]
    assert wide.size == (128, 64)


def test_a_photo_gets_a_warning_naming_model():
    from PIL import Image

    from editlab.pipelines.toyworld_editor import looks_like_toyworld

    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert not looks_like_toyworld(photo)
    assert looks_like_toyworld(toyworld.generate_example(1).source)
    assert looks_like_toyworld(toyworld.generate_example(2, task="style").target)


@pytest.fixture(scope="module")
def shipped():
    if not (SHIPPED / "model_index.json").is_file():
        pytest.skip(f"{SHIPPED} is not there; train it: editlab train --config configs/train/toyworld-editor.yaml")
    from editlab.pipelines.toyworld_editor import ToyworldEditorPipeline

    return ToyworldEditorPipeline.from_pretrained(SHIPPED)


def test_shipped_model_size(shipped):
    size = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert size <= 30 * 2**20, f"the shipped model is {size / 2**20:.1f} MB; the limit is 30 MB"
    assert "toyworld" in (SHIPPED / "README.md").read_text()


#: A regression guard, not the quality target (that is benchmarks/toyworld_model.py, >= 90%): on these 30
#: fixed held-out cases (2 per task) the shipped model scored 67% (20/30) when it was shipped (after two runs:
#: 60%; the first model, 58 min from scratch: 47%), a random model 0%, returning the input 0%.
SHIPPED_FLOOR = 0.5


def test_shipped_model_edits_far_better_than_returning_the_input(shipped):
    oracle = toyworld.Oracle()
    cases = [toyworld.generate_example(777, split="test", task=t, index=i) for t in toyworld.TOYWORLD_TASKS for i in range(2)]
    outputs = shipped(prompt=[c.instruction for c in cases], image=[c.source for c in cases]).images
    model = np.mean([oracle.score(c, o).success for c, o in zip(cases, outputs, strict=True)])
    identity = np.mean([oracle.score(c, c.source).success for c in cases])
    assert identity == 0.0
    assert model >= SHIPPED_FLOOR, f"shipped model success {model:.0%} on 30 fixed cases (floor {SHIPPED_FLOOR:.0%})"


def test_long_instructions_warn_with_the_dropped_words_and_huge_ones_are_refused(shipped):
    from editlab.errors import EditlabError

    example = toyworld.generate_example(4)
    with pytest.warns(UserWarning, match="reads 40, so these words are ignored: .*star"):
        shipped(prompt=example.instruction + " and" * 40 + " star", image=example.source)
    with pytest.raises(EditlabError, match="limit is 2000"):
        shipped(prompt="a" * 2001, image=example.source)
