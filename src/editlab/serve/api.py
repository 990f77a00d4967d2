"""The REST API under /v1: health, models, one-off edits and sessions (OpenAPI schema at /docs).

Forms use the command line's parameter names (`seed`, `guidance_scale`, `image_guidance_scale`,
`num_inference_steps`); images travel as multipart files and come back as PNG.

    curl -s localhost:7860/v1/edits -F image=@scene.png -F instruction="make the star blue" -o out.png
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from editlab import __version__
from editlab.io.images import png_bytes
from editlab.serve.engine import Engine
from editlab.serve.errors import ApiError
from editlab.serve.limits import ClientGone

router = APIRouter(prefix="/v1")

PNG = {200: {"content": {"image/png": {}}, "description": "the image as PNG"}}
PARAMS_HEADER = "X-Editlab-Params"

Seed = Annotated[int | None, Form(description="random seed (default: a random one, reported back)")]
GuidanceScale = Annotated[float | None, Form(description="text guidance scale s_T (diffusion models)")]
ImageGuidanceScale = Annotated[float | None, Form(description="image guidance scale s_I (diffusion models)")]
Steps = Annotated[int | None, Form(description="denoising steps (diffusion models)")]
Mask = Annotated[UploadFile | None, File(description="region mask, same size: white (or transparent) = edit")]


def engine_of(request: Request) -> Engine:
    return request.app.state.engine


async def read_upload(upload: UploadFile | None, what: str, engine: Engine) -> bytes | None:
    """An uploaded file's bytes, refused when larger than the server's upload limit."""
    if upload is None:
        return None
    limit = engine.limits.max_upload_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"{what} is larger than this server's limit of {limit:,} bytes; send a smaller file",
                       "request_too_large", param=what)
    return data


async def run_job(request: Request, engine: Engine, function, *args, **kwargs):
    """Wait for a job slot (503 when the queue is full), then run `function` in a worker thread."""
    if not engine.loaded:  # the model decides how many requests a slot takes (batching), so load it first
        await run_in_threadpool(lambda: engine.editor)
    try:
        async with engine.jobs.admit(request.is_disconnected):
            return await run_in_threadpool(function, *args, **kwargs)
    except ClientGone:
        # nobody is listening; 499 is nginx's "client closed request"
        return Response(status_code=499)


@router.get("/health", summary="Is the server up, which model, how busy")
async def health(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    return {"status": "ok", "editlab": __version__, "model": engine.model_name, "loaded": engine.loaded,
            "jobs": engine.jobs.stats(), "batching": engine.batcher.stats() if engine.loaded else None,
            "limits": engine.limits.to_dict()}


@router.get("/models", summary="The model this server edits with (OpenAI's list shape)")
async def models(request: Request) -> dict[str, Any]:
    engine = engine_of(request)
    describe = await run_in_threadpool(engine.describe)
    return {"object": "list", "data": [{"id": engine.model_name, "object": "model", "owned_by": "editlab",
                                        "describe": describe}]}


@router.post("/edits", response_class=Response, responses=PNG,
             summary="Edit one image; answers the PNG, with the seed and parameters in X-Editlab-Params")
async def edit(
    request: Request,
    image: Annotated[UploadFile, File(description="the image to edit (PNG, JPEG, WebP, ...)")],
    instruction: Annotated[str, Form(description="what to change, in words")],
    mask: Mask = None,
    seed: Seed = None,
    guidance_scale: GuidanceScale = None,
    image_guidance_scale: ImageGuidanceScale = None,
    num_inference_steps: Steps = None,
) -> Response:
    engine = engine_of(request)
    text = engine.check_instruction(instruction)
    params = engine.check_params(seed, guidance_scale=guidance_scale, image_guidance_scale=image_guidance_scale,
                                 num_inference_steps=num_inference_steps)
    source = engine.load_upload(await read_upload(image, "image", engine), "image")
    mask_image = engine.load_mask_upload(await read_upload(mask, "mask", engine), source.size)
    answer = await run_job(request, engine, engine.edit, source, text, mask=mask_image, params=params)
    if isinstance(answer, Response):
        return answer
    outputs, record = answer
    png = await run_in_threadpool(png_bytes, outputs[0])
    return Response(png, media_type="image/png", headers={PARAMS_HEADER: json.dumps(record)})


# -- sessions --------------------------------------------------------------------------------------


@router.post("/sessions", status_code=201, summary="Start a session from an image (version v0)")
async def create_session(
    request: Request,
    image: Annotated[UploadFile, File(description="the original image")],
    seed: Annotated[int, Form(description="session seed; turns without a seed derive theirs from it")] = 0,
) -> dict[str, Any]:
    engine = engine_of(request)
    source = engine.load_upload(await read_upload(image, "image", engine), "image")
    session_id = await run_in_threadpool(engine.create_session, source, seed=seed)
    return await run_in_threadpool(engine.session_state, session_id)


@router.get("/sessions/{session_id}", summary="A session: HEAD, undo/redo, every version with its children")
async def get_session(request: Request, session_id: str) -> dict[str, Any]:
    return await run_in_threadpool(engine_of(request).session_state, session_id)


@router.post("/sessions/{session_id}/edits", summary="Edit HEAD (or `parent`); the new version becomes HEAD")
async def session_edit(
    request: Request,
    session_id: str,
    instruction: Annotated[str, Form(description="what to change, in words")],
    mask: Mask = None,
    seed: Annotated[int | None, Form(description="seed for this turn (default: derived from the session seed)")] = None,
    guidance_scale: GuidanceScale = None,
    image_guidance_scale: ImageGuidanceScale = None,
    num_inference_steps: Steps = None,
    parent: Annotated[str | None, Form(description="edit this version instead of HEAD (a branch)")] = None,
) -> Any:
    engine = engine_of(request)
    engine.session_dir(session_id)  # 400/404 before reading uploads
    text = engine.check_instruction(instruction)
    params = engine.check_params(seed, guidance_scale=guidance_scale, image_guidance_scale=image_guidance_scale,
                                 num_inference_steps=num_inference_steps)
    mask_bytes = await read_upload(mask, "mask", engine)
    answer = await run_job(request, engine, engine.session_edit, session_id, text, mask=mask_bytes, params=params,
                           parent=parent)
    if isinstance(answer, Response):
        return answer
    session, version = answer
    state = await run_in_threadpool(engine.session_state, session_id, session)
    return {"version": next(v for v in state["versions"] if v["id"] == version.id), "session": state}


@router.post("/sessions/{session_id}/undo", summary="Move HEAD back to its parent (`steps` times)")
async def undo(request: Request, session_id: str,
               steps: Annotated[int, Form(description="how many turns")] = 1) -> dict[str, Any]:
    return await _move(request, session_id, "undo", steps)


@router.post("/sessions/{session_id}/redo", summary="Re-apply the last undone turn (`steps` times)")
async def redo(request: Request, session_id: str,
               steps: Annotated[int, Form(description="how many turns")] = 1) -> dict[str, Any]:
    return await _move(request, session_id, "redo", steps)


@router.post("/sessions/{session_id}/checkout", summary="Make any version HEAD; the next edit branches from it")
async def checkout(request: Request, session_id: str,
                   version: Annotated[str, Form(description="version id (v2), HEAD~N or root")]) -> dict[str, Any]:
    return await _move(request, session_id, "checkout", version)


async def _move(request: Request, session_id: str, step: str, argument: Any) -> dict[str, Any]:
    engine = engine_of(request)

    def move() -> dict[str, Any]:
        session = engine.open_session(session_id)
        getattr(session, step)(argument)
        return engine.session_state(session_id, session)

    return await run_in_threadpool(move)


@router.get("/sessions/{session_id}/versions/{version_id}.png", response_class=Response, responses=PNG,
            summary="A version's image (v3, HEAD, HEAD~1, root)")
async def version_image(request: Request, session_id: str, version_id: str) -> Response:
    engine = engine_of(request)

    def image() -> bytes:
        return png_bytes(engine.open_session(session_id).image(version_id))

    return Response(await run_in_threadpool(image), media_type="image/png")

