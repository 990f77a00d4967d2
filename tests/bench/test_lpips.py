"""LPIPS without torchvision: our network against the formula written out with torch.nn.functional."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from bench_helpers import random_image

from editlab.bench.metrics import lpips as lpips_module
from editlab.errors import EditlabError


def _reference_lpips(backbone: dict, heads: dict, a, b):
    """LPIPS v0.1 written out step by step from the paper/official code, independent of our module."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def features(x):
        x = (x - shift) / scale
        feats = []
        x = F.relu(F.conv2d(x, backbone["features.0.weight"], backbone["features.0.bias"], stride=4, padding=2))
        feats.append(x)
        x = F.max_pool2d(x, 3, 2)
        x = F.relu(F.conv2d(x, backbone["features.3.weight"], backbone["features.3.bias"], padding=2))
        feats.append(x)
        x = F.max_pool2d(x, 3, 2)
        x = F.relu(F.conv2d(x, backbone["features.6.weight"], backbone["features.6.bias"], padding=1))
        feats.append(x)
        x = F.relu(F.conv2d(x, backbone["features.8.weight"], backbone["features.8.bias"], padding=1))
        feats.append(x)
        x = F.relu(F.conv2d(x, backbone["features.10.weight"], backbone["features.10.bias"], padding=1))
        feats.append(x)
        return feats

    total = 0
    for k, (fa, fb) in enumerate(zip(features(a), features(b), strict=False)):
        fa = fa / (torch.sqrt((fa**2).sum(1, keepdim=True)) + 1e-10)
        fb = fb / (torch.sqrt((fb**2).sum(1, keepdim=True)) + 1e-10)
        total = total + F.conv2d((fa - fb) ** 2, heads[f"lin{k}.model.1.weight"]).mean(dim=(2, 3))
    return total.flatten()


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


def test_lpips_matches_the_written_out_formula(weight_files):
    backbone, heads, backbone_path, heads_path = weight_files
    net = lpips_module.load_lpips(backbone_path, heads_path)
    outs = [random_image(i, (64, 64)) for i in range(3)]
    refs = [random_image(10 + i, (64, 64)) for i in range(3)]
    got = lpips_module.lpips(outs, refs, network=net)
    a = torch.stack([torch.from_numpy(lpips_module.to_unit_array(o)).permute(2, 0, 1) for o in outs]) * 2 - 1
    b = torch.stack([torch.from_numpy(lpips_module.to_unit_array(r)).permute(2, 0, 1) for r in refs]) * 2 - 1
    with torch.no_grad():
        expected = _reference_lpips(backbone, heads, a, b).double()
    assert torch.allclose(got, expected, atol=1e-6)
    assert lpips_module.lpips(outs[:1], outs[:1], network=net)[0].item() == pytest.approx(0.0, abs=1e-9)
    assert (got > 0).all()


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
