"""The shipped toyworld model loads in plain diffusers (no editlab) and runs."""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

FOLDER = Path(__file__).resolve().parents[2] / "src" / "editlab" / "assets" / "toyworld-model"


@pytest.fixture(scope="module")
def folder() -> Path:
    if not (FOLDER / "model_index.json").is_file():
        pytest.skip(f"{FOLDER} does not exist yet; train it with: editlab train --config configs/train/toyworld.yaml")
    return FOLDER


def test_size_limit(folder):
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert size <= 30 * 2**20, f"the shipped model is {size / 2**20:.1f} MB; the limit is 30 MB"
    assert (folder / "README.md").is_file()


def test_loads_in_plain_diffusers_and_edits_at_64px(folder):
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from PIL import Image

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    image = Image.new("RGB", (64, 64), (240, 240, 230))
    out = pipe("make the red circle blue", image=image, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0)).images[0]
    assert out.size == (64, 64) and out.mode == "RGB"


def test_tokenizer_covers_the_toyworld_vocabulary(folder):
    toyworld = pytest.importorskip("editlab.toyworld")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder / "tokenizer")
    ids = tokenizer(" ".join(toyworld.vocabulary())).input_ids
    assert tokenizer.unk_token_id not in ids
