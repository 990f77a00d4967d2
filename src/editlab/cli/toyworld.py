"""`editlab toyworld`: look at generated examples and episodes, score outputs with the oracle.

Examples are written one folder each (`source.png`, `target.png`, `mask.png`, `example.json`,
the JSON last); a rerun skips finished folders, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from editlab.cli.main import add_subcommand
from editlab.cli.params import add_output
from editlab.errors import EditlabError

#: Contact sheets show at most this many examples (the folders hold all of them).
SHEET_LIMIT = 64


def register(subparsers) -> None:
    parser = add_subcommand(
        subparsers, "toyworld", "procedural scenes where every edit has an exact answer: sample, episode, score",
        ["editlab toyworld sample --n 16 --seed 0 --out toyworld-samples",
         "editlab toyworld episode --seed 0 --kind backtracking --out toyworld-episode",
         "editlab toyworld score --example toyworld-samples/toyworld-train-0-000000 --edited edited.png"],
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(dest="toyworld_command", metavar="<command>")

    sample = add_subcommand(commands, "sample", "write examples (source, target, mask, example.json) and a contact sheet",
                            ["editlab toyworld sample --n 30 --seed 0 --out samples --task color --width 96 --height 64"])
    sample.add_argument("--n", type=int, default=16, help="how many examples (default 16)")
    sample.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    add_output(sample, required=True, help="output folder")
    sample.add_argument("--task", help="one task (default: all 15 in turn)")
    sample.add_argument("--split", default="train", help="train, test or heldout (default train)")
    _add_size(sample)
    sample.set_defaults(func=cmd_sample)

    episode = add_subcommand(commands, "episode", "write multi-turn episodes, one folder per turn, and a contact sheet",
                             ["editlab toyworld episode --seed 0 --kind memory --count 3 --out episodes"])
    episode.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    add_output(episode, required=True, help="output folder")
    episode.add_argument("--kind", help="memory, understanding or backtracking (default: by index)")
    episode.add_argument("--count", type=int, default=1, help="how many episodes (default 1)")
    episode.add_argument("--index", type=int, default=0, help="index of the first episode (default 0)")
    episode.add_argument("--turns", type=int, help="2 to 4 (default: drawn per episode)")
    episode.add_argument("--split", default="train", help="train, test or heldout (default train)")
    _add_size(episode)
    episode.set_defaults(func=cmd_episode)

    score = add_subcommand(commands, "score", "score an edited image with the oracle; prints JSON",
                           ["editlab toyworld score --example samples/toyworld-train-0-000003 --edited edited.png",
                            'editlab toyworld score --source in.png --instruction "Make the red star blue." '
                            "--edited edited.png"])
    score.add_argument("--example", help="an example folder written by 'sample' or 'episode'")
    score.add_argument("--source", help="without --example: the source picture ...")
    score.add_argument("--instruction", help="... and the instruction (any toyworld phrasing)")
    score.add_argument("--edited", required=True, help="the edited image to score")
    score.add_argument("--output", dest="edited", help=argparse.SUPPRESS)  # the old, misleading name of --edited
    score.set_defaults(func=cmd_score)

    vocab = add_subcommand(commands, "vocab", "print every word an instruction can contain (for word-level tokenizers)",
                           ["editlab toyworld vocab > vocab.txt"])
    vocab.set_defaults(func=cmd_vocab)


def _add_size(parser) -> None:
    parser.add_argument("--width", type=int, default=64, help="pixels (default 64)")
    parser.add_argument("--height", type=int, default=64, help="pixels (default 64; aspect 1:4 to 4:1)")


def _check_count(name: str, value: int) -> None:
    if value < 1:
        raise EditlabError(f"--{name} must be at least 1, got {value}")


def cmd_sample(args) -> int:
    from editlab.io import save_image
    from editlab.toyworld import contact_sheet, generate_examples
    from editlab.toyworld.files import is_complete, load_example, save_example
    from editlab.toyworld.generate import check_split, check_task, example_name
    from editlab.toyworld.render import check_size

    _check_count("n", args.n)
    check_split(args.split)
    check_size(args.width, args.height)
    if args.task:
        check_task(args.task)
    out = Path(args.out)
    shown, made, kept = [], 0, 0
    for index in range(args.n):
        folder = out / example_name(args.seed, args.split, index, args.task)
        example = load_example(folder) if is_complete(folder) else None
        if example is not None and example.source.size == (args.width, args.height):
            kept += 1
        else:  # new, unfinished, or made at another size: (re)generate
            example = next(generate_examples(1, seed=args.seed, split=args.split, task=args.task,
                                             width=args.width, height=args.height, start=index))
            save_example(example, folder)
            made += 1
        if len(shown) < SHEET_LIMIT:
            shown.append(example)
    save_image(contact_sheet(shown), out / "contact_sheet.png")
    note = f" ({kept} already there)" if kept else ""
    print(f"wrote {made} examples{note} to {out}/ and {out / 'contact_sheet.png'}"
          + (f" (first {SHEET_LIMIT})" if args.n > SHEET_LIMIT else ""))
    return 0


def cmd_episode(args) -> int:
    from editlab.io import save_image, write_json
    from editlab.toyworld import contact_sheet, generate_episode
    from editlab.toyworld.files import save_example

    _check_count("count", args.count)
    out = Path(args.out)
    shown = []
    for index in range(args.index, args.index + args.count):
        episode = generate_episode(args.seed, split=args.split, index=index, kind=args.kind, turns=args.turns,
                                   width=args.width, height=args.height)
        folder = out / episode.id
        for turn in episode.turns:
            save_example(turn, folder / f"turn{turn.turn}")
        write_json(folder / "episode.json", episode.to_dict())
        shown.extend(episode.turns)
        print(f"{episode.id} ({episode.kind}, {len(episode.turns)} turns):")
        for turn in episode.turns:
            print(f"  {turn.turn}. [edits version {turn.meta['parent_turn']}] {turn.instruction}")
    save_image(contact_sheet(shown[:SHEET_LIMIT], columns=1), out / "contact_sheet.png")
    print(f"wrote {out}/ and {out / 'contact_sheet.png'}")
    return 0


def cmd_score(args) -> int:
    from editlab.io import load_image
    from editlab.toyworld import Oracle

    output = load_image(args.edited)
    if args.example:
        from editlab.toyworld.files import load_example

        score = Oracle().score(load_example(args.example), output)
    elif args.source and args.instruction:
        from editlab.toyworld import parse_instruction, parse_scene

        source = load_image(args.source)
        scene = parse_scene(source)
        edit = parse_instruction(args.instruction, scene)
        if edit is None:
            raise EditlabError(f"the oracle does not understand {args.instruction!r} for this picture; "
                               "use an instruction toyworld's grammar produces (see docs/toyworld.md)")
        score = Oracle().score_edit(scene, edit, output, source_image=source)
    else:
        raise EditlabError("pass --example DIR, or --source IMG with --instruction TEXT")
    print(json.dumps(score.to_dict(), indent=2))
    return 0


def cmd_vocab(args) -> int:
    from editlab.toyworld import vocabulary

    print("\n".join(vocabulary()))
    return 0
