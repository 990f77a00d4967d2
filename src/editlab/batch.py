"""Batch editing: a folder of images or a JSONL of jobs in, edited images and a manifest out.

`run_batch` edits every job with one editor, groups images of the same size into editor
batches, and records each item in `OUT_DIR/manifest.jsonl` (status ok/error, error message,
output, seed, params, seconds). The manifest is a crash-safe journal: one fsynced line per
finished item, written after its image, so a kill -9 loses at most the items in flight, and a
rerun skips items already `ok` with the same job and editor (and retries errors).

Jobs file (JSONL), one object per line; paths are relative to the file:

    {"image": "cat.png", "instruction": "make it a tiger", "mask": "cat_mask.png", "seed": 3,
     "id": "cat-tiger", "params": {"num_inference_steps": 20}}

Folder: every image in it (not recursive); the instruction comes from a sidecar
`<name>.txt` or else from `instruction=`; an optional mask from `<name>.mask.png`.

>>> from editlab.batch import run_batch
>>> run_batch("photos/", "edited/", "identity", instruction="make it snow")   # doctest: +SKIP
PosixPath('edited/manifest.jsonl')
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from editlab.editors import Editor, get_editor
from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, safe_child, safe_name, save_image, write_json, write_text
from editlab.io.journal import Journal
from editlab.io.locking import file_lock
from editlab.io.seeds import derive_seed
from editlab.types import EditRequest

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MASK_SUFFIX = ".mask"  # photo.mask.png is the mask of photo.png, not a job of its own
MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
_JOB_KEYS = {"image", "instruction", "mask", "seed", "id", "params"}
_UNSAFE_ID = set(':*?"<>|')  # on top of safe_name's rules: names Windows can't hold
_ID_FIX = "use letters, digits, '-', '_' and '.'"


@dataclass
class BatchJob:
    """One edit to make. `error` marks a job that is already known to be broken (bad JSONL line)."""

    id: str
    image: str
    instruction: str
    mask: str | None = None
    seed: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # unknown JSONL keys, copied to the manifest
    line: int | None = None
    error: str | None = None
    base_dir: str = "."  # relative image/mask paths are relative to this (the JSONL's folder)

    def path(self, name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path


# -- reading jobs ------------------------------------------------------------------------------


def load_jobs(source: str | os.PathLike | Iterable[Mapping[str, Any] | BatchJob], *,
              instruction: str | None = None) -> list[BatchJob]:
    """Jobs from a folder of images, a .jsonl file or an iterable of dicts / BatchJobs.

    Problems with single jobs (malformed line, no instruction, duplicate id) become jobs with
    `error` set, so they show up in the manifest; a missing or empty source is an EditlabError.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise EditlabError(f"{path}: not found; pass a folder of images or a .jsonl file of jobs")
        if path.is_dir():
            jobs = _folder_jobs(path, instruction)
        elif path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            jobs = _jsonl_jobs(path, instruction)
        else:
            raise EditlabError(
                f"{path}: expected a folder of images or a .jsonl file of jobs; to edit one image use "
                "`editlab edit IMAGE INSTRUCTION`"
            )
        if not jobs:
            what = f"no images ({', '.join(IMAGE_EXTENSIONS)})" if path.is_dir() else "no jobs"
            raise EditlabError(f"{path}: {what} found; add some and run again")
    else:
        jobs = [_checked(job, number) if isinstance(job, BatchJob)
                else _job_from_record(dict(job), number, Path.cwd(), instruction, where=f"job {number}")
                for number, job in enumerate(source, start=1)]
        if not jobs:
            raise EditlabError("the job list is empty; pass at least one job")
    return _mark_duplicates(jobs)


def _folder_jobs(folder: Path, instruction: str | None) -> list[BatchJob]:
    jobs = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or path.stem.endswith(MASK_SUFFIX) or path.name.startswith("."):
            continue
        sidecar = path.with_suffix(".txt")
        text = sidecar.read_text(encoding="utf-8").strip() if sidecar.is_file() else instruction
        masks = [m for m in (path.with_name(f"{path.stem}{MASK_SUFFIX}{ext}") for ext in IMAGE_EXTENSIONS)
                 if m.is_file()]
        job = BatchJob(id=path.stem, image=path.name, instruction=text or "",
                       mask=masks[0].name if masks else None, base_dir=str(folder))
        if not text:
            job.error = f"{path.name}: no instruction; add {sidecar.name} or pass an instruction for all images"
        jobs.append(job)
    return jobs


