"""Reading untrusted reference photos for ``looks create``: bounded, validated, one reason per bad file.

A photo is only decoded after its header says it is a raster image of a supported format with at most
:data:`MAX_PIXELS` pixels, and its file is at most :data:`MAX_PHOTO_BYTES` long, so a decompression
bomb renamed ``.jpg`` (or a 30000x30000 PNG, or a zip) is rejected from a few header bytes without
allocating its pixels. Every problem is a :class:`PhotoRejected` with a short one-line reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livefilter.errors import InputError

MAX_PHOTO_BYTES = 20 << 20
MAX_PIXELS = 40_000_000  # a 50 MP phone photo is about 8000x6000 = 48 MP; larger is not a selfie
MAX_SIDE = 12_000
MIN_SIDE = 64
MAX_PHOTOS = 60
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "MPO")
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".jfif")
WORK_SIDE = 1600  # photos are decoded at most this large (JPEG draft mode), faces need no more


class PhotoRejected(InputError):
    """One photo cannot be used (the message says why, on one line)."""


@dataclass(frozen=True)
class Photo:
    name: str  # the file name only (never a path: it goes into look.json)
    sha256: str
    rgb: np.ndarray  # (H, W, 3) uint8, at most WORK_SIDE on its long side


def printable(name: str) -> str:
    """A file name fit for a one-line message: control characters replaced, at most 120 characters."""
    return "".join(c if c.isprintable() else "?" for c in str(name))[:120]


def _eight_bit(img):
    """16-bit grey (PNG ``I;16`` / ``I``) scaled to 8 bits: Pillow's own conversion clips it to white."""
    if not (img.mode.startswith("I;16") or img.mode == "I"):
        return img
    from PIL import Image

    arr = np.asarray(img, dtype=np.float64)
    top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
    return Image.fromarray(np.clip(arr * (255.0 / top) + 0.5, 0, 255).astype(np.uint8), "L")


def _open_checked(data: bytes, name: str):
    """The image's header, opened and checked (size, format, dimensions) without decoding a pixel."""
    from PIL import Image

    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRejected(f"{name}: file is larger than {MAX_PHOTO_BYTES >> 20} MiB")
    if len(data) < 32:
        raise PhotoRejected(f"{name}: not an image (file is {len(data)} bytes)")
    img = Image.open(io.BytesIO(data))  # reads the header only
    fmt = img.format or "?"
    if fmt not in FORMATS:
        raise PhotoRejected(f"{name}: {fmt} images are not supported (use JPEG, PNG, WebP or BMP)")
    w, h = img.size
    if w * h > MAX_PIXELS or max(w, h) > MAX_SIDE:
        raise PhotoRejected(f"{name}: image is too large ({w}x{h}; at most {MAX_PIXELS // 1_000_000} MP)")
    if min(w, h) < MIN_SIDE:
        raise PhotoRejected(f"{name}: image is too small ({w}x{h}; at least {MIN_SIDE} px a side)")
    return img, fmt


@contextlib.contextmanager
def _image_errors(name: str):
    """Every way Pillow can refuse an image (a bomb, not an image, truncated or corrupt data) as one
    :class:`PhotoRejected` reason; decompression-bomb warnings count as errors inside."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except PhotoRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoRejected(f"{name}: image is too large (decompression bomb?)") from None
    except UnidentifiedImageError:
        raise PhotoRejected(f"{name}: not an image") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:  # truncated or corrupt data
        raise PhotoRejected(f"{name}: image is damaged ({type(e).__name__})") from None


def check_photo(data: bytes, name: str) -> str:
    """What an upload is checked for on arrival: size, format and the header's dimensions, without decoding
    (so an upload costs no pixel memory and no decoding time on the request thread); the pixels are decoded
    later, by the creation worker. Returns the photo's sha256."""
    name = printable(name)
    with _image_errors(name):
        _open_checked(data, name)
    return hashlib.sha256(data).hexdigest()


def decode_photo(data: bytes, name: str) -> Photo:
    """Validate and decode one photo's bytes; :class:`PhotoRejected` when it is not a usable image."""
    name = printable(name)
    from PIL import ImageOps

    with _image_errors(name):
        img, fmt = _open_checked(data, name)
        w, h = img.size
        if fmt in ("JPEG", "MPO") and max(w, h) > WORK_SIDE:
            img.draft("RGB", (WORK_SIDE, WORK_SIDE))  # decode at 1/2, 1/4 or 1/8 scale
        img = ImageOps.exif_transpose(_eight_bit(img).convert("RGB"))
    if max(img.size) > WORK_SIDE:
        img.thumbnail((WORK_SIDE, WORK_SIDE))
    rgb = np.asarray(img, np.uint8)
    return Photo(name, hashlib.sha256(data).hexdigest(), np.ascontiguousarray(rgb))


def read_photo(path: Path) -> Photo:
    """A photo file from disk, size-checked before it is read. A link to a photo is followed (what it
    points to gets the same checks: a regular file of a sane size); a device, a FIFO or a folder is refused
    without being read."""
    from livefilter.infra.strict_json import UnreadableFile, read_regular

    name = printable(path.name)
    try:
        data = read_regular(path, MAX_PHOTO_BYTES)
    except FileNotFoundError:
        raise PhotoRejected(f"{name}: does not exist (or is a broken link)") from None
    except UnreadableFile as e:
        reason = str(e)
        if reason.startswith("too large"):
            reason = f"file is larger than {MAX_PHOTO_BYTES >> 20} MiB"
        raise PhotoRejected(f"{name}: {reason}") from None
    return decode_photo(data, name)


def photo_paths(inputs: list[Path]) -> list[Path]:
    """Folders expand to their image files (sorted, not recursive); files are taken as given."""
    paths: list[Path] = []
    for p in inputs:
        if p.is_dir():
            paths += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.exists():
            paths.append(p)
        else:
            raise InputError(f"{p} does not exist")
    if not paths:
        raise InputError(f"no photos (.jpg, .png, .webp, .bmp) in {', '.join(str(p) for p in inputs)}")
    if len(paths) > MAX_PHOTOS:
        raise InputError(f"{len(paths)} photos given; at most {MAX_PHOTOS} are used for one look")
    return paths
