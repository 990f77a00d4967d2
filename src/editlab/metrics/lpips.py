"""LPIPS (Zhang et al. 2018, v0.1, AlexNet) without torchvision.

torchmetrics' and the `lpips` package's LPIPS import torchvision, which editlab cannot depend on.
The network is small, so it is rebuilt here in plain torch with the same parameter names as
torchvision's `alexnet().features`, and loads:

- the AlexNet backbone weights (torchvision's published `alexnet-owt-7be5be79.pth`, fetched with
  `torch.hub.load_state_dict_from_url`, or a local file), and
- the official LPIPS linear heads (`lpips/weights/v0.1/alex.pth` of the PerceptualSimilarity repo,
  URL or local file).

Set `EDITLAB_LPIPS_BACKBONE` / `EDITLAB_LPIPS_HEADS` to local copies to run offline. The heads
also ship inside the `lpips` wheel (`pip download --no-deps lpips`); when that package is
installed its file is found without importing it (importing it needs torchvision).
Formula: features of 5 ReLU stages, unit-normalised over channels, squared difference, 1x1 conv
head (non-negative weights), spatial mean, summed over stages. Inputs are scaled to [-1, 1] then
shifted/scaled by the LPIPS ScalingLayer constants.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from editlab.errors import EditlabError, require
from editlab.metrics.pixel import match_size, to_unit_array

BACKBONE_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
HEADS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"
CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def build_lpips_alex():
    """The LPIPS-Alex network with random weights (load real ones with `load_lpips`)."""
    torch = require("torch", "bench")
    nn = torch.nn

    class LPIPSAlex(nn.Module):
        def __init__(self):
            super().__init__()
            # Same indices as torchvision.models.alexnet().features, so its state dict loads as is.
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
                nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
                nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
            )
            self.taps = (1, 4, 7, 9, 11)  # outputs of relu1..relu5
            self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
            self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
            self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

        def stages(self, x):
            x = (x - self.shift) / self.scale
            found = []
            for index, layer in enumerate(self.features):
                x = layer(x)
                if index in self.taps:
                    found.append(x)
            return found

        def forward(self, a, b):
            """a, b: (N,3,H,W) in [-1, 1]; returns (N,) distances."""
            total = 0
            for head, fa, fb in zip(self.heads, self.stages(a), self.stages(b), strict=False):
                fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
                total = total + head((fa - fb) ** 2).mean(dim=(2, 3))
            return total.flatten()

    return LPIPSAlex()


def _load_state(source: str):
    torch = require("torch", "bench")
    try:
        if source.startswith(("http://", "https://")):
            return torch.hub.load_state_dict_from_url(source, map_location="cpu", progress=False)
        return torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # network, missing file, bad pickle: one actionable message
        raise EditlabError(
            f"cannot load LPIPS weights from {source} ({type(exc).__name__}: {exc}); download the file and "
            "set EDITLAB_LPIPS_BACKBONE (AlexNet) / EDITLAB_LPIPS_HEADS (LPIPS v0.1 alex.pth) to its path"
        ) from None


_NETWORKS: dict[tuple[str, str], object] = {}


def installed_heads() -> str | None:
    """The heads file of an installed `lpips` package, located without importing it."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / "alex.pth"
    return str(path) if path.exists() else None


def load_lpips(backbone: str | None = None, heads: str | None = None):
    """The LPIPS-Alex network in eval mode, frozen, with real weights (cached per source)."""
    backbone = backbone or os.environ.get("EDITLAB_LPIPS_BACKBONE") or BACKBONE_URL
    heads = heads or os.environ.get("EDITLAB_LPIPS_HEADS") or installed_heads() or HEADS_URL
    if (backbone, heads) not in _NETWORKS:
        net = build_lpips_alex()
        features = {k.removeprefix("features."): v for k, v in _load_state(backbone).items() if k.startswith("features.")}
        net.features.load_state_dict(features)
        head_state = _load_state(heads)  # keys lin<k>.model.1.weight
        for index, head in enumerate(net.heads):
            head.weight.data.copy_(head_state[f"lin{index}.model.1.weight"])
        _NETWORKS[(backbone, heads)] = net.eval().requires_grad_(False)
    return _NETWORKS[(backbone, heads)]


def lpips(outputs: Sequence[Image.Image], references: Sequence[Image.Image], *, network=None, batch_size: int = 16):
    """Per-pair LPIPS-Alex distance (lower = more similar); outputs resized (bicubic) to the reference size."""
    torch = require("torch", "bench")
    if len(outputs) != len(references):
        raise EditlabError(f"got {len(outputs)} outputs but {len(references)} references; pass one per output")
    net = network if network is not None else load_lpips()
    net.eval()
    values = torch.zeros(len(outputs), dtype=torch.float64)
    groups: dict[tuple[int, int], list[int]] = {}
    for index, reference in enumerate(references):
        groups.setdefault(reference.size, []).append(index)
    with torch.inference_mode():
        for indices in groups.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                a = np.stack([to_unit_array(match_size(outputs[i], references[i])) for i in chunk])
                b = np.stack([to_unit_array(references[i]) for i in chunk])
                a = torch.from_numpy(a).permute(0, 3, 1, 2) * 2 - 1
                b = torch.from_numpy(b).permute(0, 3, 1, 2) * 2 - 1
                values[chunk] = net(a, b).double()
    return values
