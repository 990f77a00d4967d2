"""A real `editlab serve` process on a loopback port: killed with -9 while edits are in flight, its
sessions stay readable (every finished turn is on disk, HEAD consistent, `editlab session` opens them)."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _post(url: str, fields: dict[str, str], files: dict[str, bytes] | None = None, timeout: float = 30):
    boundary = "editlab-test-boundary"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, data in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.png"\r\n'
                     f"Content-Type: image/png\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_server_killed_with_9_mid_edit_leaves_sessions_readable(tmp_path):
    from editlab import toyworld
    from editlab.cli.main import main
    from editlab.session import EditSession

    port = _free_port()
    sessions = tmp_path / "sessions"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "editlab", "serve", "--model", "toyworld", "--no-ui", "--port", str(port),
         "--sessions-dir", str(sessions)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read().decode()
            try:
                urllib.request.urlopen(url + "/v1/health", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "editlab serve did not start"
                time.sleep(0.2)
        scene = toyworld.generate_example(3, index=0)
        ids = [_post(url + "/v1/sessions", {}, {"image": _png(scene.source)})["id"] for _ in range(2)]

        # edits keep arriving on both sessions from several clients until the server dies under them
        done: list[str] = []
        stop = threading.Event()

        def client(session_id: str, n: int) -> None:
            i = 0
            while not stop.is_set():
                try:
                    answer = _post(f"{url}/v1/sessions/{session_id}/edits",
                                   {"instruction": f"{scene.instruction} ({n}.{i})"}, timeout=10)
                    done.append(answer["version"]["id"])
                except (urllib.error.URLError, ConnectionError, OSError, json.JSONDecodeError):
                    return  # the server is gone
                i += 1

        threads = [threading.Thread(target=client, args=(ids[n % 2], n), daemon=True) for n in range(4)]
        for thread in threads:
            thread.start()
        while len(done) < 12:
            assert server.poll() is None and time.monotonic() < deadline + 60, "edits did not go through"
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        stop.set()
        for thread in threads:
            thread.join(15)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)

    assert server.returncode == -signal.SIGKILL
    total = 0
    for session_id in ids:
        session = EditSession.open(sessions / session_id)
        assert session.verify() == [], session.verify()
        assert session.head.id in session.versions
        for version in session.versions.values():
            assert session.image(version).size == scene.source.size
        total += len(session) - 1
        assert main(["session", "log", str(sessions / session_id)]) == 0
    assert total >= len(done)  # every answered edit is on disk (one in flight may be too)
    assert Path(sessions).is_dir()
