"""`build_dataset`: the one public function of `editlab data` (the CLI is a thin wrapper)."""

from __future__ import annotations

import logging
from typing import Any

from editlab.data.distributors import get_distributor
from editlab.data.driver import Job
from editlab.data.presets import load_preset, resolve_stages
from editlab.data.spec import JobResult, JobSpec
from editlab.errors import EditlabError


def build_dataset(
    preset: str = "toyworld",
    *,
    n: int | None = None,
    out: str | None = None,
    distributor: str = "local",
    processes: int = 1,
    shard_size: int | None = None,
    seed: int = 0,
    tiny: bool = False,
    overwrite: bool = False,
    webdataset: bool = True,
    preview_rows: int = 48,
    keep_rejected_images: bool = False,
    ray_address: str | None = None,
    progress: bool = True,
    overrides: dict[str, dict[str, Any]] | None = None,
    **stage_overrides: dict[str, Any],
) -> JobResult:
    """Build a paired edit dataset with a preset's chain of stages; rerun to resume.

    `n` is the number of rows written (default: the preset's). Candidates, filters and episodes
    change how many rows an item gives, so the job makes source items (captions, images, toyworld
    seeds) in rounds until n rows pass every stage, then writes the first n (episodes whole); if
    the source runs out or nearly nothing passes, it writes what it has and `stats["shortfall"]`
    says why. A preset's `defaults: {rows_per_item: 4}` sizes the first round. Stage parameters are overridden by stage name (dashes as
    underscores) or through `overrides={"clip-filter": {...}}`. `tiny=True` swaps every model for
    a tiny random one (plumbing checks: outputs are well-formed but meaningless).

    >>> from editlab.data import build_dataset
    >>> result = build_dataset("toyworld", n=64, shard_size=32, out="/tmp/tw-demo")   # doctest: +SKIP
    >>> result.data_files                                                           # doctest: +SKIP
    ['/tmp/tw-demo/data/train-00000.parquet', '/tmp/tw-demo/data/train-00001.parquet']
    >>> result.load()[0]["instruction"]                                             # doctest: +SKIP

    A script that uses `processes > 1` needs the `if __name__ == "__main__":` guard (spawned workers
    import the main module).
    """
    if processes < 1:
        raise EditlabError(f"processes={processes}: pass --processes 1 or more (worker processes)")
    if preview_rows < 0:
        raise EditlabError(f"preview_rows={preview_rows}: pass --preview-rows 0 or more")
    data = load_preset(preset)
    defaults = data.get("defaults", {})
    merged = dict(overrides or {})
    for key, values in stage_overrides.items():
        merged.setdefault(key.replace("_", "-"), {}).update(values)
    spec = JobSpec(
        name=str(data["name"]), out=out or f"runs/data/{data['name']}",
        n=int(n if n is not None else defaults.get("n", 100)),
        stages=resolve_stages(data, tiny=tiny, overrides=merged),
        shard_size=int(shard_size if shard_size is not None else defaults.get("shard_size", 100)),
        seed=int(seed), webdataset=webdataset, preview_rows=preview_rows,
        keep_rejected_images=keep_rejected_images, description=str(data.get("description", "")),
        reference=str(data.get("reference", "")), tiny=tiny,
        rows_per_item=float(defaults.get("rows_per_item", 1.0)))
    if spec.out.startswith("memory://") and (processes > 1 or distributor != "local"):
        raise EditlabError("memory:// lives inside one process; use processes=1 with the local distributor, or a "
                           "shared filesystem (a folder, s3://, gs://...)")
    if progress:
        logging.getLogger("editlab.data").setLevel(logging.INFO)
    with get_distributor(distributor, processes=processes, ray_address=ray_address) as runner:
        return Job(spec, runner, overwrite=overwrite, progress=progress).run()
