"""Shared timing for the speed benchmarks: sides run interleaved, numbers summarised, machine recorded.

Every speed claim compares two (or more) *sides* doing the same work. Each side lives in its own
worker process (so its peak memory is its own and one side's allocator or thread pools cannot
slow the other), started once and kept warm; the parent asks the sides in turn for one timed
unit of work, round after round, and the order alternates each round (A-B, B-A, A-B, ...). Load
from other processes and slow drift of the machine (thermal, page cache, a neighbour's test run)
then fall on every side alike instead of on whichever ran second. Nothing is reused from an
earlier run: a results file is only ever written from the measurements of the run that writes it.

    from _timing import Worker, interleave, summary, machine, write_result

A worker is the benchmark script itself started with `--worker NAME ...`; it calls
`serve(handlers)` and answers one JSON request per line on stdin with one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MARK = "@@BENCH@@ "


# ----------------------------------------------------------------------------- numbers


def summary(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Median and spread (min, max, quartiles) of repeated measurements, and the raw values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("summary() of no values")
    ordered = sorted(values)
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1, q3 = ordered[0], ordered[-1]
    return {"median": round(statistics.median(values), digits), "min": round(ordered[0], digits),
            "max": round(ordered[-1], digits), "q1": round(q1, digits), "q3": round(q3, digits),
            "n": len(values), "all": [round(v, digits) for v in values]}


def ratio(slow: dict[str, Any], fast: dict[str, Any]) -> dict[str, float]:
    """slow/fast of two summaries: at the medians, and the bounds from the spreads (worst, best)."""
    return {"median": round(slow["median"] / fast["median"], 2),
            "low": round(slow["min"] / fast["max"], 2), "high": round(slow["max"] / fast["min"], 2)}


# ----------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU model and cores, GPU, versions, git commit, load."""
    info: dict[str, Any] = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                            "platform": platform.platform(), "python": platform.python_version()}
    try:
        info["cpus_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    versions = {}
    for name in ("torch", "diffusers", "transformers", "editlab"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            versions[name] = None
    info["versions"] = versions
    try:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["gpu"] = None
    try:
        info["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                            check=False).stdout.strip() or None
    except OSError:
        info["git_commit"] = None
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    return info


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: other people's work on a shared machine shows here."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def peak_memory() -> dict[str, float]:
    """This process's peak resident memory (MB) and, on CUDA, peak allocated GPU memory (MB)."""
    out = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    try:
        import torch

        if torch.cuda.is_available():
            out["peak_cuda_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    except ImportError:
        pass
    return out


# ----------------------------------------------------------------------------- worker processes


class Worker:
    """One side of a comparison in its own process: `python SCRIPT --worker NAME ARGS...`."""

    def __init__(self, name: str, script: str | Path, args: Sequence[str] = (), env: dict[str, str] | None = None):
        self.name = name
        full_env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
                    **(env or {})}
        self.process = subprocess.Popen([sys.executable, str(script), "--worker", name, *args], env=full_env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)

    def request(self, op: str, **kwargs: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **kwargs}) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:
            if line.startswith(MARK):
                reply = json.loads(line[len(MARK):])
                if "error" in reply:
                    raise RuntimeError(f"worker {self.name} failed on {op}: {reply['error']}")
                return reply["result"]
        raise RuntimeError(f"worker {self.name} exited (code {self.process.wait()}) during {op}; see its stderr")

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.request("exit")
            except (RuntimeError, BrokenPipeError):
                pass
            self.process.wait(timeout=60)

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self.process.poll() is None:
            self.process.kill()
        self.close()


def serve(handlers: dict[str, Callable[..., Any]]) -> int:
    """The worker's side: answer requests until 'exit'. Anything else printed goes to stderr."""
    import traceback

    reply_to = sys.stdout
    sys.stdout = sys.stderr  # library prints must not mix with replies
    handlers = {**handlers, "memory": peak_memory}
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "exit":
            reply_to.write(MARK + json.dumps({"result": None}) + "\n")
            reply_to.flush()
            return 0
        try:
            result = handlers[op](**request)
            reply = {"result": result}
        except Exception:  # the parent reports it with the side's name
            reply = {"error": traceback.format_exc()[-3000:]}
        reply_to.write(MARK + json.dumps(reply) + "\n")
        reply_to.flush()
    return 0


def interleave(sides: dict[str, Callable[[int], dict[str, Any]]], rounds: int, *,
               log: Callable[[str], None] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Call every side once per round, order alternating by round; `fn(round)` returns a dict
    with at least "seconds". Returns each side's list of replies, in round order."""
    names = list(sides)
    replies: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            reply = sides[name](index)
            replies[name].append(reply)
            if log:
                log(f"  round {index + 1}/{rounds} {name}: {reply['seconds']:.3f} s")
    return replies


# ----------------------------------------------------------------------------- results


def write_result(path: str | Path, result: dict[str, Any]) -> None:
    """Atomic JSON write (a killed run never leaves half a file)."""
    sys.path.insert(0, str(REPO / "src"))
    from editlab.io import write_json

    write_json(Path(path), result)
    print(f"wrote {path}")


def header(benchmark: str, argv: Sequence[str], quick: bool) -> dict[str, Any]:
    """The fields every results file starts with: what, the command reproducing it, where, when."""
    kept, skip = [], False
    for arg in argv:  # --out only says where this copy went; the command reproduces the numbers
        if skip or arg.startswith("--out="):
            skip = False
            continue
        if arg == "--out":
            skip = True
            continue
        kept.append(arg)
    return {"benchmark": benchmark, "quick": quick,
            "command": "python benchmarks/" + benchmark + ".py" + "".join(f" {a}" for a in kept),
            "machine": machine(), "load_average_start": load_average(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def finish(result: dict[str, Any]) -> dict[str, Any]:
    result["load_average_end"] = load_average()
    result["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return result
