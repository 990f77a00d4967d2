"""Shared request handling for the model editors: instruction checks, seeds, parameter names.

Every backend accepts the same parameter names in `EditRequest.params` (diffusers' names):
num_inference_steps, guidance_scale (text scale), image_guidance_scale, negative_prompt,
scheduler; backends add their own. Unknown names are an error, not silently ignored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from editlab.errors import EditlabError
from editlab.types import EditRequest

#: short names people type -> the shared (diffusers) names
ALIASES = {
    "steps": "num_inference_steps",
    "text_guidance": "guidance_scale",
    "text_scale": "guidance_scale",
    "image_guidance": "image_guidance_scale",
    "image_scale": "image_guidance_scale",
}


def check_instruction(instruction: Any) -> str:
    if not isinstance(instruction, str) or not instruction.strip():
        raise EditlabError('empty instruction; say what to change, e.g. "make the sky purple"')
    return instruction.strip()


def normalize_params(params: Mapping[str, Any], accepted: Iterable[str], backend: str) -> dict[str, Any]:
    """Map aliases to shared names and refuse names this backend does not understand."""
    accepted = set(accepted)
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = ALIASES.get(key, key)
        if name not in accepted:
            raise EditlabError(
                f"the {backend} editor has no parameter {key!r}; it accepts: {', '.join(sorted(accepted))}"
            )
        out[name] = value
    return out


def request_seed(request: EditRequest) -> int:
    """The request's seed, or a fresh random one (recorded in provenance, so any output can be redone)."""
    return int(request.seed) if request.seed is not None else secrets.randbelow(2**31)


def validate_request(request: EditRequest) -> str:
    instruction = check_instruction(request.instruction)
    if request.mask is not None and request.mask.size != request.image.size:
        raise EditlabError(
            f"mask is {request.mask.size[0]}x{request.mask.size[1]} but the image is "
            f"{request.image.size[0]}x{request.image.size[1]}; pass a mask of the same size"
        )
    return instruction
