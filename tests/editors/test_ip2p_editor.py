import numpy as np
import pytest
from PIL import Image

from editlab.editors import get_editor
from editlab.editors.ip2p import IP2PEditor
from editlab.errors import EditlabError
from editlab.types import EditRequest

FAST = {"num_inference_steps": 2}


@pytest.fixture
def editor(tiny_model_dirs):
    return get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", **FAST)


def test_edits_keep_size_and_are_seeded(editor, photo):
    assert isinstance(editor, IP2PEditor)
    a, b = editor.edit_batch([EditRequest(photo, "make it red", seed=1), EditRequest(photo, "make it red", seed=2)])
    c = editor.edit(EditRequest(photo, "make it red", seed=1))
    assert a.size == b.size == photo.size and a.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(a), np.asarray(c))
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    assert editor.last_provenance[0]["seed"] == 1


def test_request_params_override_defaults(editor, photo):
    editor.edit(EditRequest(photo, "make it red", seed=0, params={"steps": 3, "scheduler": "euler", "image_guidance_scale": 1.0}))
    record = editor.last_provenance[0]
    assert record["num_inference_steps"] == 3 and record["scheduler"]["class"] == "EulerDiscreteScheduler"
    assert record["guidance_branches"] == {"text": 2, "cond": 1}


def test_model_spec_is_auto_detected(tiny_model_dirs, photo):
    editor = get_editor(str(tiny_model_dirs["ip2p"]), **FAST)
    assert isinstance(editor, IP2PEditor)
    assert editor.edit(EditRequest(photo, "make it blue", seed=0)).size == photo.size


def test_describe_records_provenance(editor):
    info = editor.describe()
    assert info["editor"] == "ip2p" and info["backend"] == "editlab.InstructPix2PixPipeline"
    assert info["model"]["origin"] == "local" and info["model"]["kind"] == "ip2p"
    assert info["weights"].startswith("sha256:") and len(info["weights"]) == 71
    assert info["scheduler"] == "dpm++2m" and info["extras"]["guidance_cutoff"] == 0.8
    assert info["defaults"]["num_inference_steps"] == 2
    assert {"diffusers", "torch", "editlab"} <= set(info["versions"])


@pytest.mark.parametrize("request_kwargs,message", [
    ({"instruction": "   "}, "empty instruction"),
    ({"params": {"strength": 0.5}}, "no parameter 'strength'"),
    ({"params": {"guidance_scale": -1}}, "guidance_scale must be"),
    ({"mask": Image.new("L", (5, 5), 255)}, "mask is 5x5 but the image is 53x37"),
])
def test_bad_requests_are_clear_errors(editor, photo, request_kwargs, message):
    kwargs = {"image": photo, "instruction": "make it red", **request_kwargs}
    with pytest.raises(EditlabError, match=message):
        editor.edit(EditRequest(**kwargs))


def test_text_to_image_model_is_refused(tiny_model_dirs):
    with pytest.raises(EditlabError, match="4 input channels.*not an InstructPix2Pix"):
        get_editor(str(tiny_model_dirs["text-to-image"]))


def test_reference_mode_matches_diffusers(tiny_model_dirs):
    import torch
    from diffusers import StableDiffusionInstructPix2PixPipeline

    image = Image.fromarray(np.random.RandomState(2).randint(0, 256, (32, 32, 3), dtype=np.uint8))
    editor = get_editor(f"ip2p:{tiny_model_dirs['ip2p']}", reference=True, num_inference_steps=3, precision="fp32")
    ours = editor.edit(EditRequest(image, "turn the sky red", seed=5))
    ref = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_model_dirs["ip2p"], safety_checker=None)
    ref.set_progress_bar_config(disable=True)
    expected = ref("turn the sky red", image=image, num_inference_steps=3,
                   generator=torch.Generator().manual_seed(5)).images[0]
    assert np.abs(np.asarray(ours, dtype=int) - np.asarray(expected, dtype=int)).max() <= 1


def test_toyworld_ip2p_name(monkeypatch, tiny_model_dirs, tmp_path, photo):
    """'toyworld-ip2p' is the shipped InstructPix2Pix-format toyworld model (the default 'toyworld' is the
    one-step toyworld editor: tests/models/test_toyworld_editor.py)."""
    from editlab.pipelines import resolve

    monkeypatch.setattr(resolve, "TOYWORLD_IP2P_MODEL_DIR", tmp_path / "missing")
    with pytest.raises(EditlabError, match="toyworld-ip2p model is not installed"):
        get_editor("toyworld-ip2p")
    monkeypatch.setattr(resolve, "TOYWORLD_IP2P_MODEL_DIR", tiny_model_dirs["ip2p"])
    editor = get_editor("toyworld-ip2p", **FAST)
    assert editor.name == "toyworld-ip2p" and editor.describe()["model"]["origin"] == "toyworld"
    assert editor.edit(EditRequest(photo, "add a star", seed=0)).size == photo.size