def _jsonl_jobs(path: Path, instruction: str | None) -> list[BatchJob]:
    jobs = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as exc:
                jobs.append(_broken(number, f"line {number}: not valid JSON ({exc.msg}); fix the line"))
                continue
            if not isinstance(record, dict):
                jobs.append(_broken(number, f"line {number}: expected a JSON object with image and instruction"))
                continue
            jobs.append(_job_from_record(record, number, path.parent, instruction))
    return jobs


def _job_from_record(record: dict[str, Any], number: int, base: Path, instruction: str | None, *,
                     where: str | None = None) -> BatchJob:
    where = where or f"line {number}"
    image = record.get("image")
    job_id = record.get("id")
    if not isinstance(image, str) or not image.strip():
        return _broken(number, f"{where}: missing 'image' (a path to the image to edit)",
                       job_id if isinstance(job_id, str) else None)
    job = BatchJob(
        id=str(job_id) if job_id is not None else Path(image).stem,
        image=image,
        instruction=record.get("instruction", instruction) or "",
        mask=record.get("mask"),
        seed=record.get("seed"),
        params=record.get("params") or {},
        meta={k: v for k, v in record.items() if k not in _JOB_KEYS},
        line=number,
        base_dir=str(base),
    )
    job.error = _job_problem(job, where)
    return job


def _job_problem(job: BatchJob, where: str) -> str | None:
    if not isinstance(job.instruction, str) or not job.instruction.strip():
        return f"{where}: empty or missing 'instruction'; say what to change"
    if job.mask is not None and not isinstance(job.mask, str):
        return f"{where}: 'mask' must be a path"
    if job.seed is not None and (isinstance(job.seed, bool) or not isinstance(job.seed, int) or job.seed < 0):
        return f"{where}: 'seed' must be a non-negative integer, got {job.seed!r}"
    if not isinstance(job.params, dict):
        return f"{where}: 'params' must be an object, e.g. {{\"num_inference_steps\": 20}}"
    try:
        safe_name(job.id, f"{where}: id", fix=_ID_FIX)
    except EditlabError as exc:
        return str(exc)
    if job.id.startswith(".") or _UNSAFE_ID & set(job.id):  # .* names are our temp files, removed on start
        return f"{where}: id {job.id!r} cannot be a file name; {_ID_FIX}"
    return None


def _checked(job: BatchJob, number: int) -> BatchJob:
    """A BatchJob built in code gets the same checks as a JSONL line (its id becomes a file name)."""
    job.error = job.error or _job_problem(job, f"job {number}")
    return job


def _broken(number: int, error: str, job_id: str | None = None) -> BatchJob:
    return BatchJob(id=job_id or f"line-{number}", image="", instruction="", line=number, error=error)


def _mark_duplicates(jobs: list[BatchJob]) -> list[BatchJob]:
    first: dict[str, BatchJob] = {}
    for job in jobs:
        if job.id in first:  # renamed so its error record can't overwrite the first one's
            where = f"line {first[job.id].line}" if first[job.id].line else repr(first[job.id].image)
            job.error = job.error or (f"{'line ' + str(job.line) + ': ' if job.line else ''}duplicate id "
                                      f"{job.id!r} (first used by {where}); give each job a unique 'id'")
            job.id = f"{job.id}~{job.line or len(first)}"
        first.setdefault(job.id, job)
    return jobs


# -- the manifest ----------------------------------------------------------------------------------


