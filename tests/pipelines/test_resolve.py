"""Model resolution (hub id, folder, single file, toyworld) and loading."""

import json

import pytest
import torch
from PIL import Image

from editlab.errors import EditlabError
from editlab.pipelines.resolve import read_safetensors_header, resolve_model, weights_fingerprint


def test_local_folder(tiny_ip2p_dir):
    source = resolve_model(str(tiny_ip2p_dir))
    assert (source.kind, source.origin, source.pipeline_class) == ("ip2p", "local", "StableDiffusionInstructPix2PixPipeline")
    assert source.details["unet_in_channels"] == 8


def test_single_file_round_trip(tiny_single_file, tiny_ip2p_dir):
    from diffusers import StableDiffusionInstructPix2PixPipeline

    from editlab.pipelines.loading import load_ip2p_pipeline

    source = resolve_model(str(tiny_single_file))
    assert (source.kind, source.origin) == ("ip2p", "single-file")
    pipe = load_ip2p_pipeline(source, config=str(tiny_ip2p_dir), device="cpu", precision="fp32")
    original = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_ip2p_dir, safety_checker=None)
    for name in ("unet", "vae", "text_encoder"):
        ours, ref = getattr(pipe, name).state_dict(), getattr(original, name).state_dict()
        assert ours.keys() == ref.keys()
        assert all(torch.equal(ours[k], ref[k]) for k in ref)


def test_single_file_kind_from_header(tmp_path):
    from safetensors.torch import save_file

    def checkpoint(name, tensors):
        path = tmp_path / name
        save_file(tensors, str(path))
        return str(path)

    conv = "model.diffusion_model.input_blocks.0.0.weight"
    t2i = checkpoint("sd15.safetensors", {conv: torch.zeros(8, 4, 3, 3)})
    with pytest.raises(EditlabError, match="4 input channels: a text-to-image checkpoint"):
        resolve_model(t2i)
    inpaint = checkpoint("inpaint.safetensors", {conv: torch.zeros(8, 9, 3, 3)})
    with pytest.raises(EditlabError, match="9 input channels"):
        resolve_model(inpaint)
    sdxl = checkpoint("cosxl_edit.safetensors", {conv: torch.zeros(8, 8, 3, 3),
                                                  "conditioner.embedders.1.model.ln_final.weight": torch.zeros(2)})
    source = resolve_model(sdxl)
    assert source.kind == "sdxl-ip2p" and source.details["cosxl_edit"]
    bare = checkpoint("unet.safetensors", {"conv_in.weight": torch.zeros(8, 8, 3, 3)})
    with pytest.raises(EditlabError, match="bare diffusers UNet"):
        resolve_model(bare)
    assert read_safetensors_header(tmp_path / "sd15.safetensors")[0][conv] == [8, 4, 3, 3]


def test_corrupt_and_pickled_files(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x01\x02")
    with pytest.raises(EditlabError, match="not a readable .safetensors"):
        resolve_model(str(bad))
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"x")
    with pytest.raises(EditlabError, match="only .safetensors"):
        resolve_model(str(ckpt))


def test_hub_id_from_offline_cache(fake_hub):
    from editlab.pipelines.loading import load_ip2p_pipeline

    source = resolve_model(fake_hub["repo_id"])
    assert (source.kind, source.origin, source.revision) == ("ip2p", "hub", fake_hub["commit"])
    assert weights_fingerprint(source) == f"hub:tiny-org/tiny-ip2p@{fake_hub['commit']}"
    pipe = load_ip2p_pipeline(source, device="cpu")
    out = pipe("make it red", Image.new("RGB", (20, 12)), num_inference_steps=1).images[0]
    assert out.size == (20, 12)


def test_unknown_hub_id_offline(fake_hub):
    with pytest.raises(EditlabError, match="not in the local cache and the hub cannot be reached"):
        resolve_model("nobody/nothing-here")


@pytest.mark.parametrize("spec,message", [
    ("toyworl", "did you mean 'toyworld'"),
    ("", "empty model name"),
    ("./missing-folder", "no such file or folder"),
    ("weights.safetensors", "no such file or folder"),
])
def test_unknown_models(spec, message):
    with pytest.raises(EditlabError, match=message):
        resolve_model(spec)


def test_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(EditlabError, match="not a diffusers pipeline folder.*pass the .safetensors file"):
        resolve_model(str(tmp_path))


def test_text_to_image_pipeline_folder(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}))
    (tmp_path / "unet" / "config.json").write_text(json.dumps({"in_channels": 4}))
    with pytest.raises(EditlabError, match="4 input channels"):
        resolve_model(str(tmp_path))


def test_other_diffusers_editing_pipeline_is_generic(tmp_path, tiny_ip2p_dir):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "FluxKontextPipeline"}))
    source = resolve_model(str(tmp_path))
    assert source.kind == "diffusers" and source.pipeline_class == "FluxKontextPipeline"
    with pytest.raises(EditlabError, match="is a diffusers model, not ip2p; use 'diffusers:"):
        resolve_model(str(tmp_path), kind="ip2p")
    # any pipeline may go through the generic adapter
    assert resolve_model(str(tiny_ip2p_dir), kind="diffusers").kind == "diffusers"


def test_weights_fingerprint_changes_with_weights(tiny_ip2p_dir, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_ip2p_dir, copy)
    first = weights_fingerprint(resolve_model(str(copy)))
    assert first == weights_fingerprint(resolve_model(str(tiny_ip2p_dir)))
    with open(copy / "unet" / "diffusion_pytorch_model.safetensors", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x00\x00\x01")
    assert weights_fingerprint(resolve_model(str(copy))) != first


def test_unknown_hub_model_is_a_one_line_error_in_a_fresh_process():
    # a fresh interpreter: nothing has imported huggingface_hub.utils yet (the CLI's situation)
    import subprocess
    import sys

    code = ("from editlab.pipelines.resolve import resolve_model\n"
            "from editlab.errors import EditlabError\n"
            "try:\n    resolve_model('no-such-org/no-such-model')\n"
            "except EditlabError as exc:\n    print('ERROR', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.startswith("ERROR model 'no-such-org/no-such-model'") and "\n" == done.stdout[-1]


def test_an_unreachable_hub_fails_at_once_without_retries(monkeypatch):
    """huggingface_hub alone retries five times (~25 s); a failed probe asks the cache only."""
    import socket

    from editlab.errors import EditlabError
    from editlab.pipelines import resolve

    def refuse(*_, **__):
        raise OSError("no network")

    calls = []

    def download(repo_id, filename, **kwargs):
        calls.append(kwargs)
        from huggingface_hub.errors import LocalEntryNotFoundError

        raise LocalEntryNotFoundError("not in the cache")

    resolve.hub_reachable.cache_clear()
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr("huggingface_hub.hf_hub_download", download)
    try:
        with pytest.raises(EditlabError, match="not in the local cache and the hub cannot be reached"):
            resolve.resolve_model("someone/some-model")
    finally:
        resolve.hub_reachable.cache_clear()
    assert calls == [{"revision": None, "local_files_only": True}]
