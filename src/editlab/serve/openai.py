"""OpenAI-compatible `POST /v1/images/edits`: existing OpenAI clients work against `editlab serve`.

The request is OpenAI's multipart form (`image`, `prompt`, optional `mask` whose transparent
pixels mark the region, `n`, `size`, `response_format`, `output_format`, `model`); the answer is
`{"created": ..., "data": [{"b64_json": ...}, ...]}`. `response_format=url` answers `data:` URLs
(the server keeps no files to link to), which editlab's own `http:` editor and browsers read.
Fields of OpenAI's API that a local model has no use for (`quality`, `background`, `user`, ...)
are accepted and ignored.

    editlab edit scene.png "make the star blue" -o out.png --model http:http://127.0.0.1:7860/v1
"""

from __future__ import annotations

import base64
import io
import re
import time
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from editlab.serve.api import engine_of, read_upload, run_job
from editlab.serve.errors import ApiError

router = APIRouter(prefix="/v1")

FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


@router.post("/images/edits", summary="OpenAI-compatible image edit (b64_json or data: URLs)")
async def images_edits(
    request: Request,
    prompt: Annotated[str, Form(description="what to change, in words")],
    image: Annotated[UploadFile | None, File(description="the image to edit")] = None,
    images: Annotated[list[UploadFile] | None, File(alias="image[]", description="OpenAI's list form; one image")] = None,
    mask: Annotated[UploadFile | None, File(description="PNG whose transparent pixels mark the region")] = None,
    model: Annotated[str | None, Form(description="accepted; this server edits with its one model")] = None,
    n: Annotated[int, Form(description="images to make (seeds seed, seed+1, ...)")] = 1,
    size: Annotated[str | None, Form(description="'auto' (the input's size) or WxH to resize the answer")] = "auto",
    response_format: Annotated[str | None, Form(description="b64_json (default) or url (a data: URL)")] = None,
    output_format: Annotated[str | None, Form(description="png (default), jpeg or webp")] = None,
    seed: Annotated[int | None, Form(description="editlab extension: the seed of the first image")] = None,
) -> Any:
    del model  # one model per server; /v1/models says which
    engine = engine_of(request)
    text = engine.check_instruction(prompt, "prompt")
    if not 1 <= n <= engine.limits.max_n:
        raise ApiError(400, f"n must be from 1 to {engine.limits.max_n}, got {n}", param="n")
    response_format = response_format or "b64_json"
    if response_format not in ("b64_json", "url"):
        raise ApiError(400, f"response_format must be 'b64_json' or 'url', got {response_format!r}",
                       param="response_format")
    fmt = (output_format or "png").lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in FORMATS:
        raise ApiError(400, f"output_format must be png, jpeg or webp, got {output_format!r}", param="output_format")
    target = _parse_size(size, engine.limits.max_pixels)
    params = engine.check_params(seed)
    uploads = ([image] if image is not None else []) + list(images or [])
    if len(uploads) != 1:
        raise ApiError(422 if not uploads else 400, "missing field 'image'" if not uploads else
                       f"got {len(uploads)} images; this server edits one image per request", param="image")
    source = engine.load_upload(await read_upload(uploads[0], "image", engine), "image")
    mask_image = engine.load_mask_upload(await read_upload(mask, "mask", engine), source.size)
    answer = await run_job(request, engine, engine.edit, source, text, mask=mask_image, params=params, n=n)
    if isinstance(answer, Response):
        return answer
    outputs, record = answer

    def encode() -> list[dict[str, str]]:
        items = []
        for output in outputs:
            if target is not None and output.size != target:
                from PIL import Image

                output = output.resize(target, Image.Resampling.LANCZOS)
            data = base64.b64encode(_encode(output, fmt)).decode("ascii")
            items.append({"b64_json": data} if response_format == "b64_json"
                         else {"url": f"data:{FORMATS[fmt][1]};base64,{data}"})
        return items

    data = await run_in_threadpool(encode)
    width, height = target or source.size
    return {"created": int(time.time()), "data": data, "output_format": fmt, "size": f"{width}x{height}",
            "editlab": record}


def _parse_size(size: str | None, max_pixels: int) -> tuple[int, int] | None:
    if size in (None, "", "auto"):
        return None
    match = _SIZE.match(size.strip().lower())
    if not match:
        raise ApiError(400, f"size must be 'auto' or WxH (e.g. 1024x1024), got {size!r}", param="size")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1 or width * height > max_pixels:
        raise ApiError(400, f"size {size} must be positive and at most {max_pixels:,} pixels", param="size")
    return width, height


def _encode(image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=FORMATS[fmt][0])
    return buffer.getvalue()
