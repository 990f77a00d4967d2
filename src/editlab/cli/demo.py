"""`editlab demo`: the main job on the embedded default, end to end, in about a minute on a CPU.

1. single-turn: the shipped toyworld model edits held-out toyworld scenes (one per task), the
   oracle scores every edit exactly (a Markdown table, results.json and report.html);
2. multi-turn: one episode per interaction kind (memory, understanding, backtracking) is played
   through an EditSession, whose history is exported as a contact sheet and an animated GIF.
"""

from __future__ import annotations

import json
from pathlib import Path

from editlab.cli.main import add_subcommand, set_thread_env
from editlab.cli.params import add_model, add_output


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "demo", "edit toyworld scenes with the shipped model and score them exactly",
        ["editlab demo --out demo-output", "editlab demo --model path/to/ip2p-folder --per-task 2 --out demo-output"],
    )
    add_output(parser, help="output folder (default: demo-output)")
    parser.set_defaults(out="demo-output")
    add_model(parser)
    parser.add_argument("--per-task", type=int, default=1, help="single-turn scenes per task (15 tasks)")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    parser.set_defaults(func=run)


def run(args) -> int:
    set_thread_env()
    from editlab.bench.harness import run_benchmark
    from editlab.editors import get_editor
    from editlab.io import write_json

    out = Path(args.out)
    editor = get_editor(args.model)
    print(f"# editlab demo: {args.model} on toyworld\n\n## Single-turn edits, scored by the oracle\n")
    results = run_benchmark(editor, "toyworld", out=out / "single-turn", options={"per_task": args.per_task,
                            "seed": args.seed}, progress=False)
    print("\n## Multi-turn sessions (memory, understanding, backtracking)\n")
    episodes = play_episodes(editor, out / "sessions", seed=args.seed)
    summary = {"single_turn_success": results["success"], "single_turn": results["overall"]["scores"], "episodes": episodes}
    write_json(out / "summary.json", summary)
    print(f"\nwrote {out}/single-turn/report.html (per-task grids), {out}/sessions/*/history.gif, "
          f"{out}/summary.json")
    return 0


def play_episodes(editor, folder: Path, seed: int) -> list[dict]:
    """One episode per kind through an EditSession; export each history as a sheet and a GIF."""
    import shutil

    from editlab.session import EditSession
    from editlab.toyworld import EPISODE_KINDS, generate_episode, play_episode, score_episode

    rows = []
    for index, kind in enumerate(EPISODE_KINDS):
        episode = generate_episode(seed, split="test", index=index, kind=kind)
        directory = folder / kind
        if directory.exists():  # a demo rerun starts each session afresh
            shutil.rmtree(directory)
        session = EditSession.create(directory / "session", episode.turns[0].source, editor=editor, seed=seed)
        outputs = play_episode(episode, session)
        score = score_episode(episode, outputs)
        session.export_contact_sheet(directory / "history.png", versions="tree")
        session.export_gif(directory / "history.gif")
        turns = [turn.instruction for turn in episode.turns]
        marks = ["ok" if t["success"] else "x" for t in score["turns"]]
        print(f"- {kind}: " + " / ".join(f"{text!r} [{mark}]" for text, mark in zip(turns, marks, strict=True)))
        rows.append({"kind": kind, "episode": episode.id, "success": score["success"], "turns": turns,
                     "turn_success": [t["success"] for t in score["turns"]]})
    print("\n" + json.dumps({r["kind"]: r["success"] for r in rows}))
    return rows
