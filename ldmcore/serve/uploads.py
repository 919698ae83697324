"""Pictures a client sends (data URLs or bare base64), checked before anything reads them.

Limits: the encoded size (MAX_UPLOAD_BYTES), the decoded pixels (MAX_SIDE per side, and
Pillow's decompression-bomb guard as an error, not a warning). The bytes are written under
the job's own folder with a name the server chooses, then read by ldmcore.inputs like a file
given on the command line.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from pathlib import Path

from .errors import ApiError

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_SIDE = 1024


def decode_picture(field: str, value: object) -> tuple[bytes, tuple[int, int]]:
    """A data URL / base64 string -> (PNG-or-other bytes, (width, height)); ApiError naming
    `field` if it is not a small, readable picture."""
    if not isinstance(value, str) or not value:
        raise ApiError(422, f"{field}: expected a picture as a data URL "
                            "(data:image/png;base64,...)")
    text = value.split(",", 1)[1] if value.startswith("data:") else value
    if len(text) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
        raise ApiError(413, f"{field}: the upload is larger than {MAX_UPLOAD_BYTES // 1024} KiB")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field}: not valid base64") from None
    return data, _check_pixels(field, data)


def _check_pixels(field: str, data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                size = img.size
                if max(size) > MAX_SIDE:
                    raise ApiError(413, f"{field}: {size[0]}x{size[1]} is larger than "
                                        f"{MAX_SIDE}x{MAX_SIDE}")
                img.load()  # decode fully once: a truncated or corrupt file fails here
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ApiError(413, f"{field}: too many pixels (decompression-bomb guard)") from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ApiError(422, f"{field}: not a readable image") from None
    return size


def save_picture(folder: Path, key: str, data: bytes) -> Path:
    """The bytes under `folder` as input-<key>.png (key is one of the model's own keys)."""
    path = folder / f"input-{key}.png"
    path.write_bytes(data)
    return path
