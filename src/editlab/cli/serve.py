"""`editlab serve`: the web app, the REST API and the OpenAI-compatible endpoint in one process.

Loads the model once before it listens (so a bad --model is one line and exit 2), binds to
127.0.0.1 unless --host says otherwise, and warns when it is reachable from other machines.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time

from editlab.cli.main import add_subcommand, set_thread_env
from editlab.errors import EditlabError

EXAMPLE = [
    "editlab serve                                   # http://127.0.0.1:7860, the toyworld model",
    "editlab serve --model timbrooks/instruct-pix2pix --port 8000 --sessions-dir ~/edits",
    "editlab serve --host 0.0.0.0 --auth-token \"$(openssl rand -hex 16)\"",
    "curl -s 127.0.0.1:7860/v1/edits -F image=@scene.png -F instruction=\"make the star blue\" -o out.png",
    "editlab edit scene.png \"make the star blue\" -o out.png --model http:http://127.0.0.1:7860/v1",
]
TOKEN_ENV = "EDITLAB_AUTH_TOKEN"


def register(subparsers) -> None:
    parser = add_subcommand(subparsers, "serve", "serve a web app, a REST API and an OpenAI-compatible "
                            "/v1/images/edits endpoint", EXAMPLE)
    parser.add_argument("--model", default="toyworld",
                        help="editor spec, as for `editlab edit --model` (default: the shipped toyworld model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--auth-token", default=os.environ.get(TOKEN_ENV),
                        help=f"require 'Authorization: Bearer TOKEN' on every request (default: ${TOKEN_ENV}); "
                             "open the web app once as /?token=TOKEN")
    parser.add_argument("--sessions-dir", default="editlab-sessions",
                        help="where sessions are kept, one folder each (default ./editlab-sessions); "
                             "`editlab session` opens them")
    parser.add_argument("--no-ui", action="store_true", help="serve the API only (no gradio app at /)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-upload-mb", type=float, default=20, help="largest request body in MB (default 20)")
    limits.add_argument("--max-pixels", type=int, default=4096 * 4096,
                        help="largest image, width*height (default 4096*4096)")
    limits.add_argument("--max-instruction-chars", type=int, default=2000, help="longest instruction (default 2000)")
    limits.add_argument("--concurrency", type=int, default=1, help="edits running at once (default 1)")
    limits.add_argument("--queue", type=int, default=16,
                        help="edits waiting for a slot before new ones get 503 (default 16)")
    limits.add_argument("--max-batch", type=int, default=8,
                        help="edits that arrived while the model was busy run together in one model call, up to "
                             "this many (models that batch: toyworld, identity, IP2P for requests of one size and settings; "
                             "default 8; 1 turns it off)")
    parser.set_defaults(func=run)


def _limits(args):
    from editlab.serve.limits import Limits

    try:
        return Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels,
                      max_instruction_chars=args.max_instruction_chars, max_concurrent=args.concurrency,
                      max_queue=args.queue, max_batch=args.max_batch)
    except ValueError as exc:
        flags = {"max_upload_bytes": "--max-upload-mb", "max_concurrent": "--concurrency", "max_queue": "--queue"}
        message = str(exc)
        for field, flag in flags.items():
            message = message.replace(f"Limits.{field}", flag)
        raise EditlabError(message.replace("Limits.max_", "--max-").replace("_", "-")) from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    """Fail before loading a model when the address cannot be bound."""
    if not 0 < port < 65536:
        raise EditlabError(f"--port must be from 1 to 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise EditlabError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from None


def run(args) -> int:
    set_thread_env()
    from editlab.errors import require

    require("uvicorn", "serve")
    limits = _limits(args)
    if not is_loopback(args.host):
        exposed = "with --auth-token" if args.auth_token else "WITHOUT a token: anyone who can reach it can use it"
        print(f"editlab: warning: serving on {args.host}, reachable from other machines, {exposed}", file=sys.stderr)
    _check_port(args.host, args.port)

    import uvicorn

    from editlab.serve import create_app

    started = time.perf_counter()
    app = create_app(args.model, auth_token=args.auth_token, limits=limits, sessions_dir=args.sessions_dir,
                     ui=not args.no_ui)
    engine = app.state.engine
    engine.editor  # load now: a bad --model fails here, not on the first request  # noqa: B018
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{args.port}"
    print(f"editlab serve: {engine.model_name} loaded in {time.perf_counter() - started:.1f}s; sessions in "
          f"{os.path.abspath(args.sessions_dir)}")
    entry = f"{url}/?token=<your token>" if args.auth_token else f"{url}/"
    print(f"  app  {entry}" if not args.no_ui else "  app  (off: --no-ui)")
    print(f"  API  {url}/v1 (docs at {url}/docs); OpenAI-compatible: {url}/v1/images/edits")
    print("Ctrl+C stops the server", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
