"""Device, dtype and provenance helpers shared by every model-backed stage.

Models are named explicitly: a hub id (`openai/clip-vit-large-patch14`), a local folder, or
`tiny` (a tiny random model built in code, for plumbing tests; never downloaded).
"""

from __future__ import annotations

import hashlib
from typing import Any

from editlab.errors import EditlabError, require


def resolve_dtype(dtype: str, device: str, torch=None):
    """`auto`: fp16 on GPU, fp32 on CPU (bf16 is faster on AMX CPUs; ask for it explicitly)."""
    torch = torch or require("torch", "data")
    if dtype == "auto":
        return torch.float16 if device.startswith("cuda") else torch.float32
    try:
        return {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
                "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise EditlabError(f"dtype {dtype!r} unknown; use auto, fp32, fp16 or bf16") from None


def weights_hash(*modules: Any) -> str:
    """Provenance of weights: the hub commit when known, else a sha256 of every parameter's bytes."""
    torch = require("torch", "data")
    commits = []
    for module in modules:
        config = getattr(module, "config", None)
        commit = getattr(config, "_commit_hash", None) if config is not None else None
        if commit:
            commits.append(str(commit))
    if len(commits) == len(modules):
        return "hub:" + ",".join(commits)[:64]
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return "sha256:" + digest.hexdigest()[:16]
