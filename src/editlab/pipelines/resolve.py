"""Where a model comes from and what kind it is: hub id, local diffusers folder, single file, toyworld.

`resolve_model(spec)` looks at a spec without loading weights and returns a `ModelSource`:
its kind ("ip2p" = editlab's InstructPix2Pix pipeline, "sdxl-ip2p" = diffusers' SDXL
InstructPix2Pix / CosXL-edit, "diffusers" = any other diffusers editing pipeline) and origin.
Wrong kinds fail here, before any download of weights, with a one-line `EditlabError`:
a text-to-image checkpoint (UNet with 4 input channels), an inpainting UNet, a folder that is
not a diffusers pipeline, a name that is neither a path nor a hub id.

    >>> resolve_model("./no/such/folder")
    Traceback (most recent call last):
    ...
    editlab.errors.EditlabError: model './no/such/folder': no such file or folder; check the path
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import socket
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from editlab.errors import EditlabError, require

#: names that resolve to a shipped model: the default toyworld editor (a one-step composite model) and
#: the InstructPix2Pix-format toyworld model (a diffusion model that plain diffusers loads)
TOYWORLD = "toyworld"
TOYWORLD_IP2P = "toyworld-ip2p"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
TOYWORLD_MODEL_DIR = ASSETS / "toyworld-editor"
TOYWORLD_IP2P_MODEL_DIR = ASSETS / "toyworld-model"
TOYWORLD_EDITOR_KIND = "toyworld-editor"

IP2P_PIPELINES = {"StableDiffusionInstructPix2PixPipeline", "InstructPix2PixPipeline"}
SDXL_IP2P_PIPELINES = {"StableDiffusionXLInstructPix2PixPipeline"}
#: text-to-image / inpainting pipelines someone may point editlab at by mistake
NOT_EDITING_PIPELINES = {
    "StableDiffusionPipeline", "StableDiffusionXLPipeline", "StableDiffusion3Pipeline", "FluxPipeline",
    "StableDiffusionInpaintPipeline", "StableDiffusionXLInpaintPipeline", "PixArtAlphaPipeline",
    "PixArtSigmaPipeline", "SanaPipeline", "QwenImagePipeline", "StableDiffusionImg2ImgPipeline",
}
LDM_CONV_IN = "model.diffusion_model.input_blocks.0.0.weight"
LDM_SDXL_MARKER = "conditioner.embedders.1."
LDM_EDM_MARKER = "edm_vpred.sigma_max"  # CosXL checkpoints carry their EDM sigmas
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
EXAMPLE_MODELS = "e.g. timbrooks/instruct-pix2pix, a local diffusers folder, or a .safetensors file"


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: enough to load it and to record where it came from."""

    spec: str
    kind: str  # "ip2p" | "sdxl-ip2p" | "diffusers"
    origin: str  # "hub" | "local" | "single-file" | "toyworld"
    location: str  # hub id, folder or file path
    pipeline_class: str | None = None
    revision: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------- resolve


def toyworld_model_path(name: str = TOYWORLD) -> Path:
    """The folder of a shipped toyworld model ('toyworld' or 'toyworld-ip2p'), or a clear error while it is not there."""
    folder = TOYWORLD_IP2P_MODEL_DIR if name == TOYWORLD_IP2P else TOYWORLD_MODEL_DIR
    if not (folder / "model_index.json").is_file():
        raise EditlabError(
            f"the {name} model is not installed ({folder} has no model_index.json); "
            "train it with `editlab train` or pass --model <hub id | diffusers folder | .safetensors>"
        )
    return folder


