import io
import os

import numpy as np
import pytest
from PIL import Image

from editlab.errors import EditlabError
from editlab.io import load_image, load_mask, save_image, write_json
from editlab.io.atomic import atomic_write


def _save(image: Image.Image, path, **kw):
    image.save(path, **kw)
    return path


@pytest.mark.parametrize("ext", ["png", "jpg", "webp", "bmp", "tiff", "gif"])
def test_formats_load_as_rgb(tmp_path, ext):
    image = Image.new("RGB", (7, 5), (200, 30, 30))
    path = _save(image, tmp_path / f"x.{ext}")
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (7, 5)
    r, g, b = out.getpixel((3, 2))
    assert r > 150 and g < 80 and b < 80


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "a.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    assert load_image(path).getpixel((0, 0))[0] > 200


def test_exif_orientation_applied(tmp_path):
    image = Image.new("RGB", (6, 3), (0, 0, 0))
    image.putpixel((0, 0), (255, 255, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = tmp_path / "o.jpg"
    image.save(path, exif=exif, quality=100)
    out = load_image(path)
    assert out.size == (3, 6)


def test_rgba_composited_on_white_or_kept():
    image = Image.new("RGBA", (2, 2), (255, 0, 0, 0))
    assert load_image(image).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(image, keep_alpha=True).mode == "RGBA"


def test_palette_16bit_cmyk_gray_predictable():
    pal = Image.new("P", (2, 2), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert load_image(pal).getpixel((0, 0)) == (10, 20, 30)
    sixteen = Image.fromarray(np.full((2, 2), 65535, dtype=np.uint16))
    assert load_image(sixteen).getpixel((0, 0)) == (255, 255, 255)
    half = Image.fromarray(np.full((2, 2), 32896, dtype=np.uint16))
    assert load_image(half).getpixel((0, 0)) == (128, 128, 128)
    assert load_image(Image.new("CMYK", (2, 2), (0, 0, 0, 0))).getpixel((0, 0)) == (255, 255, 255)
    assert load_image(Image.new("L", (2, 2), 77)).getpixel((0, 0)) == (77, 77, 77)


def test_pixel_limit(tmp_path):
    path = _save(Image.new("RGB", (100, 100)), tmp_path / "big.png")
    with pytest.raises(EditlabError, match="exceeds the limit"):
        load_image(path, max_pixels=100 * 99)


def test_bad_files_one_line_errors(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, format="PNG")
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    for path, needle in [(empty, "empty"), (text, "not an image"), (truncated, "truncated"),
                         (tmp_path / "missing.png", "not found")]:
        with pytest.raises(EditlabError) as info:
            load_image(path)
        message = str(info.value)
        assert needle in message and str(path) in message and "\n" not in message


def test_mask_alpha_and_size(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 255))
    rgba.putpixel((1, 1), (0, 0, 0, 0))
    mask = load_mask(rgba)
    assert mask.mode == "L" and mask.getpixel((1, 1)) == 255 and mask.getpixel((0, 0)) == 0
    with pytest.raises(EditlabError, match="mask is 4x4 but the image is 5x4"):
        load_mask(rgba, size=(5, 4))


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as f:
            f.write("partial")
            raise RuntimeError("boom")
    assert target.read_text().strip().startswith("{")
    assert sorted(os.listdir(tmp_path)) == ["out.json"]


def test_save_image_atomic_and_roundtrip(tmp_path):
    image = Image.new("RGB", (3, 2), (1, 2, 3))
    path = save_image(image, tmp_path / "sub" / "a.png")
    assert load_image(path).getpixel((2, 1)) == (1, 2, 3)
    with pytest.raises(EditlabError, match="unknown image extension"):
        save_image(image, tmp_path / "a.xyz")
