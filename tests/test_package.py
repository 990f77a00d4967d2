import subprocess
import sys

import pytest

from editlab.cli.main import SUBCOMMANDS, build_parser, main


def test_import_is_light():
    code = "import sys, editlab; import editlab.cli.main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_help_has_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "example:" in capsys.readouterr().out


def test_parser_lists_all_subcommands():
    help_text = build_parser().format_help()
    for command in SUBCOMMANDS:
        assert command in help_text
