"""Presets: each paper's pipeline as a YAML file of stages (src/editlab/data/presets/<name>.yaml).

A preset holds `name`, `description`, `reference`, `defaults` (n, shard_size, ...) and `stages`, a
list of `{stage: <registered name>, <parameter>: <value>, ...}`. Overrides address a stage by name
(every stage of that name) or by position:

    >>> spec = resolve_stages("ip2p", overrides={"clip-filter": {"top_k": 2}})   # doctest: +SKIP
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from editlab.errors import EditlabError

PRESET_DIR = Path(__file__).with_name("presets")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(preset: str) -> dict[str, Any]:
    """A preset by name, or a YAML file of the same layout."""
    path = Path(preset)
    if not (preset.endswith((".yaml", ".yml")) and path.is_file()):
        path = PRESET_DIR / f"{preset}.yaml"
    if not path.is_file():
        import difflib

        close = difflib.get_close_matches(preset, list_presets(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"unknown data preset {preset!r}: {hint}choose one of {', '.join(list_presets())} "
                           "or pass a .yaml file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EditlabError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("stages"), list) or not data["stages"]:
        raise EditlabError(f"{path}: a preset needs a 'stages:' list; see docs/adding-a-stage.md")
    data.setdefault("name", path.stem)
    data.setdefault("defaults", {})
    return data


def _matches(key: str, index: int, name: str) -> bool:
    return key == name or key == str(index) or key.replace("_", "-") == name


def resolve_stages(preset: dict[str, Any] | str, *, tiny: bool = False,
                   overrides: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The preset's stage list with tiny-model substitutions (if `tiny`) and then `overrides` applied."""
    from editlab.data.stages import check_params, stage_class

    data = load_preset(preset) if isinstance(preset, str) else preset
    stages = copy.deepcopy(data["stages"])
    overrides = dict(overrides or {})
    used: set[str] = set()
    for index, entry in enumerate(stages):
        if not isinstance(entry, dict) or "stage" not in entry:
            raise EditlabError(f"preset {data['name']!r} stage {index}: expected a mapping with a 'stage' key")
        cls = stage_class(entry["stage"])
        if tiny:  # tiny models run anywhere: no GPU requests
            entry.update({**copy.deepcopy(cls.tiny_overrides), "num_gpus": 0})
        for key, values in overrides.items():
            if _matches(str(key), index, entry["stage"]):
                check_params(cls, values)
                entry.update(values)
                used.add(key)
    unknown = [key for key in overrides if key not in used]
    if unknown:
        import difflib

        names = ", ".join(f"{i}:{e['stage']}" for i, e in enumerate(stages))
        close = difflib.get_close_matches(str(unknown[0]), [e["stage"] for e in stages], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise EditlabError(f"overrides for {unknown} match no stage of preset {data['name']!r}: {hint}its stages are {names}")
    return stages


def parse_set_option(items: list[str]) -> dict[str, dict[str, Any]]:
    """`["clip-filter.top_k=2", "3.model=tiny"]` -> `{"clip-filter": {"top_k": 2}, "3": {"model": "tiny"}}`."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        stage, dot, key = target.partition(".")
        if not sep or not dot or not stage or not key:
            raise EditlabError(f"--set {item!r}: write STAGE.PARAM=VALUE, e.g. --set clip-filter.top_k=2")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        overrides.setdefault(stage, {})[key] = parsed
    return overrides
