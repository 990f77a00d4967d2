"""A model folder's editlab_inference.json sets its sampling defaults; the caller still wins."""

import shutil

import pytest

from editlab.editors import get_editor
from editlab.errors import EditlabError
from editlab.pipelines.model_defaults import read_model_defaults, write_model_defaults
from editlab.types import EditRequest


@pytest.fixture
def recommending_folder(tiny_model_dirs, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dirs["ip2p"], folder)
    write_model_defaults(folder, scheduler="own", num_inference_steps=3, guidance_scale=2.5,
                         image_guidance_scale=1.0, why="test")
    return folder


def test_round_trip_and_bad_files(tmp_path):
    assert read_model_defaults(tmp_path) == {}
    write_model_defaults(tmp_path, scheduler="ddim", num_inference_steps=7, guidance_scale=3, image_guidance_scale=1)
    assert read_model_defaults(tmp_path) == {"scheduler": "ddim", "num_inference_steps": 7, "guidance_scale": 3.0,
                                             "image_guidance_scale": 1.0}
    (tmp_path / "editlab_inference.json").write_text('{"guidance": 3}')
    with pytest.raises(EditlabError, match="unknown keys"):
        read_model_defaults(tmp_path)
    (tmp_path / "editlab_inference.json").write_text('["scheduler"]')
    with pytest.raises(EditlabError, match="expected a JSON object"):
        read_model_defaults(tmp_path)


def test_editor_uses_the_folder_recommendation(recommending_folder, photo):
    editor = get_editor(f"ip2p:{recommending_folder}")
    assert editor.extras.scheduler is None and editor.extras.default_steps == 3  # the folder's own scheduler
    assert editor.defaults == {"guidance_scale": 2.5, "image_guidance_scale": 1.0}
    editor.edit(EditRequest(photo, "make it red", seed=0))
    call = editor.last_provenance[0]
    assert call["num_inference_steps"] == 3 and call["guidance_scale"] == 2.5


def test_caller_and_reference_mode_override_the_recommendation(recommending_folder):
    editor = get_editor(f"ip2p:{recommending_folder}", guidance_scale=6.0, scheduler="euler")
    assert editor.defaults["guidance_scale"] == 6.0 and editor.extras.scheduler == "euler"
    reference = get_editor(f"ip2p:{recommending_folder}", reference=True)
    assert reference.defaults == {} and reference.extras.default_steps == 100
