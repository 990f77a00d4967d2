import subprocess
import sys

from editlab.cli.main import main


def test_help_ends_with_a_runnable_example(capsys):
    import pytest

    with pytest.raises(SystemExit) as exited:
        main(["train", "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "example:" in out and "editlab train --config configs/train/tiny.yaml" in out


def test_unknown_key_exits_2_with_did_you_mean(capsys):
    assert main(["train", "--max_stepz", "3"]) == 2
    assert "did you mean 'max_steps'" in capsys.readouterr().err


def test_print_config_resolves_overrides(capsys):
    assert main(["train", "--print-config", "--max_steps", "3", "--data", "a,b"]) == 0
    out = capsys.readouterr().out
    assert "max_steps: 3" in out and "- a" in out


def test_help_does_not_import_torch():
    code = "import sys; from editlab.cli.main import build_parser; build_parser(); print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
