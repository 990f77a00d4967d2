"""`editlab session`: multi-turn editing with undo, redo, branches and exports, one command per step.

Every command opens the session folder, does one thing and exits; the folder is the state, so
commands can be interrupted (even kill -9) and resumed, and scripts can drive a session.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from editlab.cli.main import add_subcommand
from editlab.cli.params import add_editing_parameters, add_model, add_output, editing_parameters
from editlab.errors import EditlabError

EXAMPLE = [
    "editlab session new my-session --image photo.png --model identity",
    'editlab session edit my-session "make the sky pink" --seed 1',
    "editlab session undo my-session",
    'editlab session edit my-session "add a boat"      # a branch from v0',
    "editlab session log my-session",
    "editlab session export my-session --sheet sheet.png --gif history.gif --tree",
]


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "session", "multi-turn editing: a version tree with undo, redo and branches",
                            EXAMPLE)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(dest="session_command", metavar="<step>")

    new = add_subcommand(commands, "new", "start a session from an image (version v0)",
                         ["editlab session new my-session --image photo.png --model identity --num-inference-steps 20"])
    new.add_argument("dir", help="session folder to create (must not exist or be empty)")
    new.add_argument("--image", required=True, help="the original image")
    add_model(new)
    _add_params(new, seed_default=0, seed_help="session seed; turns without --seed derive theirs from it")
    new.set_defaults(func=cmd_new)

    edit = add_subcommand(commands, "edit", "edit HEAD (or --from VERSION) with an instruction; the result is HEAD",
                          ['editlab session edit my-session "make the sky pink" --seed 3 --num-inference-steps 20'])
    edit.add_argument("dir", help="session folder")
    edit.add_argument("instruction", help="what to change, in words")
    edit.add_argument("--mask", help="edit only where this mask is white (same size as the image)")
    edit.add_argument("--from", dest="parent", metavar="VERSION", help="edit this version instead of HEAD")
    add_model(edit, default=None, help="use this editor for this turn instead of the session's")
    _add_params(edit, seed_default=None, seed_help="seed for this turn (default: derived from the session seed)")
    edit.set_defaults(func=cmd_edit)

    for name, help_text in [("undo", "move HEAD back to its parent"), ("redo", "re-apply the last undone turn")]:
        step = add_subcommand(commands, name, help_text, [f"editlab session {name} my-session"])
        step.add_argument("dir", help="session folder")
        step.add_argument("-n", "--times", type=int, default=1, help="how many steps (default 1)")
        step.set_defaults(func=cmd_undo if name == "undo" else cmd_redo)

    checkout = add_subcommand(commands, "checkout", "make any version HEAD; the next edit branches from it",
                              ["editlab session checkout my-session v2"])
    checkout.add_argument("dir", help="session folder")
    checkout.add_argument("version", help="version id (v2), HEAD~N or root")
    checkout.set_defaults(func=cmd_checkout)

    log = add_subcommand(commands, "log", "print the version tree (HEAD marked)", ["editlab session log my-session"])
    log.add_argument("dir", help="session folder")
    log.add_argument("--json", action="store_true", help="one JSON record per version instead of the tree")
    log.set_defaults(func=cmd_log)

    show = add_subcommand(commands, "show", "save a version's image with -o, or print its record",
                          ["editlab session show my-session v2 -o v2.png"])
    show.add_argument("dir", help="session folder")
    show.add_argument("version", nargs="?", default="HEAD", help="version (default HEAD)")
    add_output(show, help="write the image here (png, jpg, webp...)", aliases=("--output",))
    show.set_defaults(func=cmd_show)

    exporter = add_subcommand(commands, "export", "save a contact sheet and/or an animated GIF of the history",
                              ["editlab session export my-session --sheet sheet.png --gif history.gif --tree"])
    exporter.add_argument("dir", help="session folder")
    exporter.add_argument("--sheet", help="contact sheet image to write")
    exporter.add_argument("--gif", help="animation of root -> HEAD to write (.gif, .webp or .png)")
    exporter.add_argument("--tree", action="store_true", help="sheet shows every version as a tree, not just the history")
    exporter.add_argument("--thumb-size", type=int, default=192, help="thumbnail size in pixels (default 192)")
    exporter.add_argument("--duration-ms", type=int, default=800, help="time per GIF frame (default 800)")
    exporter.set_defaults(func=cmd_export)

    replay = add_subcommand(commands, "replay", "re-run every turn and check it reproduces the stored image",
                            ["editlab session replay my-session --atol 0"])
    replay.add_argument("dir", help="session folder")
    add_model(replay, default=None, help="editor to replay with (default: the session's)")
    replay.add_argument("--atol", type=int, default=0, help="largest allowed pixel difference, 0-255 (default 0)")
    replay.set_defaults(func=cmd_replay)

    verify = add_subcommand(commands, "verify", "check every stored image and mask against its hash; "
                            "list files left by killed writes", ["editlab session verify my-session"])
    verify.add_argument("dir", help="session folder")
    verify.set_defaults(func=cmd_verify)

    gc = add_subcommand(commands, "gc", "remove files left by killed writes (what verify lists as leftovers)",
                        ["editlab session gc my-session"])
    gc.add_argument("dir", help="session folder")
    gc.set_defaults(func=cmd_gc)


def _add_params(parser: argparse.ArgumentParser, *, seed_default: int | None, seed_help: str) -> None:
    add_editing_parameters(parser, seed_default=seed_default, seed_help=seed_help,
                           title="editing parameters (passed to the editor, recorded per turn)")


def _params(args: argparse.Namespace) -> dict[str, Any]:
    params = editing_parameters(args)
    if args.scheduler is not None:
        params["scheduler"] = args.scheduler
    return params


def _open(args: argparse.Namespace, editor: str | None = None):
    from editlab.session import EditSession

    return EditSession.open(args.dir, editor=editor)


def _line(version) -> str:
    if version.is_root:
        return f"{version.id}  (original)  {version.size[0]}x{version.size[1]}"
    return f"{version.id}  (from {version.parent})  {version.instruction!r}  seed={version.seed}"


def cmd_new(args: argparse.Namespace) -> int:
    from editlab.session import EditSession

    session = EditSession.create(args.dir, args.image, editor=args.model, seed=args.seed, **_params(args))
    print(f"created {session.path}: HEAD {_line(session.head)}")
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    session = _open(args, editor=args.model)
    version = session.edit(args.instruction, mask=args.mask, seed=args.seed, parent=args.parent, **_params(args))
    print(f"HEAD {_line(version)}  {version.seconds:.2f} s")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    print(f"HEAD {_line(_open(args).undo(args.times))}")
    return 0


def cmd_redo(args: argparse.Namespace) -> int:
    print(f"HEAD {_line(_open(args).redo(args.times))}")
    return 0


def cmd_checkout(args: argparse.Namespace) -> int:
    print(f"HEAD {_line(_open(args).checkout(args.version))}")
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    session = _open(args)
    if args.json:
        for version in session.versions.values():
            print(json.dumps({**version.to_record(), "head": version.id == session.head.id}, ensure_ascii=False))
    else:
        print(session.format_tree())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from editlab.io import save_image

    session = _open(args)
    version = session.resolve(args.version)
    if args.out:
        print(save_image(session.image(version), args.out))
    else:
        print(json.dumps(version.to_record(), indent=2, ensure_ascii=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if not args.sheet and not args.gif:
        raise EditlabError("nothing to export; pass --sheet FILE.png and/or --gif FILE.gif")
    session = _open(args)
    if args.sheet:
        print(session.export_contact_sheet(args.sheet, versions="tree" if args.tree else "history",
                                           thumb_size=args.thumb_size))
    if args.gif:
        print(session.export_gif(args.gif, duration_ms=args.duration_ms))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    session = _open(args)
    results = session.replay(args.model, atol=args.atol)
    for result in results:
        print(f"{result.version}  {'ok' if result.ok else 'DIFFERS'}  max_abs_diff={result.max_abs_diff}")
    failed = [r.version for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} turns reproduced" + (f"; differ: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Exit 1 on damage; leftovers of killed writes are harmless, so they alone still exit 0."""
    session = _open(args)
    problems = session.verify()
    for problem in problems:
        print(problem)
    leftovers = session.leftovers()
    for path in leftovers:
        print(f"leftover: {_relative(path, session.path)} (from a killed write)")
    print("ok: every image and mask matches its hash" if not problems else f"{len(problems)} problem(s)")
    if leftovers:
        print(f"{len(leftovers)} leftover(s); remove them with: editlab session gc {session.path}")
    return 1 if problems else 0


def cmd_gc(args: argparse.Namespace) -> int:
    session = _open(args)
    removed = session.gc()
    for path in removed:
        print(f"removed {_relative(path, session.path)}")
    print(f"{len(removed)} leftover(s) removed" if removed else "nothing to remove")
    return 0


def _relative(path: Path, root: Path) -> str:
    """Paths inside the session relative to it; a temp folder beside it as ../NAME."""
    return str(path.relative_to(root)) if path.is_relative_to(root) else f"../{path.name}"
