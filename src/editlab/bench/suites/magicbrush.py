"""MagicBrush loader: the release folder layout, or the hub parquet dataset."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

from editlab.bench.suites.base import BenchmarkLoader, BenchSample
from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, safe_child
from editlab.types import EditExample

_TURN = re.compile(r"output(\d+)\.\w+$")
_BAD_DATA = "edit_sessions.json is damaged or hostile: fix that entry"


def _file(folder: Path, name: object) -> Path:
    """An image named by edit_sessions.json, which must stay inside its session folder."""
    return safe_child(folder, name, "MagicBrush image name", fix=_BAD_DATA)


def _numeric_key(text: str):
    return (0, int(text), "") if str(text).isdigit() else (1, 0, str(text))


def output_name(session: str, turn: int, setting: str) -> str:
    """MagicBrush's file naming, as its evaluation/image_eval.py reads it from per-session folders:
    `<id>/<id>_1`, then `<id>/<id>_inde_<k>` (all-turn) or `<id>/<id>_iter_<k>` (final-turn)."""
    return f"{session}/{flat_name(session, turn, setting)}"


def flat_name(session: str, turn: int, setting: str) -> str:
    """The same name without the session folder (the flat layout of earlier editlab runs)."""
    if turn == 1:
        return f"{session}_1"
    return f"{session}_{'iter' if setting == 'final-turn' else 'inde'}_{turn}"


SETTINGS = {"both": ("final-turn", "all-turn"), "final-turn": ("final-turn",), "all-turn": ("all-turn",)}
MASK_MODES = {False: ("",), True: ("+mask",), "both": ("", "+mask")}
HUB_SPLIT_NOTE = "{split} split: not comparable with the paper's test numbers"


class MagicBrushLoader(BenchmarkLoader):
    """Both settings (and the mask-provided variant when asked) from one pass over the data.

    Turn 1 edits the input in either setting, so it is edited once and scored in both tables;
    all-turn turns k>=2 edit the ground-truth previous target, final-turn turns chain the model's
    own outputs and only the session's last turn is scored.
    """

    def _release(self) -> Path | None:
        path = Path(str(self.data)).expanduser()
        return next((root for root in (path / "test", path) if (root / "edit_sessions.json").exists()), None)

    def settings(self) -> tuple[str, ...]:
        return SETTINGS[self.options["setting"]]

    def mask_modes(self) -> tuple[str, ...]:
        return MASK_MODES[self.options.get("use_masks") or False]

    def tables(self) -> dict[str, dict]:
        about = {"final-turn": "the model edits its own previous output; the last turn of each session is scored",
                 "all-turn": "every turn edits the ground-truth previous image; every turn is scored"}
        return {f"{setting}{mode}": {"aggregate": "samples",
                                     "about": about[setting] + (", the annotated mask given to the editor" if mode else "")}
                for mode in self.mask_modes() for setting in self.settings()}

    def split_info(self) -> dict:
        if self._release() is not None:
            return {"name": "test", "source": "MagicBrush release folder (edit_sessions.json)", "comparable": True,
                    "note": None}
        split = self.options.get("split") or "dev"
        comparable = split == "test"
        return {"name": split, "source": f"hub dataset {self.data}", "comparable": comparable,
                "note": None if comparable else HUB_SPLIT_NOTE.format(split=split)}

    def samples(self) -> Iterator[BenchSample]:
        path = Path(str(self.data)).expanduser()
        release = self._release()
        if release is not None:
            sessions = self._release_sessions(release)
        elif path.is_dir() and not any(path.rglob("*.parquet")) and not (path / "dataset_dict.json").exists() \
                and not (path / "dataset_info.json").exists():
            raise EditlabError(f"{path}: no edit_sessions.json or dataset files; pass MagicBrush's test folder (release layout)")
        else:
            sessions = self._hub_sessions()  # hub id, save_to_disk folder or parquet files
        for session_id in sorted(sessions, key=_numeric_key):
            yield from self._session_samples(session_id, sessions[session_id])

    def _release_sessions(self, root: Path) -> dict[str, list[dict]]:
        edits = json.loads((root / "edit_sessions.json").read_text(encoding="utf-8"))
        captions_file = root / "local_descriptions.json"
        captions = json.loads(captions_file.read_text(encoding="utf-8")) if captions_file.exists() else {}
        sessions: dict[str, list[dict]] = {}
        for session_id, turns in edits.items():
            folder = safe_child(root / "images", str(session_id), "MagicBrush session id", fix=_BAD_DATA)
            ordered = []
            for turn in turns:
                match = _TURN.search(turn["output"])
                if not match:
                    raise EditlabError(f"{session_id}: output name {turn['output']!r} lacks -output<k>; check the data")
                ordered.append((int(match.group(1)), turn))
            ordered.sort(key=lambda item: item[0])  # numeric order, not listing order
            sessions[str(session_id)] = [
                {
                    "turn": k,
                    "source": partial(load_image, _file(folder, t["input"])),
                    "target": partial(load_image, _file(folder, t["output"])),
                    "mask": partial(load_mask, _file(folder, t["mask"])) if t.get("mask") else None,
                    "instruction": t["instruction"],
                    "local_caption": captions.get(str(session_id), {}).get(t["output"]),
                    "files": {"input": t["input"], "output": t["output"], "mask": t.get("mask")},
                }
                for k, t in ordered
            ]
        return sessions

    def _hub_sessions(self) -> dict[str, list[dict]]:
        rows = self.load_rows(self.options.get("split"))
        sessions: dict[str, list[dict]] = {}
        for row in rows:
            sessions.setdefault(str(row["img_id"]), []).append({
                "turn": int(row["turn_index"]),
                "source": lambda r=row: load_image(r["source_img"]),
                "target": lambda r=row: load_image(r["target_img"]),
                "mask": (lambda r=row: load_mask(r["mask_img"])) if row.get("mask_img") is not None else None,
                "instruction": row["instruction"],
                "local_caption": None,
                "files": {},
            })
        for turns in sessions.values():
            turns.sort(key=lambda t: t["turn"])
        return sessions

    def _session_samples(self, session_id: str, turns: list[dict]) -> list[BenchSample]:
        settings, last = self.settings(), len(turns)
        examples = []
        for position, turn in enumerate(turns, start=1):
            examples.append(EditExample(
                id=f"{session_id}/turn{position}", source=turn["source"](), instruction=turn["instruction"],
                target=turn["target"](), task="magicbrush", mask=turn["mask"]() if turn["mask"] else None,
                turn=position, episode=session_id, meta={"local_caption": turn["local_caption"], "files": turn["files"]},
            ))
        samples = []
        for mode in self.mask_modes():
            prefix = "mask/" if mode else ""

            def sample(example: EditExample, setting: str, tables: tuple[str, ...], input_from: str | None = None,
                       suffix: str = "", prefix: str = prefix, mode: str = mode) -> BenchSample:
                turn = example.turn or 1
                skip = {} if example.meta["local_caption"] else {"clip_t": "no local caption for this turn in the data"}
                copy = replace(example, id=f"{prefix}{example.id}{suffix}")
                return BenchSample(
                    example=copy, output_name=prefix + output_name(session_id, turn, setting),
                    aliases=(prefix + flat_name(session_id, turn, setting),), input_from=input_from,
                    group=f"turn{turn}", skip_metrics=skip, edit_mask=example.mask if mode else None,
                    tables=tuple(f"{t}{mode}" for t in tables), context={"setting": setting, "masks": bool(mode)},
                )

            first_tables = tuple(t for t in settings if t == "all-turn" or last == 1)
            first = sample(examples[0], settings[0], first_tables)
            samples.append(first)
            if "all-turn" in settings:
                samples += [sample(example, "all-turn", ("all-turn",)) for example in examples[1:]]
            if "final-turn" in settings:
                previous = first.id
                for example in examples[1:]:
                    chained = sample(example, "final-turn", ("final-turn",) if example.turn == last else (),
                                     input_from=previous, suffix="/iter")
                    samples.append(chained)
                    previous = chained.id
        return samples
