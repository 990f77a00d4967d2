"""MagicBrush loader: the release folder layout, or the hub parquet dataset."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
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
    """MagicBrush's file naming: <id>_1, then <id>_inde_<k> (all-turn) or <id>_iter_<k> (final-turn)."""
    if turn == 1:
        return f"{session}_1"
    return f"{session}_{'iter' if setting == 'final-turn' else 'inde'}_{turn}"


class MagicBrushLoader(BenchmarkLoader):
    def samples(self) -> Iterator[BenchSample]:
        path = Path(str(self.data)).expanduser()
        release = next((root for root in (path / "test", path) if (root / "edit_sessions.json").exists()), None)
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
        setting = self.options["setting"]
        samples = []
        previous: str | None = None
        for position, turn in enumerate(turns, start=1):
            sample_id = f"{session_id}/turn{position}"
            mask = turn["mask"]() if turn["mask"] else None
            example = EditExample(
                id=sample_id, source=turn["source"](), instruction=turn["instruction"], target=turn["target"](),
                task="magicbrush", mask=mask, turn=position, episode=session_id,
                meta={"local_caption": turn["local_caption"], "files": turn["files"]},
            )
            iterative = setting == "final-turn" and position > 1
            skip = {} if turn["local_caption"] else {"clip_t": "no local caption for this turn in the data"}
            samples.append(BenchSample(
                example=example,
                output_name=output_name(session_id, position, setting),
                input_from=previous if iterative else None,
                scored=setting == "all-turn" or position == len(turns),
                group=f"turn{position}",
                skip_metrics=skip,
                edit_mask=mask if self.options.get("use_masks") else None,
            ))
            previous = sample_id
        return samples
