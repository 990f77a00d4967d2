"""Distributors run a list of shard tasks; all have one signature, so one flag switches them.

* `local`: worker processes on this machine (spawn, one torch thread each, GPUs handed out one per
  worker round-robin), or in-process for `processes=1`;
* `ray`: Ray tasks that declare each stage's `num_cpus` / `num_gpus`, so a cluster places GPU
  stages on GPU nodes. A missing Ray is an error, never a silent no-op.

    >>> with get_distributor("local", processes=1) as run:      # doctest: +SKIP
    ...     results = list(run.map(fn, tasks, num_cpus=1, num_gpus=0))
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from editlab.errors import EditlabError, require

#: environment every worker starts with: two torch processes on two cores collapse without it
WORKER_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
              "TOKENIZERS_PARALLELISM": "false"}


class TaskFailed(EditlabError):
    """A whole shard task failed (not a single sample): the job stops, finished shards are kept."""


def visible_gpus() -> list[str]:
    """GPU ids this machine offers (CUDA_VISIBLE_DEVICES, else `nvidia-smi -L`), without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return []
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def _init_worker(gpus=None) -> None:
    if gpus is not None:  # one GPU per worker, round-robin: workers never pile onto GPU 0
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus.get()
    os.environ.update(WORKER_ENV)
    try:  # torch may already be imported by the parent's pickled state; cap its threads too
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass


class Distributor:
    name = "base"

    def map(self, fn: Callable[[Any], Any], tasks: list[Any], *, num_cpus: float = 1,
            num_gpus: float = 0) -> Iterator[Any]:
        """Run `fn(task)` for every task; yield results as they complete (any order)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> Distributor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalDistributor(Distributor):
    """Worker processes started with `spawn` (safe with torch and threads), reused for the whole job."""

    name = "local"

    def __init__(self, processes: int = 1, start_method: str = "spawn"):
        self.processes = max(1, int(processes))
        self.start_method = start_method
        self._pool = None

    def _executor(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            context = multiprocessing.get_context(self.start_method)
            gpus = visible_gpus()
            queue = None
            if gpus:
                queue = context.Queue()
                for worker in range(self.processes):
                    queue.put(gpus[worker % len(gpus)])
            saved = {key: os.environ.get(key) for key in WORKER_ENV}
            os.environ.update(WORKER_ENV)  # inherited by spawned workers before they import torch
            try:
                self._pool = ProcessPoolExecutor(max_workers=self.processes, initializer=_init_worker,
                                                 initargs=(queue,), mp_context=context)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        return self._pool

    def map(self, fn, tasks, *, num_cpus=1, num_gpus=0):
        if self.processes == 1:
            for task in tasks:
                yield fn(task)
            return
        from concurrent.futures import FIRST_COMPLETED, wait

        pool = self._executor()
        pending = {pool.submit(fn, task) for task in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayDistributor(Distributor):
    """Ray tasks. Starts a local Ray with `processes` CPUs unless one is running or `address` is set."""

    name = "ray"

    def __init__(self, processes: int | None = None, address: str | None = None):
        self.ray = require("ray", "data", package="ray[data]")
        self._started = False
        if not self.ray.is_initialized():
            kwargs: dict[str, Any] = {"runtime_env": {"env_vars": dict(WORKER_ENV)}, "include_dashboard": False,
                                      "log_to_driver": False, "ignore_reinit_error": True}
            if address or os.environ.get("RAY_ADDRESS"):
                kwargs["address"] = address or os.environ["RAY_ADDRESS"]
            else:
                kwargs["num_cpus"] = max(1, int(processes or os.cpu_count() or 1))
            try:
                self.ray.init(**kwargs)
            except Exception as exc:
                raise EditlabError(f"could not start or reach Ray ({exc}); check --ray-address or use "
                                   "--distributor local") from None
            self._started = True

    def map(self, fn, tasks, *, num_cpus=1, num_gpus=0):
        ray = self.ray
        available = ray.cluster_resources()
        if num_gpus and available.get("GPU", 0) < num_gpus:
            raise EditlabError(f"a stage asks for num_gpus={num_gpus} but the Ray cluster has "
                               f"{available.get('GPU', 0):g} GPUs; its tasks would wait forever: set the stage's "
                               "num_gpus=0 (--set STAGE.num_gpus=0) or add GPU nodes")
        if num_cpus > available.get("CPU", 0):
            raise EditlabError(f"a stage asks for num_cpus={num_cpus} but the Ray cluster has "
                               f"{available.get('CPU', 0):g} CPUs; lower the stage's num_cpus")
        remote = ray.remote(fn).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=2)
        pending = [remote.remote(task) for task in tasks]
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        yield ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                        raise TaskFailed(str(cause)) from None
        finally:
            for ref in pending:
                ray.cancel(ref)

    def close(self) -> None:
        if self._started:
            self.ray.shutdown()
            self._started = False


DISTRIBUTORS = ("local", "ray")


def get_distributor(name: str, *, processes: int = 1, ray_address: str | None = None) -> Distributor:
    if name == "local":
        return LocalDistributor(processes)
    if name == "ray":
        return RayDistributor(processes, address=ray_address)
    raise EditlabError(f"unknown distributor {name!r}; choose one of: {', '.join(DISTRIBUTORS)}")