def read_manifest(out_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The latest record per item id in `OUT_DIR/manifest.jsonl` (torn or damaged lines skipped)."""
    records: dict[str, dict[str, Any]] = {}
    for record in Journal(Path(out_dir) / MANIFEST, strict=False).read():
        if isinstance(record.get("id"), str):
            records[record["id"]] = record
    return records


def _fingerprint(job: BatchJob, seed: int, params: Mapping[str, Any], editor_hash: str) -> str:
    """What makes an output: same fingerprint and status ok means the rerun can skip the item."""
    key = {"image": job.image, "instruction": job.instruction, "mask": job.mask, "seed": seed,
           "params": params, "editor": editor_hash}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def describe_hash(describe: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(describe, sort_keys=True, default=str).encode()).hexdigest()[:16]


# -- running ------------------------------------------------------------------------------------


@dataclass
class _Item:
    job: BatchJob
    seed: int
    params: dict[str, Any]
    fingerprint: str
    request: EditRequest | None = None


class _Runner:
    """Holds the editor, the manifest and the counters for one `run_batch` call."""

    def __init__(self, out_dir: Path, editor: Editor, describe: dict[str, Any], progress):
        self.out_dir = out_dir
        self.editor = editor
        self.editor_hash = describe_hash(describe)
        self.journal = Journal(out_dir / MANIFEST, strict=False)
        self.progress = progress
        self.counts = {"ok": 0, "error": 0, "skipped": 0}
        self.failures: list[dict[str, Any]] = []  # this run's errors, for summary.json and the console

    def record(self, item: _Item, status: str, *, error: str | None = None, output: Image.Image | None = None,
               seconds: float = 0.0, batch: int = 1) -> None:
        job = item.job
        output_name = None
        if output is not None:
            path = safe_child(self.out_dir, job.id, "batch id", suffix=".png")
            output_name = path.name
            save_image(output, path)  # the image first, then its manifest line
        record = {
            "id": job.id, "source": job.image, "instruction": job.instruction, "mask": job.mask,
            "status": status, "error": error, "output": output_name, "seconds": round(seconds, 4),
            "seed": item.seed, "params": item.params, "editor": self.editor_hash, "line": job.line,
            "size": list(item.request.image.size) if item.request is not None else None, "batch": batch,
            "fingerprint": item.fingerprint, "time": _now(),
            "meta": job.meta,
        }
        self.journal.append(record)
        self.counts[status] += 1
        if status == "error":
            self.failures.append({"id": job.id, "line": job.line, "error": error})
        self.progress.update(1)
        self.progress.set_postfix(ok=self.counts["ok"], error=self.counts["error"], refresh=False)

    def prepare(self, item: _Item) -> bool:
        """Load the image and mask; a problem becomes the item's error record."""
        job = item.job
        try:
            if job.error:
                raise EditlabError(job.error)
            image = load_image(job.path(job.image))
            mask = load_mask(job.path(job.mask), size=image.size) if job.mask else None
        except EditlabError as exc:
            where = f"line {job.line}: " if job.line and not str(exc).startswith(("line ", "job ")) else ""
            self.record(item, "error", error=where + str(exc))
            return False
        item.request = EditRequest(image=image, instruction=" ".join(job.instruction.split()), mask=mask,
                                   seed=item.seed, params=dict(item.params))
        return True

    def run_group(self, items: Sequence[_Item]) -> None:
        """One editor call for same-size items; if it fails, each item alone to isolate the culprit."""
        started = time.perf_counter()
        try:
            outputs = self.editor.edit_batch([item.request for item in items])  # type: ignore[misc]
            if not isinstance(outputs, (list, tuple)) or len(outputs) != len(items):
                raise EditlabError(f"editor returned {len(outputs) if isinstance(outputs, (list, tuple)) else 'no list'} "
                                   f"images for {len(items)} requests")
        except Exception as exc:  # noqa: BLE001 - a failing item must not stop the batch
            if len(items) > 1:
                for item in items:
                    self.run_group([item])
                return
            self.record(items[0], "error", error=_error_text(exc), seconds=time.perf_counter() - started)
            return
        seconds = (time.perf_counter() - started) / len(items)
        for item, output in zip(items, outputs, strict=True):
            size = item.request.image.size  # type: ignore[union-attr]
            if not isinstance(output, Image.Image) or output.size != size:
                got = f"{output.size[0]}x{output.size[1]}" if isinstance(output, Image.Image) else type(output).__name__
                self.record(item, "error", seconds=seconds, batch=len(items),
                            error=f"editor returned {got} for a {size[0]}x{size[1]} image; editors must keep the size")
            else:
                self.record(item, "ok", output=output.convert("RGB"), seconds=seconds, batch=len(items))


def run_batch(
    jobs: str | os.PathLike | Iterable[Mapping[str, Any] | BatchJob],
    out_dir: str | os.PathLike,
    editor: str | Editor = "toyworld",
    *,
    defaults: Mapping[str, Any] | None = None,
    resume: bool = True,
    instruction: str | None = None,
    batch_size: int = 1,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Edit every job; write `OUT_DIR/<id>.png` and `OUT_DIR/manifest.jsonl`; return the manifest path.

    `jobs`: a folder of images, a .jsonl file or an iterable of dicts (keys image, instruction,
    mask, seed, id, params). `defaults` are editor params every job starts from; a job's own
    `params` override them. Jobs without a seed get one derived from `seed` and their id, so
    reruns are reproducible. `batch_size` same-size images go to the editor together.
    With `resume` (default), items already `ok` with the same job and editor are skipped.
    A failing item is recorded as an error and the batch goes on; the summary line and
    `OUT_DIR/summary.json` give the counts, and summary.json's `failures` each failed item's reason.

    >>> manifest = run_batch("jobs.jsonl", "out/", "identity", batch_size=4)     # doctest: +SKIP
    >>> [r["status"] for r in read_manifest("out/").values()]                     # doctest: +SKIP
    ['ok', 'ok', 'error']
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EditlabError(f"batch_size must be a positive integer, got {batch_size!r}")
    job_list = load_jobs(jobs, instruction=instruction)
    defaults = dict(defaults or {})
    try:
        json.dumps(defaults, allow_nan=False)
    except (TypeError, ValueError):
        raise EditlabError("defaults must be JSON values (numbers, strings, lists, dicts)") from None
    editor_obj = get_editor(editor)
    describe = json.loads(json.dumps(editor_obj.describe(), default=str))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    busy = f"{out} is being written by another editlab batch; wait for it or pick another output folder"
    with file_lock(out / ".lock", wait=False, busy_message=busy):
        _remove_stale_temp_files(out)  # left by a kill -9 mid-write; safe while we hold the lock
        return _run_locked(job_list, out, editor_obj, describe, defaults=defaults, resume=resume,
                           batch_size=batch_size, seed=seed, progress=progress)


def _run_locked(job_list: list[BatchJob], out: Path, editor: Editor, describe: dict[str, Any], *,
                defaults: dict[str, Any], resume: bool, batch_size: int, seed: int, progress: bool) -> Path:
    from tqdm.auto import tqdm

    previous = read_manifest(out) if resume else {}
    items = [_item(job, defaults, seed, describe_hash(describe)) for job in job_list]
    done = {item.job.id for item in items if _is_done(item, previous.get(item.job.id), out)}
    started = time.perf_counter()
    bar = tqdm(total=len(items), initial=len(done), unit="img", desc="editing", disable=not progress,
               dynamic_ncols=True)
    runner = _Runner(out, editor, describe, bar)
    runner.counts["skipped"] = len(done)
    try:
        _run_grouped([item for item in items if item.job.id not in done], runner, batch_size)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    _compact_manifest(out, [item.job.id for item in items])
    summary = {"total": len(items), **runner.counts, "seconds": round(elapsed, 3), "editor": describe,
               "batch_size": batch_size, "finished": _now(), "manifest": MANIFEST, "failures": runner.failures}
    write_json(out / SUMMARY, summary)
    if progress:
        print(_summary_line(summary, out), file=sys.stderr)
    return out / MANIFEST


def _remove_stale_temp_files(out: Path) -> None:
    for temp in out.glob(".*.tmp-*"):
        temp.unlink(missing_ok=True)


def _item(job: BatchJob, defaults: Mapping[str, Any], base_seed: int, editor_hash: str) -> _Item:
    params = {**defaults, **(job.params if isinstance(job.params, dict) else {})}
    seed = job.seed if isinstance(job.seed, int) and not isinstance(job.seed, bool) and job.seed >= 0 \
        else derive_seed(base_seed, job.id)
    return _Item(job, seed, params, _fingerprint(job, seed, params, editor_hash))


def _is_done(item: _Item, record: Mapping[str, Any] | None, out: Path) -> bool:
    if record is None or record.get("status") != "ok" or record.get("fingerprint") != item.fingerprint:
        return False
    try:  # the manifest is a file on disk: an edited 'output' must not point the check elsewhere
        return safe_child(out, record.get("output"), "manifest output").is_file()
    except EditlabError:
        return False


def _run_grouped(items: Sequence[_Item], runner: _Runner, batch_size: int) -> None:
    """Feed the editor batches of same-size images, holding at most ~4 batches of images in memory."""
    buffers: dict[tuple[int, int], list[_Item]] = {}
    limit = 4 * batch_size
    for item in items:
        if not runner.prepare(item):
            continue
        size = item.request.image.size  # type: ignore[union-attr]
        buffers.setdefault(size, []).append(item)
        if len(buffers[size]) >= batch_size:
            runner.run_group(buffers.pop(size))
        elif sum(len(b) for b in buffers.values()) >= limit:
            fullest = max(buffers, key=lambda key: len(buffers[key]))
            runner.run_group(buffers.pop(fullest))
    for group in buffers.values():
        runner.run_group(group)


def _compact_manifest(out: Path, order: Sequence[str]) -> None:
    """Rewrite the manifest atomically: one line per item, in job order (older items kept at the end)."""
    latest = read_manifest(out)
    ordered = [latest.pop(job_id) for job_id in order if job_id in latest] + list(latest.values())
    write_text(out / MANIFEST, "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in ordered))


def _summary_line(summary: Mapping[str, Any], out: Path) -> str:
    return (f"editlab batch: {summary['total']} items: {summary['ok']} ok, {summary['error']} error, "
            f"{summary['skipped']} skipped (already done) in {summary['seconds']:.1f} s -> {out / MANIFEST}")


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if isinstance(exc, EditlabError) else f"{type(exc).__name__}: {text}"


def _now() -> str:
    from editlab.io.timestamps import now_iso

    return now_iso()


__all__ = ["BatchJob", "load_jobs", "read_manifest", "run_batch", "describe_hash", "MANIFEST", "SUMMARY"]
