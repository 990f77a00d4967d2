import shutil

import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def components():
    from editlab.pipelines.tiny import tiny_ip2p_components

    return tiny_ip2p_components(seed=0)


@pytest.fixture
def source_image():
    rng = np.random.RandomState(0)
    return Image.fromarray(rng.randint(0, 256, (32, 32, 3), dtype=np.uint8))


def _unet_to_ldm(state: dict, config: dict) -> dict:
    """diffusers UNet keys -> original (LDM) keys for any block layout (test helper)."""
    per = config["layers_per_block"]
    renames = [("time_embedding.linear_1", "time_embed.0"), ("time_embedding.linear_2", "time_embed.2"),
               ("conv_in", "input_blocks.0.0"), ("conv_norm_out", "out.0"), ("conv_out", "out.2")]
    resnet = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("norm2", "out_layers.0"),
              ("conv2", "out_layers.3"), ("time_emb_proj", "emb_layers.1"), ("conv_shortcut", "skip_connection")]
    prefixes = []
    for i, _ in enumerate(config["down_block_types"]):
        for j in range(per):
            prefixes.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{i * (per + 1) + j + 1}.0."))
            prefixes.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{i * (per + 1) + j + 1}.1."))
        prefixes.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(i + 1) * (per + 1)}.0.op."))
    for i, block in enumerate(config["up_block_types"]):
        for j in range(per + 1):
            prefixes.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{i * (per + 1) + j}.0."))
            prefixes.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{i * (per + 1) + j}.1."))
        slot = 2 if "CrossAttn" in block else 1
        prefixes.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{i * (per + 1) + per}.{slot}."))
    prefixes += [("mid_block.resnets.0.", "middle_block.0."), ("mid_block.attentions.0.", "middle_block.1."),
                 ("mid_block.resnets.1.", "middle_block.2.")]
    out = {}
    for key, value in state.items():
        new = key
        for old, ldm in renames:
            if new.startswith(old + "."):
                new = ldm + new[len(old):]
        for old, ldm in prefixes:
            if new.startswith(old):
                new = ldm + new[len(old):]
                if ".0." in ldm[-3:] or "resnets" in old:
                    for a, b in resnet:
                        new = new.replace(f".{a}.", f".{b}.")
                break
        out["model.diffusion_model." + new] = value
    return out


def _vae_to_ldm(state: dict, config: dict) -> dict:
    n = len(config["block_out_channels"])
    prefixes = [("mid_block.attentions.0.", "mid.attn_1."), ("mid_block.resnets.0.", "mid.block_1."),
                ("mid_block.resnets.1.", "mid.block_2."), ("conv_norm_out.", "norm_out.")]
    for i in range(n):
        prefixes += [(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block."),
                     (f"encoder.down_blocks.{i}.downsamplers.0.", f"encoder.down.{i}.downsample."),
                     (f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{n - 1 - i}.block."),
                     (f"decoder.up_blocks.{i}.upsamplers.0.", f"decoder.up.{n - 1 - i}.upsample.")]
    attn = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]
    out = {}
    for key, value in state.items():
        new = key.replace("conv_shortcut", "nin_shortcut")
        for old, ldm in prefixes:
            new = new.replace(old, ldm)
        if "attn_1." in new:
            for a, b in attn:
                new = new.replace("attn_1." + a, "attn_1." + b)
            if new.endswith("weight") and value.ndim == 2:
                value = value[:, :, None, None]
        out["first_stage_model." + new] = value
    return out


@pytest.fixture(scope="session")
def tiny_single_file(tmp_path_factory, tiny_ip2p_dir):
    """The tiny IP2P pipeline as one original-layout .safetensors file, plus its config folder."""
    from diffusers import StableDiffusionInstructPix2PixPipeline
    from safetensors.torch import save_file

    pipe = StableDiffusionInstructPix2PixPipeline.from_pretrained(tiny_ip2p_dir, safety_checker=None)
    state = {}
    state.update(_unet_to_ldm(pipe.unet.state_dict(), dict(pipe.unet.config)))
    state.update(_vae_to_ldm(pipe.vae.state_dict(), dict(pipe.vae.config)))
    # original checkpoints nest CLIP under text_model. (transformers >= 5.6 flattened CLIPTextModel)
    state.update({"cond_stage_model.transformer." + ("" if k.startswith("text_model.") else "text_model.") + k: v
                  for k, v in pipe.text_encoder.state_dict().items()})
    path = tmp_path_factory.mktemp("single") / "tiny-ip2p.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture
def fake_hub(tmp_path, monkeypatch, tiny_ip2p_dir):
    """An offline hub cache holding tiny-org/tiny-ip2p at a fixed commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-ip2p"
    shutil.copytree(tiny_ip2p_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return {"repo_id": "tiny-org/tiny-ip2p", "commit": commit}
