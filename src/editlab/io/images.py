"""Loading and saving images predictably.

Every image that enters editlab goes through `load_image`: any common format (PNG, JPEG, WebP,
BMP, TIFF, GIF first frame), EXIF orientation applied, and every mode (RGBA, palette, 16-bit,
CMYK, grayscale, 1-bit) converted the same way to 8-bit RGB. Problems become one-line
`EditlabError`s that name the file.
"""

from __future__ import annotations

import base64
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from editlab.errors import EditlabError
from editlab.io.atomic import atomic_write

ImageInput = str | os.PathLike | bytes | io.BytesIO | Image.Image | np.ndarray

#: Default pixel-count limit (width*height): large enough for 8K photos, small enough to refuse
#: decompression bombs. Override per call or with the EDITLAB_MAX_PIXELS environment variable.
DEFAULT_MAX_PIXELS = 8192 * 8192

WHITE = (255, 255, 255)


def max_pixels_default() -> int:
    value = os.environ.get("EDITLAB_MAX_PIXELS")
    return int(value) if value else DEFAULT_MAX_PIXELS


def _name(source: ImageInput) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__name__}>"


def _open(source: ImageInput) -> Image.Image:
    name = _name(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise EditlabError(f"{name}: file not found; check the path")
        if path.is_dir():
            raise EditlabError(f"{name}: is a folder, not an image file; pass an image file")
        if path.stat().st_size == 0:
            raise EditlabError(f"{name}: file is empty (0 bytes); re-export or re-download it")
        opener = path
    elif isinstance(source, bytes):
        if not source:
            raise EditlabError("<bytes>: no image data (0 bytes)")
        opener = io.BytesIO(source)
    else:
        opener = source
    try:
        with warnings.catch_warnings():
            # We enforce our own limit below with a clear message.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(opener)
    except UnidentifiedImageError:
        raise EditlabError(
            f"{name}: not an image editlab can read; use PNG, JPEG, WebP, BMP, TIFF or GIF"
        ) from None
    except Image.DecompressionBombError:
        raise EditlabError(f"{name}: image is too large to open safely; pass a smaller image") from None
    except OSError as exc:
        raise EditlabError(f"{name}: cannot open image ({exc}); the file may be corrupt") from None


def _check_size(image: Image.Image, name: str, max_pixels: int) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise EditlabError(f"{name}: image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise EditlabError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}; "
            "downscale it or raise the limit (max_pixels= / EDITLAB_MAX_PIXELS)"
        )


def _to_8bit(image: Image.Image) -> Image.Image:
    """16-bit and float grayscale to 8-bit 'L' by scaling the full range, not clipping."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        array = np.asarray(image, dtype=np.uint16).astype(np.float64) / 257.0
    elif image.mode == "I":
        array = np.asarray(image, dtype=np.int64).astype(np.float64)
        # 32-bit integer PNGs/TIFFs usually carry 16-bit data.
        array = array / 257.0 if array.max(initial=0) > 255 else array
    elif image.mode == "F":
        array = np.asarray(image, dtype=np.float64)
        array = array * 255.0 if array.max(initial=0) <= 1.0 else array
    else:
        return image
    return Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")


def _flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB, compositing any transparency over `background`."""
    if image.mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
    if image.mode in ("LA", "La", "PA", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        canvas = Image.new("RGB", image.size, background)
        canvas.paste(image, mask=image.getchannel("A"))
        return canvas
    # CMYK (PIL already undoes Adobe's inverted JPEG CMYK), L, 1, I/F via _to_8bit, YCbCr, LAB...
    return image.convert("RGB")


def load_image(
    source: ImageInput,
    *,
    keep_alpha: bool = False,
    background: tuple[int, int, int] = WHITE,
    max_pixels: int | None = None,
) -> Image.Image:
    """Load any common image as 8-bit RGB (or RGBA with `keep_alpha=True`), EXIF orientation applied.

    Transparent pixels are composited over `background` (white by default). A GIF or other
    animation gives its first frame.

    >>> from PIL import Image
    >>> load_image(Image.new("LA", (4, 2))).mode
    'RGB'
    """
    name = _name(source)
    max_pixels = max_pixels_default() if max_pixels is None else max_pixels
    if isinstance(source, np.ndarray):
        source = _array_to_image(source, name)
    image = source if isinstance(source, Image.Image) else _open(source)
    _check_size(image, name, max_pixels)
    try:
        if getattr(image, "n_frames", 1) > 1:
            image.seek(0)
        image.load()
        image = ImageOps.exif_transpose(image) or image
        image = _to_8bit(image)
        if keep_alpha:
            has_alpha = image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
            return image.convert("RGBA") if has_alpha else _flatten(image, background)
        return _flatten(image, background)
    except EditlabError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise EditlabError(f"{name}: image data is truncated or corrupt ({exc}); re-export the file") from None


def _array_to_image(array: np.ndarray, name: str) -> Image.Image:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise EditlabError(f"{name}: expected an HxW, HxWx3 or HxWx4 array, got shape {array.shape}")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            array = np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
        else:
            raise EditlabError(f"{name}: array dtype {array.dtype} unsupported; pass uint8 or float in [0, 1]")
    return Image.fromarray(array)


def load_mask(source: ImageInput, *, size: tuple[int, int] | None = None, max_pixels: int | None = None) -> Image.Image:
    """Load an edit-region mask as mode 'L': 255 = edit here, 0 = keep.

    A mask with transparency follows the OpenAI image-edit convention: transparent pixels are
    the region to edit. Otherwise the grayscale value is used. With `size`, a mismatch is an
    error rather than a silent resize.
    """
    name = _name(source)
    image = load_image(source, keep_alpha=True, max_pixels=max_pixels)
    if image.mode == "RGBA" and image.getchannel("A").getextrema() != (255, 255):
        mask = ImageOps.invert(image.getchannel("A"))
    else:
        mask = image.convert("L")
    if size is not None and mask.size != tuple(size):
        raise EditlabError(
            f"{name}: mask is {mask.size[0]}x{mask.size[1]} but the image is {size[0]}x{size[1]}; "
            "pass a mask of the same size"
        )
    return mask


_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
            ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF"}


def save_image(image: Image.Image, path: str | os.PathLike, **save_kwargs) -> Path:
    """Save atomically; the format follows the file extension (PNG is lossless and the default).

    >>> from PIL import Image
    >>> save_image(Image.new("RGB", (2, 2)), "x.png")   # doctest: +SKIP
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise EditlabError(f"{path}: unknown image extension {path.suffix!r}; use one of {', '.join(_FORMATS)}")
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    with atomic_write(path, "wb") as handle:
        image.save(handle, format=fmt, **save_kwargs)
    return path


def png_bytes(image: Image.Image) -> bytes:
    """The image as PNG bytes (what sessions hash and store, the API answers, data shards hold)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def image_data_url(image: Image.Image) -> str:
    """A `data:image/png;base64,...` URL of the image in RGB (how chat APIs take images)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image.convert("RGB"))).decode("ascii")
