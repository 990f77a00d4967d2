"""Shared test set-up: one thread per torch process (two cores collapse otherwise), no network."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")

import pytest  # noqa: E402


def pytest_collection_modifyitems(config, items):
    if os.environ.get("EDITLAB_SLOW") == "1":
        return
    # .ci/run runs them after the fast suite (EDITLAB_SLOW=1 pytest -m slow)
    skip = pytest.mark.skip(reason="slow; set EDITLAB_SLOW=1 to run (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_ip2p_dir(tmp_path_factory):
    """A tiny random InstructPix2Pix diffusers folder, written once per test session."""
    from editlab.pipelines.tiny import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "ip2p", "ip2p")


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A tiny random CLIP model + word tokenizer saved like a hub CLIP folder."""
    import torch
    from transformers import CLIPConfig, CLIPModel

    from editlab.pipelines.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": tokenizer.model_max_length,
                     "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
