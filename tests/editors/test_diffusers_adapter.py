import inspect

import numpy as np
import pytest
from PIL import Image

from editlab.editors import get_editor
from editlab.editors.diffusers_adapter import DiffusersEditor, SDXLIP2PEditor
from editlab.errors import EditlabError
from editlab.imaging.masks import feather_weights, mask_from_box
from editlab.types import EditRequest


class KontextLike:
    """A stand-in with FluxKontextPipeline's argument names; records what it was called with."""

    vae_scale_factor = 8
    default_sample_size = 4  # native 32x32

    def __init__(self):
        self.calls = []

    def __call__(self, image=None, prompt=None, height=None, width=None, num_inference_steps=28,
                 guidance_scale=3.5, true_cfg_scale=1.0, generator=None, max_sequence_length=512):
        self.calls.append(dict(image_size=image.size, prompt=prompt, height=height, width=width,
                               steps=num_inference_steps, guidance_scale=guidance_scale, true_cfg=true_cfg_scale,
                               seed=generator.initial_seed()))
        inverted = Image.fromarray(255 - np.asarray(image.resize((width, height))))
        return type("Out", (), {"images": [inverted]})()


def test_signature_mapping_and_sizing(photo):
    pipe = KontextLike()
    editor = DiffusersEditor(pipeline=pipe, param_map={"image_guidance_scale": "true_cfg_scale"}, num_inference_steps=4)
    out = editor.edit(EditRequest(photo, "make it red", seed=3, params={"guidance_scale": 2.5, "image_guidance_scale": 1.5}))
    call = pipe.calls[-1]
    assert out.size == photo.size
    assert (call["steps"], call["guidance_scale"], call["true_cfg"], call["seed"]) == (4, 2.5, 1.5, 3)
    assert call["width"] % 16 == 0 and call["height"] % 16 == 0 and call["image_size"] == (call["width"], call["height"])
    assert editor.last_provenance[0]["call"]["height"] == call["height"]


def test_unknown_parameter_is_an_error(photo):
    editor = DiffusersEditor(pipeline=KontextLike())
    with pytest.raises(EditlabError, match="KontextLike has no parameter 'image_guidance_scale'; it accepts:.*true_cfg_scale"):
        editor.edit(EditRequest(photo, "x", params={"image_guidance_scale": 1.5}))


def test_mask_composite_is_exact_outside(photo):
    editor = DiffusersEditor(pipeline=KontextLike(), target_pixels=None)
    mask = mask_from_box(photo.size, (5, 5, 20, 20))
    out = np.asarray(editor.edit(EditRequest(photo, "x", mask=mask, params={"mask_feather": 2})))
    outside = feather_weights(mask, 2) == 0
    np.testing.assert_array_equal(out[outside], np.asarray(photo)[outside])
    assert (out[5:20, 5:20] != np.asarray(photo)[5:20, 5:20]).any()


def test_not_an_editing_pipeline():
    class TextToImage:
        def __call__(self, prompt=None, height=None, width=None):
            pass

    with pytest.raises(EditlabError, match="not an editing pipeline"):
        DiffusersEditor(pipeline=TextToImage())


def test_generic_adapter_loads_a_real_diffusers_folder(tiny_model_dirs, photo):
    editor = get_editor(f"diffusers:{tiny_model_dirs['ip2p']}", num_inference_steps=2, target_pixels=None)
    assert type(editor.pipeline).__name__ == "StableDiffusionInstructPix2PixPipeline"
    out = editor.edit(EditRequest(photo, "make it blue", seed=0, params={"image_guidance_scale": 1.2}))
    assert out.size == photo.size
    info = editor.describe()
    assert info["backend"] == "diffusers.StableDiffusionInstructPix2PixPipeline" and info["weights"].startswith("sha256:")


def test_sdxl_ip2p_editor(tiny_model_dirs, photo):
    editor = get_editor(str(tiny_model_dirs["sdxl-ip2p"]), num_inference_steps=2, precision="fp32")
    assert isinstance(editor, SDXLIP2PEditor) and editor.name == "sdxl-ip2p"
    out = editor.edit(EditRequest(photo, "make it red", seed=0, params={"image_guidance_scale": 1.5}))
    assert out.size == photo.size
    assert "image_guidance_scale" in inspect.signature(editor.pipeline.__call__).parameters


def test_sdxl_needs_a_model():
    with pytest.raises(EditlabError, match="needs a model"):
        get_editor("sdxl-ip2p")
