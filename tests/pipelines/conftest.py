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
