"""Checked joins: untrusted names never leave their root."""

from __future__ import annotations

import os

import pytest

from editlab.errors import EditlabError
from editlab.io.paths import MAX_PART_BYTES, safe_child, safe_name


@pytest.mark.parametrize("name", ["a", "cat-1.v2", "100_iter_2", "ünïcode", "x" * MAX_PART_BYTES])
def test_plain_names_pass_unchanged(name):
    assert safe_name(name, "name") == name


def test_subdirs_only_when_allowed():
    assert safe_name("edit/en/42", "name", subdirs=True) == "edit/en/42"
    with pytest.raises(EditlabError, match="contains '/'"):
        safe_name("edit/en/42", "name")


@pytest.mark.parametrize(("name", "problem"), [
    ("../../../x", "goes up a folder"),
    ("a/../../x", "goes up a folder"),
    ("..", "goes up a folder"),
    ("/etc/x", "absolute path"),
    ("//server/x", "absolute path"),
    ("a\\..\\x", "backslash"),
    ("C:x", "drive letter"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("", "is empty"),
    ("a//b", "empty or '.' path part"),
    ("a/./b", "empty or '.' path part"),
    ("a/", "empty or '.' path part"),
    (".", "empty or '.' path part"),
    ("x" * (MAX_PART_BYTES + 1), "longer than"),
    ("a/" * 600, "longer than 1024"),
    (42, "int, not text"),
    (None, "NoneType, not text"),
])
def test_unsafe_names_are_one_line_errors_naming_the_value(name, problem):
    with pytest.raises(EditlabError) as caught:
        safe_name(name, "benchmark output name", subdirs=True)
    message = str(caught.value)
    assert problem in message and message.startswith("benchmark output name ")
    assert "\n" not in message and "cannot be a file name" in message and "; " in message


def test_safe_child_joins_and_adds_the_suffix(tmp_path):
    assert safe_child(tmp_path, "a/b", "name", subdirs=True, suffix=".png") == tmp_path / "a" / "b.png"
    with pytest.raises(EditlabError, match="goes up a folder"):
        safe_child(tmp_path, "../x", "name", subdirs=True, suffix=".png")


def test_safe_child_refuses_a_symlink_out_of_the_root(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(EditlabError, match="resolves outside"):
        safe_child(root, "link/x", "name", subdirs=True)
    (root / "inside").mkdir()
    assert safe_child(root, "inside/x", "name", subdirs=True) == root / "inside" / "x"


def test_a_symlinked_root_is_fine(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert safe_child(tmp_path / "alias", "x", "name") == tmp_path / "alias" / "x"
