"""How long a user waits for a command: whole `editlab` processes, before and after, side by side.

Targets (issue 15): `editlab edit` with the default model end to end <= 3 s; `--help` and the
session bookkeeping commands (`new`, `log`, `undo`, `checkout`) <= 1 s, loading no model.

The "before" side is an earlier commit (default: the start of this work, ad4522d) checked out in
a temporary git worktree and run with the same virtual environment (`PYTHONPATH` puts its
sources first); "now" is this checkout. Every command runs as a fresh process, the two sides
interleaved A-B, B-A, ... so machine load falls on both alike.

    python benchmarks/cli_latency.py                 # 5 rounds, writes benchmarks/results/cli_latency.json
    python benchmarks/cli_latency.py --quick         # 2 rounds
    python benchmarks/cli_latency.py --before HEAD~3
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _timing import REPO, finish, header, interleave, ratio, summary, write_result

TARGETS = {"edit (default model)": 3.0, "--help": 1.0, "session new": 1.0, "session log": 1.0,
           "session undo": 1.0, "session checkout": 1.0}
INSTRUCTION = "Make the red star blue."


def _side_env(src: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(src) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def _run(env: dict[str, str], args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "editlab", *args], env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"`editlab {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()[-400:]}")
    return seconds


def _commands(work: Path, side: str, image: Path) -> dict[str, Callable[[dict[str, str], int], float]]:
    """Each command as fn(round) -> seconds, with its own fresh folders per round."""

    def session(index: int) -> Path:
        return work / f"{side}-session-{index}"

    return {
        "--help": lambda env, i: _run(env, ["--help"], work),
        "edit (default model)": lambda env, i: _run(env, ["edit", str(image), INSTRUCTION, "-o",
                                                          str(work / f"{side}-{i}.png")], work),
        "session new": lambda env, i: _run(env, ["session", "new", str(session(i)), "--image", str(image)], work),
        # the bookkeeping commands act on the session made by "session new" this round (one identity turn added)
        "session log": lambda env, i: _run(env, ["session", "log", str(session(i))], work),
        "session undo": lambda env, i: _run(env, ["session", "undo", str(session(i))], work),
        "session checkout": lambda env, i: _run(env, ["session", "checkout", str(session(i)), "v1"], work),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="ad4522d", help="git ref of the 'before' side (default ad4522d)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "cli_latency.json"))
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    result = header("cli_latency", sys.argv[1:], args.quick)

    work = Path(tempfile.mkdtemp(prefix="editlab-cli-latency-"))
    before_tree = work / "before-tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before_tree), args.before],
                   check=True, capture_output=True)
    try:
        sys.path.insert(0, str(REPO / "src"))
        from editlab.toyworld import generate_examples

        image = work / "scene.png"
        next(iter(generate_examples(1, seed=0, split="test"))).source.save(image)
        envs = {"before": _side_env(before_tree / "src"), "now": _side_env(REPO / "src")}
        commands = {side: _commands(work, side, image) for side in envs}
        table = {}
        for name in TARGETS:
            def side_fn(side: str, name: str = name):
                def fn(index: int) -> dict[str, float]:
                    seconds = commands[side][name](envs[side], index)
                    if name == "session new":  # give the bookkeeping commands a turn to undo / check out
                        _run(envs[side], ["session", "edit", str(work / f"{side}-session-{index}"), INSTRUCTION,
                                          "--model", "identity"], work)
                    return {"seconds": seconds}
                return fn

            print(f"{name}:")
            replies = interleave({side: side_fn(side) for side in envs}, rounds, log=print)
            before, now = (summary([r["seconds"] for r in replies[s]]) for s in ("before", "now"))
            table[name] = {"before_s": before, "now_s": now, "speedup": ratio(before, now),
                           "target_s": TARGETS[name], "met": now["median"] <= TARGETS[name]}
        result.update({"before_ref": args.before, "rounds": rounds, "results": table})
        write_result(args.out, finish(result))
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before_tree)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{'command':24} {'before (s)':>11} {'now (s)':>9} {'speed-up':>9} {'target':>7}  met")
    for name, row in table.items():
        print(f"{name:24} {row['before_s']['median']:11.2f} {row['now_s']['median']:9.2f} "
              f"{row['speedup']['median']:8.1f}x {row['target_s']:6.1f}s  {'yes' if row['met'] else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