def resolve_model(spec: str | os.PathLike, *, kind: str | None = None, revision: str | None = None) -> ModelSource:
    """Find out what `spec` is: 'toyworld', a local folder/file, or a hub id ("org/name").

    `kind` forces a kind ("ip2p", "sdxl-ip2p", "diffusers") instead of detecting it.
    """
    text = str(spec).strip()
    if not text:
        raise EditlabError(f"empty model name; pass {EXAMPLE_MODELS}")
    if text in (TOYWORLD, TOYWORLD_IP2P):
        source = _resolve_folder(text, toyworld_model_path(text), origin="toyworld")
    else:
        path = Path(text).expanduser()
        if path.exists():
            source = _resolve_single_file(text, path) if path.is_file() else _resolve_folder(text, path)
        elif _looks_like_path(text):
            raise EditlabError(f"model {text!r}: no such file or folder; check the path")
        elif HUB_ID.match(text):
            source = _resolve_hub(text, revision)
        else:
            close = difflib.get_close_matches(text, [TOYWORLD, TOYWORLD_IP2P], n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise EditlabError(
                f"unknown model {text!r}: not a file, a folder or a hub id (org/name); {hint}"
                f"pass 'toyworld', {EXAMPLE_MODELS}"
            )
    if kind is not None:
        _check_forced_kind(source, kind)
        source = ModelSource(**{**source.to_dict(), "kind": kind})
    return source


def _looks_like_path(text: str) -> bool:
    return (
        text.startswith((".", "/", "~"))
        or os.sep in text and not HUB_ID.match(text)
        or text.endswith((".safetensors", ".ckpt", ".bin", ".pt", ".pth"))
    )


def _check_forced_kind(source: ModelSource, kind: str) -> None:
    if kind not in ("ip2p", "sdxl-ip2p", "diffusers", TOYWORLD_EDITOR_KIND):
        raise EditlabError(f"unknown model kind {kind!r}; choose ip2p, sdxl-ip2p, diffusers or {TOYWORLD_EDITOR_KIND}")
    if kind != "diffusers" and source.kind != kind:
        raise EditlabError(
            f"model {source.spec!r} is a {source.kind} model, not {kind}; use '{source.kind}:{source.spec}' "
            f"or just '{source.spec}'"
        )


def _resolve_folder(spec: str, folder: Path, origin: str = "local") -> ModelSource:
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        hint = ""
        if any(folder.glob("*.safetensors")):
            hint = "; to load a single checkpoint file pass the .safetensors file itself"
        raise EditlabError(
            f"model {spec!r}: {folder} is not a diffusers pipeline folder (no model_index.json){hint}; "
            f"pass {EXAMPLE_MODELS}"
        )
    index = _read_json(index_file, spec)
    if isinstance(index, dict) and index.get("_editlab_kind") == TOYWORLD_EDITOR_KIND:
        return ModelSource(spec=spec, kind=TOYWORLD_EDITOR_KIND, origin=origin, location=str(folder),
                           pipeline_class=str(index.get("_class_name")))
    unet_config = _read_json(folder / "unet" / "config.json", spec) if (folder / "unet" / "config.json").is_file() else None
    vae_config = _read_json(folder / "vae" / "config.json", spec) if (folder / "vae" / "config.json").is_file() else {}
    return _from_index(spec, index, unet_config, origin=origin, location=str(folder), revision=None,
                       latent_channels=int(vae_config.get("latent_channels", 4)))


def _from_index(spec: str, index: dict, unet_config: dict | None, *, origin: str, location: str,
                revision: str | None, latent_channels: int = 4) -> ModelSource:
    pipeline_class = str(index.get("_class_name", ""))
    in_channels = int(unet_config["in_channels"]) if unet_config and "in_channels" in unet_config else None
    details = {"unet_in_channels": in_channels} if in_channels is not None else {}
    # an editing UNet sees the noisy latent and the image latent (and maybe a mask): 2x the VAE's channels
    if in_channels is not None and in_channels < 2 * latent_channels and "unet" in index:
        raise _wrong_kind(spec, in_channels, latent_channels)
    if pipeline_class in IP2P_PIPELINES:
        kind = "ip2p"
    elif pipeline_class in SDXL_IP2P_PIPELINES:
        kind = "sdxl-ip2p"
    elif pipeline_class in NOT_EDITING_PIPELINES:
        if in_channels in (2 * latent_channels, 2 * latent_channels + 1) and pipeline_class == "StableDiffusionPipeline":
            kind = "ip2p"  # an IP2P UNet saved under the text-to-image class name
        else:
            raise EditlabError(
                f"model {spec!r} is a {pipeline_class} (text-to-image or inpainting), not an instruction-"
                f"editing model; use an editing model, {EXAMPLE_MODELS}"
            )
    elif pipeline_class:
        kind = "diffusers"
    else:
        raise EditlabError(f"model {spec!r}: model_index.json names no pipeline class (_class_name); re-save it with diffusers")
    return ModelSource(spec=spec, kind=kind, origin=origin, location=location, pipeline_class=pipeline_class,
                       revision=revision, details=details)


def _wrong_kind(spec: str, in_channels: int, latent_channels: int = 4) -> EditlabError:
    return EditlabError(
        f"model {spec!r} has a UNet with {in_channels} input channels: a text-to-image checkpoint, not an "
        f"InstructPix2Pix editing model ({2 * latent_channels} input channels: noisy latent + image latent); "
        "use an editing checkpoint such as timbrooks/instruct-pix2pix"
    )


def _read_json(path: Path, spec: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EditlabError(f"model {spec!r}: cannot read {path} ({exc}); the download may be incomplete") from None


def _resolve_single_file(spec: str, path: Path) -> ModelSource:
    if path.suffix != ".safetensors":
        raise EditlabError(
            f"model {spec!r}: only .safetensors single files are loaded (pickled .ckpt/.bin files can run code); "
            "convert it to .safetensors or pass a diffusers folder"
        )
    shapes, metadata = read_safetensors_header(path, spec)
    if LDM_CONV_IN not in shapes:
        if "conv_in.weight" in shapes:
            raise EditlabError(
                f"model {spec!r} holds a bare diffusers UNet, not a full checkpoint; put it in a pipeline folder "
                "(unet/diffusion_pytorch_model.safetensors next to vae/, text_encoder/, ...) and pass the folder"
            )
        raise EditlabError(
            f"model {spec!r} is not a Stable Diffusion checkpoint (no {LDM_CONV_IN}); pass an InstructPix2Pix or "
            "CosXL-edit .safetensors file or a diffusers folder"
        )
    in_channels = int(shapes[LDM_CONV_IN][1])
    is_sdxl = any(key.startswith(LDM_SDXL_MARKER) for key in shapes)
    if in_channels == 4:
        raise _wrong_kind(spec, in_channels)
    if in_channels != 8:
        raise EditlabError(
            f"model {spec!r} has a UNet with {in_channels} input channels (an inpainting checkpoint?); editlab loads "
            "InstructPix2Pix single files with 8 input channels; for other layouts pass a diffusers folder"
        )
    details = {"unet_in_channels": in_channels, "cosxl_edit": LDM_EDM_MARKER in shapes or "cosxl" in path.name.lower()}
    return ModelSource(spec=spec, kind="sdxl-ip2p" if is_sdxl else "ip2p", origin="single-file",
                       location=str(path), details=details)


def read_safetensors_header(path: Path, spec: str | None = None) -> tuple[dict[str, list[int]], dict[str, str]]:
    """Tensor shapes and metadata from a .safetensors header, without reading the weights."""
    import struct

    name = spec or str(path)
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError(f"header of {length} bytes")
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error) as exc:
        raise EditlabError(f"model {name!r}: not a readable .safetensors file ({exc}); the file may be truncated") from None
    metadata = header.pop("__metadata__", {}) or {}
    return {key: value.get("shape", []) for key, value in header.items()}, metadata


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host answers a TCP connect within `timeout` seconds (False when HF_HUB_OFFLINE is set)."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve_hub(repo_id: str, revision: str | None) -> ModelSource:
    hub = require("huggingface_hub", "edit")
    from huggingface_hub import errors

    # `errors` holds both (huggingface_hub >= 0.22); `hub.utils` is only an attribute once imported
    not_reachable = tuple(
        cls for cls in (getattr(errors, "LocalEntryNotFoundError", None), getattr(errors, "OfflineModeIsEnabled", None))
        if cls is not None
    )
    # huggingface_hub retries an unreachable host five times (~25 s) before it gives up; one quick probe
    # lets an offline machine use its cache at once, or fail at once with the line below.
    local_only = not hub_reachable()
    try:
        index_path = Path(hub.hf_hub_download(repo_id, "model_index.json", revision=revision,
                                              local_files_only=local_only))
    except not_reachable as exc:  # before EntryNotFoundError: the local miss is a subclass of it
        raise EditlabError(f"model {repo_id!r} is not in the local cache and the hub cannot be reached "
                           f"({type(exc).__name__}); connect to the internet once or pass a local folder") from None
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError) as exc:
        raise EditlabError(f"model {repo_id!r} not found on the Hugging Face hub ({type(exc).__name__}); check the id "
                           "and revision, or log in (`hf auth login`) for a gated or private model") from None
    except errors.EntryNotFoundError:
        raise EditlabError(f"model {repo_id!r} has no model_index.json: it is not a diffusers pipeline; pass a "
                           "diffusers pipeline repo or a .safetensors file") from None
    except OSError as exc:
        raise EditlabError(f"model {repo_id!r}: the hub cannot be reached ({type(exc).__name__}: {exc}); "
                           "check the connection or pass a local folder") from None
    snapshot = index_path.parent
    unet_config = None
    try:
        unet_config = json.loads(Path(hub.hf_hub_download(repo_id, "unet/config.json", revision=revision,
                                                          local_files_only=local_only)).read_text())
    except Exception:  # noqa: BLE001 - pipelines without a UNet (Flux, Qwen) have none
        unet_config = None
    latent_channels = 4
    if unet_config is not None:
        try:
            vae_config = json.loads(Path(hub.hf_hub_download(repo_id, "vae/config.json", revision=revision)).read_text())
            latent_channels = int(vae_config.get("latent_channels", 4))
        except Exception:  # noqa: BLE001 - keep SD's 4 latent channels when the VAE config is absent
            pass
    commit = snapshot.name if re.fullmatch(r"[0-9a-f]{40}", snapshot.name) else revision
    return _from_index(repo_id, _read_json(index_path, repo_id), unet_config, origin="hub", location=repo_id,
                       revision=commit, latent_channels=latent_channels)


# ---------------------------------------------------------------------------------------- fingerprint


def weights_fingerprint(source: ModelSource) -> str:
    """What exactly was loaded: the hub commit, or a sha256 over the local weight files."""
    if source.origin == "hub":
        return f"hub:{source.location}@{source.revision or 'main'}"
    path = Path(source.location)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".json", ".txt", ".model")
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"
