import pkgutil
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


def test_edit_can_be_called_twice_in_a_fresh_process():
    # the README's Python snippet (identity editor: no model loads); importing every subpackage
    # between the calls is what made `editlab.edit` a module when a subpackage shared its name
    code = (
        "import importlib, pkgutil\n"
        "import editlab\n"
        "from PIL import Image\n"
        "img = Image.new('RGB', (64, 64), (250, 244, 206))\n"
        "a = editlab.edit(img, 'make it grayscale', editor='identity')\n"
        "for info in pkgutil.iter_modules(editlab.__path__):\n"
        "    if info.name != '__main__':\n"
        "        importlib.import_module(f'editlab.{info.name}')\n"
        "b = editlab.edit(img, 'make it grayscale', editor='identity')\n"
        "assert callable(editlab.edit), type(editlab.edit)\n"
        "assert a.size == b.size == img.size\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_module_shares_a_name_with_a_public_function():
    import editlab

    # a submodule becomes an attribute of its package on import and would replace the function
    submodules = {info.name for info in pkgutil.iter_modules(editlab.__path__)}
    functions = {name for name in editlab.__all__ if callable(getattr(editlab, name))}
    assert not submodules & functions, f"rename the module(s) {sorted(submodules & functions)}"

