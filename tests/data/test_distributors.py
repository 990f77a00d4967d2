"""Distributors: local processes and Ray give the same dataset; Ray problems are clear errors."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from editlab.data import build_dataset
from editlab.errors import EditlabError


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in (".parquet", ".tar")}


@pytest.fixture(scope="module")
def local_ray():
    """One local 2-CPU Ray instance for the module (starting Ray costs seconds)."""
    ray = pytest.importorskip("ray")
    from editlab.data.distributors import WORKER_ENV

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": dict(WORKER_ENV)})
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_on_a_local_two_cpu_instance_matches_local(tmp_path, local_ray):
    local = build_dataset("toyworld", n=8, shard_size=2, out=str(tmp_path / "local"), progress=False)
    on_ray = build_dataset("toyworld", n=8, shard_size=2, out=str(tmp_path / "ray"), progress=False,
                           distributor="ray", processes=2)
    assert on_ray.rows == local.rows > 0
    assert _digests(tmp_path / "ray") == _digests(tmp_path / "local")


@pytest.mark.ray
def test_ray_refuses_gpu_stages_on_a_cpu_cluster(tmp_path, local_ray):
    with pytest.raises(EditlabError, match="num_gpus=1 but the Ray cluster has 0 GPUs"):
        build_dataset("toyworld", n=2, shard_size=2, out=str(tmp_path), progress=False, distributor="ray",
                      processes=2, toyworld_render={"num_gpus": 1})


def test_missing_ray_is_an_error_not_a_silent_no_op(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # "import ray" now fails
    with pytest.raises(EditlabError, match=r"pip install 'editlab\[data\]'"):
        build_dataset("toyworld", n=2, out=str(tmp_path), progress=False, distributor="ray")
    assert not (tmp_path / "stats.json").exists()


def test_unknown_distributor(tmp_path):
    with pytest.raises(EditlabError, match="choose one of: local, ray"):
        build_dataset("toyworld", n=2, out=str(tmp_path), distributor="spark")

