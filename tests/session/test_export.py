"""Contact sheets, animations and the text tree."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from editlab.errors import EditlabError
from editlab.session import EditSession, Version
from editlab.session.tree import build_tree, format_tree, tree_layout


@pytest.fixture
def branched(tmp_path, photo, fakes):
    """v0 -> v1 -> v2, v1 -> v3 -> v4, v0 -> v5 (HEAD)."""
    session = EditSession.create(tmp_path / "s", photo, editor=fakes.ColourEditor())
    session.edit("a")
    session.edit("b")
    session.undo()
    session.edit("c")
    session.edit("d")
    session.checkout("v0")
    session.edit("e")
    return session


def test_tree_layout_gives_each_branch_its_own_row(branched):
    positions = tree_layout(branched.versions, "v0")
    assert positions == {"v0": (0, 0), "v1": (1, 0), "v2": (2, 0), "v3": (2, 1), "v4": (3, 1), "v5": (1, 2)}


def test_format_tree(branched):
    assert branched.format_tree().splitlines() == [
        "v0  (original)  48x32",
        f"├─ v1  a  seed={branched['v1'].seed}",
        f"│  ├─ v2  b  seed={branched['v2'].seed}",
        f"│  └─ v3  c  seed={branched['v3'].seed}",
        f"│     v4  d  seed={branched['v4'].seed}",
        f"└─ v5  e  seed={branched['v5'].seed}   <- HEAD",
    ]


def test_a_long_linear_history_stays_flat_and_needs_no_recursion():
    versions = {f"v{k}": Version(id=f"v{k}", index=k, parent=f"v{k - 1}" if k else None, instruction=f"t{k}",
                                 image="x", size=(8, 8), seed=k) for k in range(5000)}
    lines = format_tree(versions, "v0", "v4999").splitlines()
    assert len(lines) == 5000 and all(line.startswith("v") for line in lines)
    assert sum(1 for _ in build_tree(versions, "v0").walk()) == 5000
    assert tree_layout(versions, "v0")["v4999"] == (4999, 0)


def test_contact_sheet_history_and_tree(branched, tmp_path):
    history = Image.open(branched.export_contact_sheet(tmp_path / "h.png", thumb_size=64))
    tree = Image.open(branched.export_contact_sheet(tmp_path / "t.png", versions="tree", thumb_size=64))
    every = Image.open(branched.export_contact_sheet(tmp_path / "a.jpg", versions="all", thumb_size=64, columns=3))
    # history v0, v5 in one row; tree 4 columns x 3 rows; all 6 in 3 columns x 2 rows
    assert history.width < every.width < tree.width and history.height < every.height < tree.height
    # the HEAD thumbnail (v5) is framed in orange on the history sheet
    array = np.asarray(history.convert("RGB")).reshape(-1, 3)
    assert ((array == (230, 120, 20)).all(axis=1)).sum() > 4 * 64


def test_contact_sheet_thumbnails_show_the_images(tmp_path, photo, fakes):
    session = EditSession.create(tmp_path / "s", Image.new("RGB", (40, 40), (255, 0, 0)), editor=fakes.InvertEditor())
    session.edit("invert")
    sheet = np.asarray(Image.open(session.export_contact_sheet(tmp_path / "s.png", thumb_size=40)))
    reds = ((sheet == (255, 0, 0)).all(axis=2)).sum()
    cyans = ((sheet == (0, 255, 255)).all(axis=2)).sum()
    assert reds >= 40 * 40 - 80 and cyans >= 40 * 40 - 80  # (minus the HEAD frame)


def test_gif_has_one_frame_per_history_step(branched, tmp_path):
    branched.checkout("v4")
    path = branched.export_gif(tmp_path / "h.gif", duration_ms=300)
    with Image.open(path) as gif:
        assert gif.n_frames == 4 and gif.info["loop"] == 0
        durations = []
        for frame in range(gif.n_frames):
            gif.seek(frame)
            durations.append(gif.info["duration"])
        assert durations == [300, 300, 300, 600]
        assert gif.size[0] == 48 and gif.size[1] > 32  # caption strip below the image


def test_lossless_animation_keeps_exact_pixels(branched, tmp_path):
    path = branched.export_gif(tmp_path / "h.webp", captions=False)
    with Image.open(path) as anim:
        anim.seek(1)
        assert np.array_equal(np.asarray(anim.convert("RGB")), np.asarray(branched.image("v5")))


def test_export_errors(branched, tmp_path):
    with pytest.raises(EditlabError, match="unknown animation extension"):
        branched.export_gif(tmp_path / "h.mp4")
    with pytest.raises(EditlabError, match="versions='everything'"):
        branched.export_contact_sheet(tmp_path / "x.png", versions="everything")
    assert not list(tmp_path.glob("h.*")) and not (tmp_path / "x.png").exists()
    sheet = branched.export_contact_sheet(tmp_path / "two.png", versions=["v2", "HEAD"], thumb_size=32)
    assert Image.open(sheet).size[0] < 200
