"""Every command-line setting that more than one command takes, defined once.

One name per setting across the CLI, Python, configs and the API: the editing parameters use
diffusers' names (`--guidance-scale`, `--image-guidance-scale`, `--num-inference-steps`), which are
also the keys of `EditRequest.params`, of session turns and of `editlab serve`'s form fields. The
model is `--model` and the output `-o/--out` in every command. Spellings used by earlier editlab
versions stay accepted as hidden aliases (`--text-guidance`, `--steps`, `--editor`, ...), so old
scripts keep working while `--help` shows one name.

The defaults are the model's: the shipped toyworld editor edits in one forward pass (no steps, no
guidance), a diffusion model folder may recommend its own (`editlab_inference.json`), and
otherwise editlab's IP2P defaults apply. `--help` says so instead of printing a number that the
default model would not use.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from editlab.errors import EditlabError
from editlab.pipelines.model_defaults import IP2P_DEFAULTS

IP2P_DEFAULTS_TEXT = ("{num_inference_steps} steps, guidance {guidance_scale}, image guidance {image_guidance_scale}, "
                      "{scheduler}").format(**IP2P_DEFAULTS)
MODEL_DEFAULTS_HELP = ("default: the model's own; the shipped toyworld editor takes none (one forward pass), "
                       f"an IP2P model {IP2P_DEFAULTS_TEXT} unless its folder recommends others")

# (name, Python/API key, hidden aliases, type, help)
EDITING_PARAMETERS: tuple[tuple[str, str, tuple[str, ...], Any, str], ...] = (
    ("--num-inference-steps", "num_inference_steps", ("--steps",), int, "denoising steps"),
    ("--guidance-scale", "guidance_scale", ("--text-guidance", "--text-scale"), float, "text guidance scale s_T"),
    ("--image-guidance-scale", "image_guidance_scale", ("--image-guidance", "--image-scale"), float,
     "image guidance scale s_I"),
)
SCALE_LISTS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("--guidance-scales", "guidance_scales", ("--text-scales",), "comma-separated text guidance scales"),
    ("--image-guidance-scales", "image_guidance_scales", ("--image-scales", "--sweep-image-guidance"),
     "comma-separated image guidance scales"),
)


def _hidden_aliases(parser: Any, aliases: tuple[str, ...], dest: str, **kwargs: Any) -> None:
    """Old spellings that still work but are not shown: same destination, help suppressed."""
    for alias in aliases:
        parser.add_argument(alias, dest=dest, help=argparse.SUPPRESS, **kwargs)


def add_model(parser: Any, *, default: str | None = "toyworld", help: str | None = None,
              aliases: tuple[str, ...] = ()) -> None:
    """`--model`: a model name, folder, hub id, file or service (`editlab edit --help` lists the kinds)."""
    text = help or ("toyworld (the shipped editor), toyworld-ip2p, a diffusers folder or hub id, a .safetensors "
                    "file, http:URL (an OpenAI-compatible endpoint), identity or precomputed:FOLDER")
    if default:
        text += f" (default {default})"
    parser.add_argument("--model", default=default, metavar="MODEL", help=text)
    _hidden_aliases(parser, aliases, "model")


def add_output(parser: Any, *, help: str, required: bool = False, aliases: tuple[str, ...] = ()) -> None:
    parser.add_argument("-o", "--out", required=required, help=help)
    _hidden_aliases(parser, aliases, "out")


def add_editing_parameters(parser: Any, *, seed_default: int | None = 0, seed_help: str = "random seed",
                           title: str = "editing parameters") -> Any:
    """The sampling settings every editing command shares; returns the argument group."""
    group = parser.add_argument_group(title, MODEL_DEFAULTS_HELP)
    for name, dest, aliases, kind, text in EDITING_PARAMETERS:
        group.add_argument(name, dest=dest, type=kind, help=text)
        _hidden_aliases(group, aliases, dest, type=kind)
    group.add_argument("--scheduler", help="solver: dpm++2m, euler-ancestral, euler, unipc, ddim, ... "
                                           "(diffusion models only)")
    group.add_argument("--negative-prompt", help="text to steer away from (diffusion models only)")
    if seed_default is not None:
        seed_help += f" (default {seed_default})"
    group.add_argument("--seed", type=int, default=seed_default, help=seed_help)
    group.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                       help="any other editor parameter; VALUE is read as JSON when it parses (repeatable)")
    return group


def add_scale_lists(parser: Any) -> None:
    """The scale grids of a guidance sweep (`edit --sweep`, `bench`, the web app's sweep)."""
    for name, dest, aliases, text in SCALE_LISTS:
        parser.add_argument(name, dest=dest, help=text)
        _hidden_aliases(parser, aliases, dest)


def editing_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The editing parameters given on the command line, keyed by their Python/API names; checked."""
    params: dict[str, Any] = parse_key_values(getattr(args, "param", None), "--param")
    for _name, dest, _, _, _ in EDITING_PARAMETERS:
        value = getattr(args, dest, None)
        if value is not None:
            params[dest] = value
    negative = getattr(args, "negative_prompt", None)
    if negative is not None:
        params["negative_prompt"] = negative
    steps = params.get("num_inference_steps")
    if steps is not None and (not isinstance(steps, int) or steps < 1):
        raise EditlabError(f"--num-inference-steps must be a whole number >= 1, got {steps}")
    for key in ("guidance_scale", "image_guidance_scale"):
        value = params.get(key)
        if value is not None and (not isinstance(value, (int, float)) or value < 0):
            raise EditlabError(f"--{key.replace('_', '-')} must be a number >= 0, got {value}")
    return params


def scale_list(args: argparse.Namespace, dest: str) -> tuple[float, ...]:
    """A parsed `--guidance-scales` / `--image-guidance-scales` (empty when not given)."""
    text = getattr(args, dest, None)
    if text is None:
        return ()
    flag = "--" + dest.replace("_", "-")
    values = []
    for item in text.split(","):
        try:
            values.append(float(item))
        except ValueError:
            raise EditlabError(f"{flag} {text!r}: expected numbers separated by commas, e.g. {flag} 1,1.5,2") from None
    if not values:
        raise EditlabError(f"{flag} is empty; give at least one scale, e.g. {flag} 1,1.5,2")
    return tuple(values)


def parse_key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """`KEY=VALUE` pairs; values read as JSON when they are JSON (numbers, true/false), else strings."""
    parsed: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EditlabError(f"{flag} {pair!r} is not KEY=VALUE; write e.g. {flag} {_EXAMPLES.get(flag, 'key=1')}")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    return parsed


_EXAMPLES = {"--param": "strength=0.8", "--option": "setting=all-turn", "--encoder": "clip=openai/clip-vit-large-patch14"}
