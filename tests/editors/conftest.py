import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory):
    """Tiny random diffusers folders, written once per test session."""
    from editlab.pipelines.tiny import save_tiny_pipeline

    root = tmp_path_factory.mktemp("tiny-models")
    kinds = ("ip2p", "text-to-image", "sdxl-ip2p")
    return {kind: save_tiny_pipeline(root / kind, kind) for kind in kinds}


@pytest.fixture
def photo():
    return Image.fromarray(np.random.RandomState(0).randint(0, 256, (37, 53, 3), dtype=np.uint8))
