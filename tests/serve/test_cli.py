"""`editlab serve` on the command line: help, argument checks, the non-loopback warning."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from editlab.cli import serve as serve_cli  # noqa: E402
from editlab.cli.main import main  # noqa: E402


def test_help_ends_with_runnable_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--auth-token" in out and "--sessions-dir" in out
    assert out.rstrip().splitlines()[-1].strip().startswith("editlab edit")
    assert "example:" in out


def test_loopback_detection():
    assert serve_cli.is_loopback("127.0.0.1") and serve_cli.is_loopback("::1") and serve_cli.is_loopback("localhost")
    assert not serve_cli.is_loopback("0.0.0.0") and not serve_cli.is_loopback("192.168.1.5")


def test_bad_arguments_are_one_line_errors(capsys):
    assert main(["serve", "--concurrency", "0", "--model", "identity"]) == 2
    assert "--concurrency must be" in capsys.readouterr().err
    assert main(["serve", "--port", "70000", "--model", "identity"]) == 2
    assert "--port" in capsys.readouterr().err


def test_port_in_use_fails_before_loading_the_model(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--model", "identity", "--port", str(port), "--no-ui"]) == 2
    assert "cannot listen" in capsys.readouterr().err


def test_serve_starts_with_the_model_loaded_and_warns_off_loopback(monkeypatch, capsys, tmp_path):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(app=app, **kwargs))
    assert main(["serve", "--model", "identity", "--host", "0.0.0.0", "--port", "0", "--no-ui",
                 "--sessions-dir", str(tmp_path)]) == 2  # port 0 is refused
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert main(["serve", "--model", "identity", "--host", "0.0.0.0", "--port", str(port), "--no-ui",
                 "--sessions-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "editlab: warning: serving on 0.0.0.0" in captured.err and "WITHOUT a token" in captured.err
    assert seen["host"] == "0.0.0.0" and seen["port"] == port
    assert seen["app"].state.engine.loaded
    assert f"http://0.0.0.0:{port}/v1" in captured.out
