"""`editlab edit`: one image (or a folder / .jsonl of jobs) + an instruction -> the edited image.

Everything is checked before the model is loaded (instruction, image, mask, output path), the
output is written atomically at the end, and a problem is one line on stderr with exit code 2:
nothing is written on error.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from editlab.cli.main import add_subcommand
from editlab.cli.params import (
    add_editing_parameters,
    add_model,
    add_output,
    add_scale_lists,
    editing_parameters,
    parse_key_values,
    scale_list,
)
from editlab.errors import EditlabError

EXAMPLE = [
    'editlab edit photo.png "make the sky purple" -o edited.png --seed 1 --num-inference-steps 20',
    'editlab edit photo.png "remove the lamp" -o out.png --model timbrooks/instruct-pix2pix --mask-box 40,60,200,220',
    'editlab edit photo.png "make it snowy" -o sheet.png --sweep --guidance-scales 5,7.5,10 --image-guidance-scales 1,1.5',
    "editlab edit photos/ \"make it autumn\" -o edited/      # a folder (or jobs.jsonl): a resumable batch",
]


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "edit", "edit an image with a written instruction", EXAMPLE)
    parser.add_argument("image", help="input image, or a folder of images / a .jsonl of jobs for a batch")
    parser.add_argument("instruction", nargs="?", help="what to change, in words (a batch may take it per job)")
    add_output(parser, required=True, help="output image (a folder for a batch)")
    add_model(parser, help="toyworld (a one-step editor for toyworld scenes only, no guidance), toyworld-ip2p (its "
                           "diffusion sibling), a hub id, a diffusers folder, a .safetensors file, or an editor spec: "
                           "ip2p:M, sdxl-ip2p:M, diffusers:M, http:URL, identity")
    region = parser.add_argument_group("region (edit only inside a mask)")
    masks = region.add_mutually_exclusive_group()
    masks.add_argument("--mask", help="mask image, same size as IMAGE: white = edit, black = keep")
    masks.add_argument("--mask-box", metavar="X0,Y0,X1,Y1", help="edit inside this box (pixels)")
    masks.add_argument("--mask-polygon", metavar="X,Y,X,Y,...", help="edit inside this polygon (pixels)")
    region.add_argument("--mask-feather", type=int, metavar="PX",
                        help="width of the blend band outside the mask (default ~1.5%% of the long side)")

    sampling = add_editing_parameters(parser, title="sampling")
    sampling.add_argument("--resolution", type=int, metavar="PX",
                          help="work at about PX*PX pixels (default: the model's native size)")
    sampling.add_argument("--keep-resolution", action="store_true", help="work at the input's own resolution")
    sampling.add_argument("--reference", action="store_true",
                          help="diffusers' own behaviour: no editlab extras (100 steps, 3 branches every step)")

    guidance = parser.add_argument_group("finding the guidance scales")
    modes = guidance.add_mutually_exclusive_group()
    modes.add_argument("--sweep", action="store_true", help="write a contact sheet over text x image scales to OUT")
    modes.add_argument("--auto-guidance", action="store_true", help="pick the scales for this image by a scorer")
    add_scale_lists(guidance)
    guidance.add_argument("--scorer", choices=("clip", "toyworld", "judge"),
                          help="auto-guidance scorer (default: toyworld oracle for the toyworld model, else clip)")
    guidance.add_argument("--clip-model", help="CLIP hub id or folder for --scorer clip "
                          "(default openai/clip-vit-large-patch14)")
    guidance.add_argument("--judge", default="viescore", help="judge for --scorer judge (default viescore)")
    guidance.add_argument("--judge-backend", help="VLM backend for --scorer judge, e.g. openai:gpt-4o")
    guidance.add_argument("--sheet", help="with --auto-guidance: also write the scored contact sheet here")

    loading = parser.add_argument_group("model loading")
    loading.add_argument("--device", help="cuda, cpu or mps (default: the best available)")
    loading.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), default="auto",
                         help="auto: fp16 on CUDA, bf16 UNet on CPUs with native bf16, else fp32")
    loading.add_argument("--config", help="diffusers folder or hub id with the configs of a single-file checkpoint")
    loading.add_argument("--revision", help="hub revision (branch, tag or commit)")
    loading.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                         help="extra editor option, e.g. size=1024x1024 for http editors (repeatable; JSON values)")
    parser.add_argument("--no-resume", action="store_true", help="batch: redo items already done")
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------- argument checks


def _request_params(args) -> dict[str, Any]:
    params = editing_parameters(args)
    if args.mask_feather is not None:
        params["mask_feather"] = args.mask_feather
    if args.resolution is not None and args.keep_resolution:
        raise EditlabError("--resolution and --keep-resolution contradict each other; pass one")
    if args.resolution is not None:
        if args.resolution < 8:
            raise EditlabError(f"--resolution is a side length in pixels (e.g. 512), got {args.resolution}")
        params["target_pixels"] = args.resolution * args.resolution
    if args.keep_resolution:
        params["target_pixels"] = None
    return params


def _editor_options(args) -> dict[str, Any]:
    options: dict[str, Any] = {}
    spec = args.model
    is_service = spec.startswith(("http:", "https:")) or spec in ("identity",) or spec.startswith("precomputed")
    if not is_service:
        options["precision"] = args.precision
        for key in ("device", "config", "revision"):
            if getattr(args, key) is not None:
                options[key] = getattr(args, key)
        if args.reference:
            options["reference"] = True
        if args.scheduler:
            options["scheduler"] = args.scheduler
    elif args.reference or args.scheduler:
        raise EditlabError(f"--reference/--scheduler apply to diffusion models, not to {spec!r}")
    options.update(parse_key_values(args.option, "--option"))
    return options


def _load_mask(args, image):
    from editlab.imaging import masks
    from editlab.io import load_mask

    if args.mask:
        return masks.check_mask(load_mask(args.mask, size=image.size), image.size, name=args.mask)
    if args.mask_box:
        return masks.mask_from_box(image.size, masks.parse_box(args.mask_box))
    if args.mask_polygon:
        return masks.mask_from_polygon(image.size, masks.parse_polygon(args.mask_polygon))
    return None


def _check_output(path: str) -> Path:
    from editlab.io.images import _FORMATS

    out = Path(path)
    if out.suffix.lower() not in _FORMATS:
        raise EditlabError(f"{out}: unknown image extension {out.suffix!r}; use one of {', '.join(_FORMATS)}")
    if out.is_dir():
        raise EditlabError(f"{out} is a folder; pass an image file name for -o")
    return out


# ------------------------------------------------------------------------------- run


def run(args) -> int:
    source = Path(args.image)
    if source.is_dir() or source.suffix.lower() == ".jsonl":
        return _run_batch(args, source)
    from editlab.editors.params import check_instruction
    from editlab.io import load_image

    instruction = check_instruction(args.instruction or "")
    out = _check_output(args.out)
    if args.sheet:
        _check_output(args.sheet)
    image = load_image(args.image)
    mask = _load_mask(args, image)
    params = _request_params(args)
    text_scales = scale_list(args, "guidance_scales")
    image_scales = scale_list(args, "image_guidance_scales")
    if (text_scales or image_scales) and not (args.sweep or args.auto_guidance):
        raise EditlabError("--guidance-scales/--image-guidance-scales go with --sweep or --auto-guidance; "
                           "for one edit use --guidance-scale/--image-guidance-scale")
    scorer = _make_scorer(args) if args.auto_guidance else None

    from editlab.editors import get_editor
    from editlab.types import EditRequest

    started = time.perf_counter()
    editor = get_editor(args.model, **_editor_options(args))
    request = EditRequest(image=image, instruction=instruction, mask=mask, seed=args.seed, params=params)
    if args.sweep or args.auto_guidance:
        if getattr(editor, "guidance_free", False):
            raise EditlabError(f"--sweep and --auto-guidance vary guidance scales, which the {editor.name} model does not "
                               "have (one forward pass); use a diffusion model, e.g. --model toyworld-ip2p")
        return _run_guidance(args, editor, request, scorer, out, text_scales, image_scales, started)
    result = editor.edit(request)
    record = _record(editor, request)
    _save(result, out, record)
    print(f"wrote {out} ({result.width}x{result.height}) with {editor.name}, seed {args.seed}, "
          f"in {time.perf_counter() - started:.1f}s")
    return 0


def _make_scorer(args):
    from editlab.editors.guidance import default_scorer_name, get_scorer

    name = args.scorer or default_scorer_name(args.model, args.clip_model)
    if name == "clip":
        return get_scorer("clip", encoder=args.clip_model)
    if name == "judge":
        return get_scorer("judge", judge=args.judge, backend=args.judge_backend)
    return get_scorer(name)


def _run_guidance(args, editor, request, scorer, out, text_scales, image_scales, started) -> int:
    from editlab.editors import guidance

    if args.sweep:
        result = guidance.run_sweep(editor, request, text_scales or guidance.SWEEP_TEXT_SCALES,
                                    image_scales or guidance.SWEEP_IMAGE_SCALES)
        _save(guidance.contact_sheet(result), out, {"sweep": result.to_dict()})
        print(f"wrote {out}: {len(result.cells)} edits over text {list(result.text_scales)} x image "
              f"{list(result.image_scales)} in {time.perf_counter() - started:.1f}s")
        return 0
    best, result = guidance.auto_guidance(editor, request, scorer, text_scales or guidance.AUTO_TEXT_SCALES,
                                          image_scales or guidance.AUTO_IMAGE_SCALES)
    chosen = result.meta["chosen"]
    if args.sheet:
        _save(guidance.contact_sheet(result), Path(args.sheet), {"sweep": result.to_dict()})
    _save(best, out, {"auto_guidance": result.to_dict()})
    print(f"wrote {out}: chose text {chosen['text_scale']:g}, image {chosen['image_scale']:g} "
          f"(score {chosen['score']:.3f} by {scorer.name}) from {len(result.cells)} edits "
          f"in {time.perf_counter() - started:.1f}s")
    return 0


def _run_batch(args, source: Path) -> int:
    try:
        from editlab.batch import run_batch
    except ImportError:
        raise EditlabError("batch editing (a folder or .jsonl as IMAGE) is not available in this editlab; "
                           "pass a single image") from None
    if args.sweep or args.auto_guidance or args.mask or args.mask_box or args.mask_polygon:
        raise EditlabError("--sweep, --auto-guidance and command-line masks take a single image; for a batch "
                           "put masks in the jobs file (\"mask\": ...) or next to images (name.mask.png)")
    if not source.exists():
        raise EditlabError(f"{source}: file not found; check the path")
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise EditlabError(f"{out_dir} is a file; for a batch -o is the output folder")
    from editlab.editors import get_editor

    editor = get_editor(args.model, **_editor_options(args))
    manifest = run_batch(source, out_dir, editor, defaults=_request_params(args), resume=not args.no_resume,
                         instruction=args.instruction, seed=args.seed)
    print(f"manifest: {manifest}")
    return _report_failures(manifest.parent)


def _report_failures(out_dir: Path) -> int:
    """One line per failed item on stderr; exit 1 if any failed (the rest of the batch is kept)."""
    from editlab.batch import SUMMARY

    failures = json.loads((out_dir / SUMMARY).read_text(encoding="utf-8")).get("failures", [])
    for failure in failures:
        reason = " ".join(str(failure["error"]).split())
        print(f"editlab: item {failure['id']!r} failed: {reason}", file=sys.stderr)
    return 1 if failures else 0


def _record(editor, request) -> dict[str, Any]:
    provenance = getattr(editor, "last_provenance", None) or [None]
    return {"instruction": request.instruction, "seed": request.seed, "params": request.params,
            "mask": request.mask is not None, "editor": editor.describe(), "edit": provenance[0]}


def _save(image, out: Path, record: dict[str, Any]) -> None:
    """Atomic save; PNGs carry the provenance as an 'editlab' text chunk."""
    from editlab.io import save_image

    kwargs = {}
    if out.suffix.lower() == ".png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("editlab", json.dumps(record, default=str, ensure_ascii=False))
        kwargs["pnginfo"] = info
    save_image(image, out, **kwargs)
