"""LPIPS without torchvision: our network against a reference written from the paper's formula.

Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
Eq. 1: for each layer l of the backbone, unit-normalise the features of both images in the
channel dimension, take the squared difference, weight the channels with the learned linear
weights w_l, average over the H_l x W_l positions, and sum over the layers:

    d(x, x0) = sum_l 1/(H_l W_l) sum_{h,w} sum_c w_{l,c} (yhat_{l,hwc} - yhat0_{l,hwc})^2

(the released v0.1 weights are the w_{l,c} of this form: a 1x1 convolution over the squared
difference). The backbone is AlexNet's five conv+ReLU stages as published (torchvision's
`alexnet().features`: 11x11/4 pad 2, max-pool 3/2, 5x5 pad 2, max-pool 3/2, three 3x3 pad 1),
read straight from the state dict; the input is the image in [-1, 1] shifted and scaled by the
released ScalingLayer constants. The distance part below is numpy in float64, so it shares no
code with editlab's torch module.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from bench_helpers import random_image

from editlab.errors import EditlabError
from editlab.metrics import lpips as lpips_module

SHIFT = np.array([-0.030, -0.088, -0.188]).reshape(1, 3, 1, 1)  # released ScalingLayer constants
SCALE = np.array([0.458, 0.448, 0.450]).reshape(1, 3, 1, 1)
ALEXNET = [  # (state-dict prefix, stride, padding, max-pool before it)
    ("features.0", 4, 2, False), ("features.3", 1, 2, True), ("features.6", 1, 1, True),
    ("features.8", 1, 1, False), ("features.10", 1, 1, False),
]


def _to_input(images) -> np.ndarray:
    """PIL images -> (N, 3, H, W) float64 in [-1, 1], then the scaling layer."""
    x = np.stack([np.asarray(image.convert("RGB"), np.float64) / 255.0 for image in images]).transpose(0, 3, 1, 2)
    return (x * 2 - 1 - SHIFT) / SCALE


def _alexnet_stages(backbone: dict, x: np.ndarray) -> list[np.ndarray]:
    """The five ReLU outputs of AlexNet's feature extractor, as float64 arrays (N, C, H, W)."""
    out, h = [], torch.from_numpy(x).float()
    with torch.no_grad():
        for name, stride, padding, pool_first in ALEXNET:
            if pool_first:
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(F.conv2d(h, backbone[f"{name}.weight"], backbone[f"{name}.bias"], stride=stride, padding=padding))
            out.append(h.double().numpy())
    return out


def _reference_lpips(backbone: dict, heads: dict, outputs, references) -> np.ndarray:
    """Eq. 1 of the paper, term by term."""
    total = 0.0
    stages = zip(_alexnet_stages(backbone, _to_input(outputs)), _alexnet_stages(backbone, _to_input(references)),
                 strict=True)
    for layer, (ya, yb) in enumerate(stages):
        ya = ya / (np.sqrt((ya**2).sum(axis=1, keepdims=True)) + 1e-10)  # unit length over channels
        yb = yb / (np.sqrt((yb**2).sum(axis=1, keepdims=True)) + 1e-10)
        w = heads[f"lin{layer}.model.1.weight"].double().numpy().reshape(-1)  # (C,)
        weighted = np.einsum("nchw,c->nhw", (ya - yb) ** 2, w)  # linear weights over channels
        total = total + weighted.mean(axis=(1, 2))  # average over the H_l x W_l positions
    return total  # summed over layers


@pytest.fixture
def weight_files(tmp_path):
    torch.manual_seed(0)
    net = lpips_module.build_lpips_alex()
    backbone = {f"features.{k}": v for k, v in net.features.state_dict().items()}
    backbone["classifier.1.weight"] = torch.zeros(2, 2)  # torchvision files carry the classifier too
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(lpips_module.CHANNELS)}
    torch.save(backbone, tmp_path / "alexnet.pth")
    torch.save(heads, tmp_path / "alex_heads.pth")
    return backbone, heads, str(tmp_path / "alexnet.pth"), str(tmp_path / "alex_heads.pth")


def test_lpips_matches_the_papers_formula(weight_files):
    backbone, heads, backbone_path, heads_path = weight_files
    net = lpips_module.load_lpips(backbone_path, heads_path)
    outs = [random_image(i, (72, 56)) for i in range(3)]
    refs = [random_image(10 + i, (72, 56)) for i in range(3)]
    got = lpips_module.lpips(outs, refs, network=net).numpy()
    expected = _reference_lpips(backbone, heads, outs, refs)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    assert lpips_module.lpips(outs[:1], outs[:1], network=net)[0].item() == pytest.approx(0.0, abs=1e-9)
    assert (got > 0).all()
    # the reference itself is linear in the head weights, as Eq. 1 is
    doubled = {k: 2 * v for k, v in heads.items()}
    np.testing.assert_allclose(_reference_lpips(backbone, doubled, outs, refs), 2 * expected, rtol=1e-12)


def test_lpips_without_weights_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(lpips_module, "_NETWORKS", {})
    with pytest.raises(EditlabError, match="EDITLAB_LPIPS_BACKBONE"):
        lpips_module.load_lpips(str(tmp_path / "nope.pth"), str(tmp_path / "nope2.pth"))


def test_official_head_file_layout_loads(tmp_path):
    # The official v0.1 alex.pth holds exactly these keys and shapes (checked against the lpips wheel).
    heads = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 192, 384, 256, 256))}
    torch.save(heads, tmp_path / "alex.pth")
    backbone = {f"features.{k}": v for k, v in lpips_module.build_lpips_alex().features.state_dict().items()}
    torch.save(backbone, tmp_path / "alexnet.pth")
    net = lpips_module.load_lpips(str(tmp_path / "alexnet.pth"), str(tmp_path / "alex.pth"))
    assert torch.equal(net.heads[2].weight, heads["lin2.model.1.weight"]) and not net.training
