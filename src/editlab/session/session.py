"""EditSession: multi-turn editing with a version tree on disk (undo, redo, checkout, branches).

Every turn edits the HEAD image (or any version you check out) and becomes a new version whose
parent is the image it edited, so trying another instruction after an undo opens a branch and
nothing is ever overwritten. The folder layout and crash-safety rules are in
`editlab.session.store`; `docs/sessions.md` is the user guide.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from PIL import Image

from editlab.editors import Editor, check_editor_spec, get_editor
from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, save_image
from editlab.io.images import ImageInput, png_bytes
from editlab.io.seeds import derive_seed
from editlab.io.timestamps import now_iso
from editlab.session import export
from editlab.session.store import SessionStore, sha256
from editlab.session.tree import VersionNode, build_tree, format_tree, tree_layout
from editlab.session.version import Version, version_id
from editlab.types import EditRequest

_RELATIVE = re.compile(r"^head(?:~(\d+)|(\^+))?$", re.IGNORECASE)
_IMAGE_CACHE_SIZE = 8


@dataclass(frozen=True)
class ReplayResult:
    """One re-run turn: the largest per-pixel difference (0-255) from the recorded image."""

    version: str
    max_abs_diff: int
    ok: bool


class EditSession:
    """A multi-turn editing session stored in a folder; safe to kill at any moment.

    >>> from editlab.session import EditSession
    >>> s = EditSession.create("my-session", "photo.png", editor="identity")  # doctest: +SKIP
    >>> v1 = s.edit("make the sky pink")                                         # doctest: +SKIP
    >>> v2 = s.edit("add a boat", seed=7, num_inference_steps=20)                # doctest: +SKIP
    >>> s.undo(); s.edit("add a swan")        # a branch: v3's parent is v1    # doctest: +SKIP
    >>> s.checkout("v2"); s.image().size                                         # doctest: +SKIP
    >>> print(s.format_tree())                                                   # doctest: +SKIP
    >>> s.export_contact_sheet("sheet.png", versions="tree"); s.export_gif("history.gif")  # doctest: +SKIP

    Reopen later (another process, after a crash) with `EditSession.open("my-session")`.
    """

    def __init__(self, store: SessionStore, editor: str | Editor | None = None):
        """Use `EditSession.create` or `EditSession.open`."""
        self._store = store
        self._meta = store.read_meta()
        self._editor_spec = editor
        self._editor = editor if isinstance(editor, Editor) else None
        self._describe_cache: tuple[int, dict[str, Any]] | None = None
        self._versions: dict[str, Version] = {}
        self._head = ""
        self._redo: list[str] = []
        self._images: OrderedDict[str, Image.Image] = OrderedDict()
        self.refresh()

    # -- creating and opening ----------------------------------------------------------------

    @classmethod
    def create(
        cls,
        directory: str | os.PathLike,
        image: ImageInput,
        editor: str | Editor = "toyworld",
        *,
        seed: int = 0,
        editor_spec: str | None = None,
        **defaults: Any,
    ) -> EditSession:
        """Start a session in a new (or empty) folder with `image` as the root version v0.

        `editor` is a spec for `editlab.editors.get_editor` ("identity", "toyworld", a model id
        or path) or an `Editor` object; `defaults` are parameters every turn starts from
        (e.g. num_inference_steps=20, guidance_scale=7.5). Nothing is written if anything is wrong.
        `editor_spec` records the spec an `Editor` object was built from (a server that keeps one
        model loaded), so that `EditSession.open` elsewhere can rebuild it.
        """
        SessionStore.check_new(directory)  # before loading a model for nothing
        root = load_image(image)
        defaults = _check_params(defaults)
        seed = _check_seed(seed)
        if isinstance(editor, str):
            check_editor_spec(editor)  # a typo fails now; the model itself loads on the first turn
            editor_obj, describe = None, {}
        else:
            editor_obj, describe = editor, _describe(editor)
        data = png_bytes(root)
        record = Version(id=version_id(0), index=0, parent=None, instruction="", image=sha256(data),
                         size=root.size, created=now_iso()).to_record()
        meta = {
            "created": now_iso(),
            "seed": seed,
            "defaults": defaults,
            "editor": {"spec": editor if isinstance(editor, str) else editor_spec, "describe": describe},
            "source": str(image) if isinstance(image, (str, os.PathLike)) else None,
        }
        store = SessionStore.create(directory, meta, data, record)
        return cls(store, editor_obj or editor)

    @classmethod
    def open(cls, directory: str | os.PathLike, editor: str | Editor | None = None) -> EditSession:
        """Open an existing session; new turns use `editor`, or else the one it was created with.

        The editor is only built when a turn needs it, so undo, log and export stay instant.
        """
        return cls(SessionStore(directory), editor)

    # -- what is in the session ----------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._store.dir

    @property
    def seed(self) -> int:
        return int(self._meta.get("seed", 0))

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self._meta.get("defaults", {}))

    @property
    def versions(self) -> Mapping[str, Version]:
        """Every version by id, in creation order (read-only)."""
        return MappingProxyType(self._versions)

    @property
    def root(self) -> Version:
        return self._versions[version_id(0)]

    @property
    def head(self) -> Version:
        """The current version: the next `edit` starts from its image."""
        return self._versions[self._head]

    @property
    def can_undo(self) -> bool:
        return not self.head.is_root

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def __len__(self) -> int:
        return len(self._versions)

    def __getitem__(self, ref: str | Version) -> Version:
        return self.resolve(ref)

    def __repr__(self) -> str:
        return f"EditSession({str(self.path)!r}, versions={len(self)}, head={self._head!r})"

    def resolve(self, ref: str | int | Version | None = None) -> Version:
        """A version from its id ("v3" or 3), "HEAD", "HEAD~2", "HEAD^", "root" or a Version."""
        if ref is None:
            return self.head
        if isinstance(ref, Version):
            ref = ref.id
        text = str(ref).strip()
        if text.isdigit():
            text = version_id(int(text))
        if text in self._versions:
            return self._versions[text]
        if text.lower() == "root":
            return self.root
        match = _RELATIVE.match(text)
        if match:
            steps = int(match.group(1)) if match.group(1) else len(match.group(2) or "")
            return self._ancestor(self.head, steps, text)
        last = version_id(len(self._versions) - 1)
        raise EditlabError(
            f"unknown version {text!r}; this session has v0..{last} (plus HEAD, HEAD~N, root): "
            f"see `editlab session log {self.path}`"
        )

    def _ancestor(self, version: Version, steps: int, text: str) -> Version:
        for _ in range(steps):
            if version.parent is None:
                raise EditlabError(f"{text}: HEAD has only {len(self.history()) - 1} ancestors; use fewer steps")
            version = self._versions[version.parent]
        return version

    def image_file(self, ref: str | Version | None = None) -> Path:
        """The stored PNG of a version (HEAD by default): named by its hash, never rewritten; read it, don't edit it."""
        return self._store.image_path(self.resolve(ref).image)

    def image(self, ref: str | Version | None = None) -> Image.Image:
        """The image of a version (HEAD by default), as an RGB PIL image you may modify."""
        version = self.resolve(ref)
        cached = self._images.get(version.image)
        if cached is None:
            cached = self._store.load_png(self._store.image_path(version.image)).convert("RGB")
        self._cache(version.image, cached)
        return cached.copy()

    def _cache(self, sha: str, image: Image.Image) -> None:
        self._images[sha] = image  # images are immutable by content hash, so caching is safe
        self._images.move_to_end(sha)
        while len(self._images) > _IMAGE_CACHE_SIZE:
            self._images.popitem(last=False)

    def mask(self, ref: str | Version | None = None) -> Image.Image | None:
        version = self.resolve(ref)
        return self._store.load_png(self._store.mask_path(version.mask)) if version.mask else None

    def history(self, ref: str | Version | None = None) -> list[Version]:
        """The path from the original (v0) to `ref` (HEAD by default), oldest first."""
        path = [self.resolve(ref)]
        while path[-1].parent is not None:
            path.append(self._versions[path[-1].parent])
        return path[::-1]

    def children(self, ref: str | Version | None = None) -> list[Version]:
        parent = self.resolve(ref).id
        return [v for v in self._versions.values() if v.parent == parent]

    def leaves(self) -> list[Version]:
        """Versions nobody edited further: the tips of all branches."""
        parents = {v.parent for v in self._versions.values()}
        return [v for v in self._versions.values() if v.id not in parents]

    def tree(self) -> VersionNode:
        """The whole version tree, rooted at the original image."""
        return build_tree(self._versions, self.root.id)

    def format_tree(self, width: int = 100) -> str:
        """The tree as text, HEAD marked (what `editlab session log` prints)."""
        return format_tree(self._versions, self.root.id, self._head, width=width)

    # -- editing and moving around ---------------------------------------------------------------

    @property
    def editor(self) -> Editor:
        """The editor new turns use, built on first use."""
        if self._editor is None:
            spec = self._editor_spec or self._meta.get("editor", {}).get("spec")
            if spec is None:
                name = self._meta.get("editor", {}).get("describe", {}).get("editor", "?")
                raise EditlabError(
                    f"this session was created with an Editor object ({name!r}) that cannot be rebuilt "
                    "from its name; pass it again: EditSession.open(path, editor=...)"
                )
            self._editor = get_editor(spec)
        return self._editor

    def edit(
        self,
        instruction: str,
        *,
        mask: ImageInput | None = None,
        seed: int | None = None,
        parent: str | Version | None = None,
        context: dict[str, Any] | None = None,
        **params: Any,
    ) -> Version:
        """Edit HEAD (or `parent`) and make the result the new HEAD; returns the new version.

        `params` override the session defaults for this turn (num_inference_steps,
        guidance_scale, image_guidance_scale, scheduler, ...). Without `seed` one is derived
        from the session seed and the turn number, and recorded, so `replay()` is exact.
        `context` is handed to the editor (e.g. the toyworld oracle's ground truth) but not
        stored. The turn is on disk before this returns.
        """
        instruction = _check_instruction(instruction)
        params = _check_params({**self.defaults, **params})
        if seed is not None:
            seed = _check_seed(seed)
        self.refresh()
        # Checked before the editor loads (which can take seconds) and before the lock is taken;
        # every version has the root's size, so the mask fits whichever version HEAD is by then.
        self.resolve(parent)
        mask_image = load_mask(mask, size=self.root.size) if mask is not None else None
        editor = self.editor
        describe = self._editor_describe()
        # HEAD, the turn number and so the seed are read under the lock: two concurrent edits chain
        # (v2 from v1, then v3 from v2) with distinct seeds instead of both branching from one HEAD.
        with self._locked():
            base = self.resolve(parent)
            source = self.image(base)
            turn_seed = seed if seed is not None else derive_seed(self.seed, len(self._versions))
            request = EditRequest(image=source, instruction=instruction, mask=mask_image, seed=turn_seed,
                                  params=dict(params), context=dict(context or {}))
            started = time.perf_counter()
            output = _single_output(editor.edit_batch([request]), source.size, editor)
            seconds = time.perf_counter() - started
            version = self._commit(base, instruction, params, turn_seed, output, mask_image, describe, seconds)
        self._cache(version.image, output)
        return version

    def _commit(self, base: Version, instruction: str, params: dict[str, Any], seed: int, output: Image.Image,
                mask: Image.Image | None, describe: dict[str, Any], seconds: float) -> Version:
        """Write one finished turn; the caller holds the lock."""
        image_sha = self._store.put_image(png_bytes(output))  # 1. image, atomically
        mask_sha = self._store.put_mask(png_bytes(mask)) if mask is not None else None
        index = len(self._versions)
        version = Version(
            id=version_id(index), index=index, parent=base.id, instruction=instruction, image=image_sha,
            size=output.size, seed=seed, params=params, mask=mask_sha, editor=describe,
            created=now_iso(), seconds=round(seconds, 4),
        )
        self._store.log.append(version.to_record())  # 2. the turn is finished once this line is on disk
        self.refresh()
        self._head, self._redo = version.id, []
        self._write_state()  # 3. HEAD (rolled forward from the log if we die before this)
        return version

    def undo(self, steps: int = 1) -> Version:
        """Move HEAD to its parent (`steps` times); `redo` walks back down."""
        _check_steps(steps)
        with self._locked():
            path = self.history()
            if steps >= len(path):
                have = len(path) - 1
                raise EditlabError(
                    "nothing to undo: HEAD is the original image (v0)" if have == 0
                    else f"cannot undo {steps} turns: HEAD is only {have} turn(s) from the original; undo fewer"
                )
            self._redo.extend(v.id for v in reversed(path[-steps:]))
            self._head = path[-steps - 1].id
            self._write_state()
        return self.head

    def redo(self, steps: int = 1) -> Version:
        """Re-apply the last undone turn (`steps` times)."""
        _check_steps(steps)
        with self._locked():
            if steps > len(self._redo):
                raise EditlabError(
                    "nothing to redo: no undone turn since the last edit or checkout" if not self._redo
                    else f"cannot redo {steps} turns: only {len(self._redo)} undone; redo fewer"
                )
            self._head = self._redo[-steps]
            del self._redo[-steps:]
            self._write_state()
        return self.head

    def checkout(self, ref: str | Version) -> Version:
        """Make any version HEAD; the next `edit` branches from it (clears the redo stack)."""
        with self._locked():
            self._head, self._redo = self.resolve(ref).id, []
            self._write_state()
        return self.head

    @contextmanager
    def _locked(self):
        with self._store.locked():
            self.refresh()  # another process may have changed the session since we last looked
            yield

    def _write_state(self) -> None:
        self._store.write_state(self._head, list(self._redo), seen=len(self._versions))

    def refresh(self) -> None:
        """Pick up turns and HEAD moves made by other processes (or before a crash)."""
        log = self._store.log
        try:
            for number, record in log.read_new_numbered():
                self._add(Version.from_record(record, where=f"{log.path} line {number}"))
        except EditlabError:
            log.rewind()  # so the next refresh meets the bad line again instead of reading past it
            raise
        if version_id(0) not in self._versions:
            raise EditlabError(f"{self.path} has no original image in log.jsonl; restore the session from a backup")
        self._head, self._redo = self._current_state()

    def _add(self, version: Version) -> None:
        if version.id in self._versions:
            return
        if version.parent is not None and version.parent not in self._versions:
            raise EditlabError(
                f"{self._store.log.path}: version {version.id} names a parent {version.parent} that "
                "is not before it in the log; the log was edited: restore it from a backup"
            )
        self._versions[version.id] = version

    def _current_state(self) -> tuple[str, list[str]]:
        state = self._store.read_state() or {}
        head = state.get("head")
        if head not in self._versions or int(state.get("seen", 0)) < len(self._versions):
            # Turns logged after state.json was written (a crash in between, or state.json lost):
            # the newest one is where that turn left HEAD.
            return next(reversed(self._versions)), []
        return head, [vid for vid in state.get("redo", []) if vid in self._versions]

    def _editor_describe(self) -> dict[str, Any]:
        editor = self.editor
        if self._describe_cache is None or self._describe_cache[0] != id(editor):
            self._describe_cache = (id(editor), _describe(editor))
        return self._describe_cache[1]

    # -- pictures ----------------------------------------------------------------------------------

    def export_contact_sheet(
        self,
        path: str | os.PathLike,
        *,
        versions: str | Sequence[str | Version] = "history",
        thumb_size: int = 192,
        columns: int = 5,
    ) -> Path:
        """Save thumbnails with their instructions as one image (format from the extension).

        `versions`: "history" (root to HEAD, in a grid), "tree" (every version, one row per
        branch, lines from parents to children), "all" (every version in creation order) or a
        list of version refs.
        """
        chosen, positions = self._select(versions)
        title = f"{self.path.name}: {len(self)} versions, HEAD {self._head}"
        sheet = export.contact_sheet(
            chosen, self._load, head=self._head, positions=positions, connect=versions == "tree",
            columns=columns, thumb_size=thumb_size, title=title,
        )
        return save_image(sheet, path)

    def export_gif(
        self,
        path: str | os.PathLike,
        *,
        versions: str | Sequence[str | Version] = "history",
        duration_ms: int = 800,
        max_size: int = 512,
        captions: bool = True,
    ) -> Path:
        """Save the history root -> HEAD (or chosen versions) as a looping animation.

        .gif by default; .webp and .png (APNG) keep colours exact. Each frame shows its version
        id and instruction underneath; the last frame is held twice as long.
        """
        chosen, _ = self._select(versions)
        frames = export.animation_frames(chosen, self._load, max_size=max_size, captions=captions)
        return export.save_animation(frames, path, duration_ms=duration_ms)

    def _select(self, versions: str | Sequence[str | Version]) -> tuple[list[Version], dict | None]:
        if versions == "history":
            return self.history(), None
        if versions == "all":
            return list(self._versions.values()), None
        if versions == "tree":
            return list(self._versions.values()), tree_layout(self._versions, self.root.id)
        if isinstance(versions, str):
            raise EditlabError(f"versions={versions!r}: use 'history', 'tree', 'all' or a list of version ids")
        return [self.resolve(ref) for ref in versions], None

    def _load(self, version: Version) -> Image.Image:
        return self.image(version)

    # -- checking ----------------------------------------------------------------------------------

    def replay(self, editor: str | Editor | None = None, *, atol: int = 0,
               versions: Iterable[str | Version] | None = None) -> list[ReplayResult]:
        """Re-run recorded turns from their parents' stored images and compare with what was stored.

        Every turn (or `versions`) is re-edited with its recorded instruction, mask, seed and
        params; `ok` means no pixel differs by more than `atol`. Nothing is written. Editors
        that read `context` (the toyworld oracle) can't be replayed: context isn't stored.
        """
        replayer = get_editor(editor) if editor is not None else self.editor
        chosen = [self.resolve(v) for v in versions] if versions is not None else list(self._versions.values())
        results = []
        for version in chosen:
            if version.is_root:
                continue
            source = self.image(version.parent)
            request = EditRequest(image=source, instruction=version.instruction, mask=self.mask(version),
                                  seed=version.seed, params=dict(version.params))
            output = _single_output(replayer.edit_batch([request]), source.size, replayer)
            diff = np.abs(np.asarray(output, dtype=np.int16) - np.asarray(self.image(version), dtype=np.int16))
            worst = int(diff.max(initial=0))
            results.append(ReplayResult(version.id, worst, worst <= atol))
        return results

    def verify(self) -> list[str]:
        """Problems on disk (missing or altered images and masks, a damaged state.json); [] means all is well.

        Leftovers of killed writes are harmless and listed by `leftovers()` instead.
        """
        _, state_problem = self._store.load_state()
        problems = [f"state.json: {state_problem}; the next change rewrites it"] if state_problem else []
        for version in self._versions.values():
            problems += self._file_problem(version, "image", version.image)
            if version.mask:
                problems += self._file_problem(version, "mask", version.mask)
        return problems

    def _file_problem(self, version: Version, kind: str, expected: str) -> list[str]:
        try:
            file = self._store.image_path(expected) if kind == "image" else self._store.mask_path(expected)
        except EditlabError as exc:  # e.g. a symlink pointing out of the session
            return [f"{version.id}: {kind}: {exc}"]
        if not file.is_file():
            return [f"{version.id}: {kind} {file.name} is missing"]
        if sha256(file.read_bytes()) != expected:
            return [f"{version.id}: {kind} {file.name} was altered (sha256 differs)"]
        return []

    def leftovers(self) -> list[Path]:
        """Files left by killed writes (temp files, unreferenced images, a temp session folder).

        Harmless, and never read; `gc()` removes them. An edit in progress in another process
        may show its new image here for a moment; `gc()` waits for it.
        """
        return self._store.leftovers(self._referenced("image"), self._referenced("mask"))

    def gc(self) -> list[Path]:
        """Remove `leftovers()` under the session lock (no write is in flight then); returns what went."""
        with self._locked():
            found = self.leftovers()
            self._store.remove(found)
        return found

    def _referenced(self, kind: str) -> set[str]:
        return {getattr(v, kind) for v in self._versions.values() if getattr(v, kind)}


