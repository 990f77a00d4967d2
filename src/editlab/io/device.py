"""Which device torch work runs on: one rule for editing, data, metrics and training.

An explicit choice wins (`--device`, a `device=` argument); then the `EDITLAB_DEVICE`
environment variable; then the best available: CUDA, Apple's MPS, the CPU. Asking for a device
this torch cannot use fails with one line saying what to do instead of a deep torch traceback.
"""

from __future__ import annotations

import os

from editlab.errors import EditlabError, require

ENV = "EDITLAB_DEVICE"


def resolve_device(device: str | None = None, *, extra: str = "edit") -> str:
    """`device` checked, or the default one ("auto" and None mean: choose)."""
    torch = require("torch", extra)
    choice = device if device and device != "auto" else os.environ.get(ENV) or None
    if choice is None:
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    kind = choice.split(":", 1)[0]
    if kind == "cuda" and not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
        raise EditlabError(f"device {choice!r}: this torch has no CUDA ({build}); pass --device cpu, or install a "
                           "CUDA build of torch on a machine with an NVIDIA GPU")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EditlabError(f"device {choice!r}: Apple's MPS is not available here; pass --device cpu")
    if kind not in ("cpu", "cuda", "mps", "xpu", "meta"):
        raise EditlabError(f"unknown device {choice!r}; choose cpu, cuda, cuda:N or mps")
    return choice
