"""A session on a real diffusion backend: a tiny random InstructPix2Pix pipeline built in code."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editlab.editors import EDITORS
from editlab.session import EditSession

pytestmark = pytest.mark.skipif("model" not in EDITORS, reason="the diffusion backends are not registered")


def test_session_on_a_tiny_ip2p_model_replays_exactly(tmp_path):
    from editlab.pipelines.tiny import save_tiny_pipeline

    model = save_tiny_pipeline(tmp_path / "tiny-ip2p")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8))
    session = EditSession.create(tmp_path / "s", image, editor=str(model), num_inference_steps=2)
    first = session.edit("make it red")
    session.undo()
    retry = session.edit("make it red")  # a retry draws a new seed: a different sample
    masked = session.edit("add a cat", mask=Image.new("L", (48, 32), 255), seed=5, guidance_scale=5.0)
    assert first.image != retry.image and masked.size == (48, 32)
    assert first.editor["weights"].startswith("sha256:") and masked.params["guidance_scale"] == 5.0
    reopened = EditSession.open(tmp_path / "s")  # rebuilds the model from the recorded spec
    assert [r.ok for r in reopened.replay()] == [True, True, True]
