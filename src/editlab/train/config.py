"""The training configuration: one typed dataclass, YAML files, `--key value` overrides.

Precedence: command line > config file > defaults. Unknown keys fail with a did-you-mean; values
are checked against the field's type. The resolved config is written next to the outputs
(`<output_dir>/config.yaml`) so every run records exactly what it did.

    >>> cfg = load_config(None, ["--max_steps", "10", "--model", "preset:tiny"])
    >>> cfg.max_steps, cfg.model
    (10, 'preset:tiny')
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from editlab.errors import EditlabError

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
LMTL_MODES = ("none", "inverse_frequency", "gradnorm")
LR_SCHEDULES = ("constant", "constant_with_warmup", "linear", "cosine")
ATTENTION = ("auto", "sdpa", "sliced")
DATA_FORMATS = ("auto", "editlab", "hf", "webdataset", "toyworld")


@dataclass
class TrainConfig:
    """Everything `editlab train` needs; each field is also a `--field value` command-line flag."""

    # --- model -------------------------------------------------------------------------------
    #: "preset:NAME" builds components from scratch (tiny, toyworld); otherwise a diffusers folder or
    #: hub id of a text-to-image model (SD 1.5: the first conv is widened) or an IP2P model.
    model: str = "preset:tiny"
    revision: str | None = None
    #: preset sizes overridden, e.g. {unet_channels: [64, 128]} (see editlab.models.ComponentSpec)
    model_overrides: dict[str, Any] = field(default_factory=dict)
    #: word list for a from-scratch tokenizer: "toyworld" or a text file with one word per line
    vocabulary: str = "toyworld"
    train_text_encoder: bool = False
    #: steps of VAE training (reconstruction) before the diffusion model, for from-scratch VAEs
    vae_steps: int = 0
    vae_learning_rate: float = 1e-3
    vae_batch_size: int = 32
    #: UltraEdit-style region conditioning: one extra input channel with the edit mask (all ones
    #: = edit anywhere, for free-form examples without a mask)
    mask_conditioning: bool = False
    prediction_type: str | None = None
    #: "identity": a preset UNet starts out returning its source image (x0-prediction only; see
    #: editlab.train.identity_init), so a short run learns the change instead of the copy
    unet_init: str = "default"

    # --- data --------------------------------------------------------------------------------
    #: sources: editlab shard folders/files, HF dataset ids or folders, .tar files/globs, "toyworld"
    data: list[str] = field(default_factory=lambda: ["toyworld"])
    data_format: str = "auto"
    #: dataset column -> editlab field, e.g. {source: original_image, edited: edited_image, instruction: edit_prompt}
    column_map: dict[str, str] = field(default_factory=dict)
    #: built-in column names of a known dataset: ip2p, magicbrush, ultraedit, omniedit
    column_preset: str | None = None
    split: str = "train"
    max_examples: int | None = None
    #: size of the on-the-fly toyworld source and its task filter (None = all tasks, balanced)
    toyworld_examples: int = 10000
    toyworld_tasks: list[str] = field(default_factory=list)
    resolution: int = 64
    #: aspect-ratio buckets: equal-size batches from mixed-size data, no cropping
    buckets: bool = False
    #: precompute VAE latents (and text embeddings when the text encoder is frozen)
    cache: bool = False
    cache_dir: str | None = None
    #: processes that generate/decode data while the cache is built (each with one thread)
    data_workers: int = 1

    # --- the IP2P recipe ---------------------------------------------------------------------
    #: each of: drop text only, drop image only, drop both (one uniform draw per example)
    conditioning_dropout: float = 0.05
    #: timesteps drawn as T * u**(1/p): p > 1 trains more on high noise, where an edit is decided
    timestep_bias_power: float = 1.0

    # --- optimisation ------------------------------------------------------------------------
    seed: int = 0
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    max_steps: int = 100
    #: stop (checkpoint, export) when the whole run has taken this long; None = no limit
    time_budget_minutes: float | None = None
    learning_rate: float = 1e-4
    text_encoder_learning_rate: float | None = None
    lr_schedule: str = "constant_with_warmup"
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    weight_decay: float = 1e-2
    max_grad_norm: float = 1.0
    use_ema: bool = True
    ema_decay: float = 0.9999
    #: "auto": bf16 where the hardware runs it fast (CUDA with bf16, CPU with AMX), else fp32
    mixed_precision: str = "auto"
    gradient_checkpointing: bool = False
    channels_last: bool = False
    #: "auto": cache-sized slices of classic attention on a CPU for a UNet with small heads (<= 16
    #: channels, train/attention.py), diffusers' default (SDPA) otherwise; "sdpa" or "sliced" to choose
    attention: str = "auto"

    # --- multi-task (MultiEdit) ----------------------------------------------------------------
    #: DMTL: group name -> tasks, e.g. {hard: [count, text], easy: [color, style]}
    task_groups: dict[str, list[str]] = field(default_factory=dict)
    #: DMTL schedule: [{until_step: 2000, weights: {hard: 3, easy: 1}}, {weights: {...}}]; empty = off
    dmtl_stages: list[dict[str, Any]] = field(default_factory=list)
    #: LMTL: per-sample loss weights by inverse group frequency in the batch, or by gradient norm
    lmtl: str = "none"

    # --- outputs -----------------------------------------------------------------------------
    output_dir: str = "runs/train"
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    #: oracle evaluation on held-out toyworld cases every N steps (0 = off)
    eval_every: int = 0
    eval_examples: int = 64
    eval_inference_steps: int = 20
    export: bool = True
    #: where the diffusers folder goes (default <output_dir>/model)
    export_dir: str | None = None
    export_dtype: str = "fp16"
    inference_scheduler: str = "euler_ancestral"
    inference_steps: int = 20
    guidance_scale: float = 7.5
    image_guidance_scale: float = 1.5
    report_to: str | None = None
    resume: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        def bad(name: str, why: str) -> EditlabError:
            return EditlabError(f"config {name}={getattr(self, name)!r}: {why}")

        if self.mixed_precision not in MIXED_PRECISION:
            raise bad("mixed_precision", f"choose one of {', '.join(MIXED_PRECISION)}")
        if self.attention not in ATTENTION:
            raise bad("attention", f"choose one of {', '.join(ATTENTION)}")
        if self.lmtl not in LMTL_MODES:
            raise bad("lmtl", f"choose one of {', '.join(LMTL_MODES)}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise bad("lr_schedule", f"choose one of {', '.join(LR_SCHEDULES)}")
        if self.data_format not in DATA_FORMATS:
            raise bad("data_format", f"choose one of {', '.join(DATA_FORMATS)}")
        if not 0 <= self.conditioning_dropout <= 1 / 3:
            raise bad("conditioning_dropout", "must be in [0, 1/3] (three events of this probability each)")
        for name in ("batch_size", "gradient_accumulation_steps", "resolution", "log_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise bad(name, "must be at least 1")
        if self.max_steps < 0:
            raise bad("max_steps", "must be >= 0")
        if self.unet_init not in ("default", "identity"):
            raise bad("unet_init", "choose default or identity")
        if self.unet_init == "identity" and self.prediction_type != "sample":
            raise bad("unet_init", "identity init needs prediction_type: sample (the UNet then outputs the image)")
        if self.unet_init == "identity" and not self.model.startswith("preset:"):
            raise bad("unet_init", "identity init is for models built from scratch (model: preset:NAME)")
        if self.timestep_bias_power <= 0:
            raise bad("timestep_bias_power", "must be > 0 (1 = uniform timesteps)")
        if self.resolution % 8:
            raise bad("resolution", "must be a multiple of 8")
        if self.export_dtype not in ("fp16", "fp32", "bf16"):
            raise bad("export_dtype", "choose fp16, bf16 or fp32")
        if not self.data:
            raise bad("data", "give at least one data source")
        if self.dmtl_stages and not self.task_groups:
            raise bad("dmtl_stages", "DMTL needs task_groups (group name -> list of tasks)")
        if self.lmtl != "none" and not self.task_groups:
            raise bad("lmtl", "LMTL needs task_groups (group name -> list of tasks)")
        for i, stage in enumerate(self.dmtl_stages):
            unknown = set(stage.get("weights", {})) - set(self.task_groups) - {"other"}
            if not isinstance(stage, dict) or "weights" not in stage:
                raise EditlabError(f"config dmtl_stages[{i}]: each stage needs 'weights' (and 'until_step' except the last)")
            if unknown:
                raise EditlabError(f"config dmtl_stages[{i}]: unknown groups {sorted(unknown)}; define them in task_groups")
        return self


def _field_types(config_class: type = None) -> dict[str, Any]:  # type: ignore[assignment]
    return typing.get_type_hints(config_class or TrainConfig)


def _unknown_key(key: str, where: str, config_class: type | None = None) -> EditlabError:
    names = [f.name for f in dataclasses.fields(config_class or TrainConfig)]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return EditlabError(f"unknown config key {key!r} ({where}): {hint}see `editlab train --help` for the keys")


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(key: str, value: Any, tp: Any | None = None) -> Any:
    """Check/convert `value` for field `key`; strings (from the command line) are parsed as YAML."""
    tp = _field_types()[key] if tp is None else tp
    base, optional = _strip_optional(tp)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and optional):
        if optional:
            return None
        raise EditlabError(f"config {key}: a value is required (got none)")
    origin = typing.get_origin(base)
    expected = getattr(base, "__name__", str(base))
    if isinstance(value, str) and base is not str:
        value = _parse_string(key, value, base, origin)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            raise TypeError
        if base is int:
            if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
                raise TypeError
            return int(value)
        if base is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            return float(value)
        if base is str:
            if not isinstance(value, (str, int, float)) or isinstance(value, bool):
                raise TypeError
            return str(value)
        if origin is list:
            (item_type,) = typing.get_args(base)
            if not isinstance(value, (list, tuple)):
                value = [value]
            return [value_ if item_type is Any else coerce(key, value_, item_type) for value_ in value]
        if origin is dict:
            if not isinstance(value, dict):
                raise TypeError
            _, value_type = typing.get_args(base)
            return {str(k): (v if value_type is Any else coerce(key, v, value_type)) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise EditlabError(f"config {key}: expected {expected}, got {value!r}")


def _parse_string(key: str, text: str, base: Any, origin: Any) -> Any:
    if base is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise EditlabError(f"config {key}: expected true/false, got {text!r}")
    if origin is dict and "=" in text and not text.strip().startswith("{"):
        # --column_map source=original_image,edited=edited_image
        pairs = [p.split("=", 1) for p in text.split(",") if p.strip()]
        if any(len(p) != 2 for p in pairs):
            raise EditlabError(f"config {key}: expected key=value,key=value, got {text!r}")
        return {k.strip(): v.strip() for k, v in pairs}
    if origin is list and not text.strip().startswith("["):
        return [_scalar(part.strip()) for part in text.split(",") if part.strip()]
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EditlabError(f"config {key}: cannot parse {text!r} ({exc.__class__.__name__})") from None


def _scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(argv: list[str]) -> dict[str, str | bool]:
    """`["--max_steps", "10", "--use-ema", "false", "--resume"]` -> {"max_steps": "10", ...}."""
    out: dict[str, str | bool] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--"):
            raise EditlabError(f"unexpected argument {token!r}; overrides are written --key value")
        key, eq, inline = token[2:].partition("=")
        key = key.replace("-", "_")
        if eq:
            out[key] = inline
            i += 1
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out[key] = argv[i + 1]
            i += 2
        else:
            out[key] = "true"  # a bare flag: --resume, --buckets
            i += 1
    return out


def read_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML config file, or a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise EditlabError(f"config file {path} not found; pass a YAML file such as configs/train/tiny.yaml")
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EditlabError(f"config file {path} is not valid YAML ({exc}); fix the syntax") from None
    if not isinstance(loaded, dict):
        raise EditlabError(f"config file {path} must be a mapping of key: value")
    return loaded


def config_architecture(path: str | os.PathLike | None) -> str:
    """Which trainer a config file is for: its `architecture` key, "ip2p" when it has none."""
    return str(read_config_file(path).get("architecture", "ip2p")) if path is not None else "ip2p"


def load_config(path: str | os.PathLike | None, overrides: list[str] | dict[str, Any] | None = None,
                config_class: type | None = None) -> Any:
    """Defaults, then the YAML file at `path`, then `overrides` (argv list or dict); validated.

    `config_class` is the dataclass to fill (default `TrainConfig`, the IP2P trainer's)."""
    config_class = config_class or TrainConfig
    values: dict[str, Any] = {}
    types_ = _field_types(config_class)
    if path is not None:
        for key, value in read_config_file(path).items():
            if key not in types_:
                raise _unknown_key(key, str(path), config_class)
            values[key] = coerce(key, value, types_[key])
    if isinstance(overrides, list):
        overrides = parse_overrides(overrides)
    for key, value in (overrides or {}).items():
        key = key.replace("-", "_")
        if key not in types_:
            raise _unknown_key(key, "command line", config_class)
        values[key] = coerce(key, value, types_[key])
    return config_class(**values).validate()


def save_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    from editlab.io.atomic import write_text

    return write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