def _check_instruction(instruction: Any) -> str:
    if not isinstance(instruction, str):
        raise EditlabError(f"instruction must be text, got {type(instruction).__name__}; pass a string")
    text = " ".join(instruction.split())
    if not text:
        raise EditlabError("the instruction is empty; say what to change, e.g. 'make the sky pink'")
    return text


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in params.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise EditlabError(
                f"parameter {key}={value!r} cannot be recorded ({type(value).__name__}); "
                "pass numbers, strings, booleans, lists or dicts"
            ) from None
    return dict(params)


def _check_steps(steps: Any) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise EditlabError(f"steps must be a positive integer, got {steps!r}")


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise EditlabError(f"seed must be an integer, got {seed!r}; pass e.g. seed=0")
    if not 0 <= int(seed) < 2**63:
        raise EditlabError(f"seed {seed} is out of range; use an integer from 0 to 2**63 - 1")
    return int(seed)


def _single_output(outputs: Any, size: tuple[int, int], editor: Editor) -> Image.Image:
    name = getattr(editor, "name", type(editor).__name__)
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 1 or not isinstance(outputs[0], Image.Image):
        raise EditlabError(f"editor {name!r} did not return one PIL image for one request; fix the editor backend")
    output = outputs[0]
    if output.size != tuple(size):
        raise EditlabError(
            f"editor {name!r} returned a {output.size[0]}x{output.size[1]} image for a {size[0]}x{size[1]} "
            "input; editors must keep the input size"
        )
    return output.convert("RGB")


def _describe(editor: Editor) -> dict[str, Any]:
    """describe() made JSON-safe (anything exotic becomes its string form)."""
    return json.loads(json.dumps(editor.describe(), default=str, allow_nan=False))
