"""One input layer: every conditioning input a model takes, read from a string or a file.

The component that consumes an input declares it: a conditioner's params answer
`input_format(key)`, a task's params list `input_formats()` (inpainting: the picture and the
mask it derives its conditioning from). The dataset supplies the vocabulary: class names and
layouts (`parse_input`) and the colours of a segmentation map (`palette()`). The CLI
(`ldm generate`, `ldm inputs`) and the web server read inputs only through this module.

    formats = model_inputs(model.spec)                 # key -> InputFormat
    read = read_inputs(model.spec, {"prompt": "a red circle"})
    model.sample(read.batch(4), latent_size=read.latent_size)

Kinds: text, class and boxes (read by the dataset's vocabulary), label_map (a PNG of class ids
or palette colours), image (any picture; resized to what the model expects, with a note) and
mask (a black/white PNG, white = the region to generate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

#: the CLI option of a batch key, where it is not the key itself
OPTION_OF_KEY = {"caption": "prompt", "boxes": "layout"}

KIND_HELP = {
    "text": "TEXT, e.g. 'a red circle above a blue square'",
    "class": "a class name or id",
    "boxes": "boxes 'NAME x0 y0 x1 y1; ...' in [0, 1] image coordinates (x right, y down)",
    "label_map": "PNG: one channel of class ids, or RGB in the dataset's palette; its size is "
                 "the sample's (larger = convolutional sampling)",
    "image": "a picture file (resized to what the model expects, with a note)",
    "mask": "a black/white PNG (0/255), white = the region to generate",
    "dataset": "text read by the dataset",
}
FILE_KINDS = ("label_map", "image", "mask")


@dataclass(frozen=True)
class InputFormat:
    """How one batch key is given: its kind, its CLI option, what the model expects of it."""

    key: str
    kind: str  # one of KIND_HELP
    option: str = ""  # CLI option without dashes; default from the key
    help: str = ""  # overrides the kind's description
    num_classes: int | None = None  # label_map: ids 0 .. num_classes - 1
    scale: int = 1  # the input's side is 1/scale of the sampled image's (a x4 low-res: 4)

    @property
    def flag(self) -> str:
        return f"--{self.option or OPTION_OF_KEY.get(self.key, self.key)}"

    @property
    def describe(self) -> str:
        text = self.help or KIND_HELP.get(self.kind, self.kind)
        if self.num_classes:
            text += f"; ids 0..{self.num_classes - 1}"
        if self.scale > 1:
            text += f"; at 1/{self.scale} of the sample's size"
        return text


def model_inputs(spec: Any) -> dict[str, InputFormat]:
    """key -> format of every input a user gives this model (empty: unconditional)."""
    task = spec.task.params
    formats = {f.key: f for f in task.input_formats()}
    derived = task.added_keys()
    for node in spec.conditioners.values():
        key = node.input
        if key in formats:
            continue
        declared = node.params.input_format(key)
        if declared is None and key in derived:
            continue  # the task derives it from the inputs it declares
        formats[key] = declared or InputFormat(key, "dataset")
    return formats


def describe_inputs(spec: Any) -> list[str]:
    """One line per input: `--prompt  TEXT, e.g. ...`."""
    formats = model_inputs(spec)
    if not formats:
        return ["(none: an unconditional model; give only -n)"]
    width = max(len(f.flag) for f in formats.values())
    return [f"{f.flag.ljust(width)}  {f.describe}  [{f.key}]" for f in formats.values()]


@dataclass
class ReadInputs:
    """What the user gave, parsed: one item per key, the sample size, notes to print."""

    item: dict[str, Any]
    size: tuple[int, int]  # the sampled image's (H, W)
    factor: int  # the first stage's downsampling
    notes: list[str] = field(default_factory=list)

    @property
    def latent_size(self) -> tuple[int, int]:
        return self.size[0] // self.factor, self.size[1] // self.factor

    def batch(self, n: int) -> dict:
        """The item repeated n times, collated."""
        from torch.utils.data import default_collate

        return default_collate([self.item] * n) if self.item else {}


def read_inputs(spec: Any, given: Mapping[str, str], *, size: int | None = None) -> ReadInputs:
    """Parse `given` (option or key -> text or file path) for the model `spec` describes.
    Every input the model takes must be given; anything else is an error naming the option."""
    formats = model_inputs(spec)
    by_name = {**{f.flag[2:]: f for f in formats.values()}, **formats}
    unknown = [name for name in given if name not in by_name]
    if unknown:
        takes = ", ".join(f.flag for f in formats.values()) or "nothing but -n (unconditional)"
        raise DataError(f"--{unknown[0]}: this model takes no such input (it takes: {takes})")
    values = {by_name[name].key: text for name, text in given.items()}
    missing = [f for f in formats.values() if f.key not in values]
    if missing:
        raise DataError(f"{missing[0].flag}: this model needs it ({missing[0].describe})")
    factor = spec.first_stage.params.latent_port().factor
    target = _sample_size(spec, formats, values, size, factor)
    read = ReadInputs({}, target, factor)
    for key, text in values.items():
        read.item[key] = _parse(formats[key], text, spec, target, read.notes)
    return read


def _sample_size(spec, formats, values, size, factor) -> tuple[int, int]:
    """--size, else the size a label map gives (convolutional sampling), else the spec's."""
    maps = [f for f in formats.values() if f.kind == "label_map"]
    if size is None and maps:
        h, w = _image_size(values[maps[0].key], maps[0].flag)
        target, where = (h * maps[0].scale, w * maps[0].scale), f"{maps[0].flag} {h}x{w}"
    else:
        side = spec.image_size if size is None else size
        target, where = (side, side), f"--size {side}"
    if min(target) <= 0:
        raise DataError(f"{where}: the size must be positive")
    multiple = factor * spec.denoiser.params.size_multiple()
    if target[0] % multiple or target[1] % multiple:
        raise DataError(f"{where}: the sample size must be a multiple of {multiple} (the first "
                        f"stage's factor {factor} x the denoiser's downsampling)")
    limit = 8 * spec.image_size
    if max(target) > limit:
        raise DataError(f"{where}: larger than {limit} (8x the trained {spec.image_size}); "
                        "convolutional sampling this far is not meaningful and may not fit in "
                        "memory")
    return target


# ----------------------------------------------------------------------------- per kind
def _parse(fmt: InputFormat, text: str, spec: Any, size: tuple[int, int], notes: list[str]):
    if fmt.kind == "text":
        return text  # '' is the empty caption: a text conditioner's unconditional input
    if fmt.kind in ("class", "boxes", "dataset"):
        return _dataset_parse(spec, fmt, text)
    want = (size[0] // fmt.scale, size[1] // fmt.scale)
    if fmt.kind == "label_map":
        return _label_map(fmt, text, spec, want)
    if fmt.kind == "image":
        return read_image(text, want, spec.image_channels, fmt.flag, notes)
    if fmt.kind == "mask":
        return read_mask(text, want, fmt.flag, notes)
    raise DataError(f"{fmt.flag}: unknown input kind '{fmt.kind}' (known: {', '.join(KIND_HELP)})")


def _vocabulary(spec: Any):
    """The dataset's params (class names, layouts, palette), or None: a spec without
    training: (e.g. imported from CompVis), whose conditioners read the text themselves."""
    return spec.training.dataset.params if spec.training is not None else None


def label_palette(spec: Any) -> list | None:
    """8-bit RGB per label id of the spec's dataset (a segmentation map's colours), or None."""
    palette_of = getattr(_vocabulary(spec), "palette", None)
    return palette_of() if palette_of else None


def _dataset_parse(spec: Any, fmt: InputFormat, text: str):
    vocab = _vocabulary(spec)
    try:
        if vocab is None:  # no vocabulary: an id for a class, else the text as given
            return int(text) if fmt.kind == "class" else text
        return vocab.parse_input(fmt.key, text)
    except (ValueError, DataError) as exc:
        raise DataError(f"{fmt.flag}: {exc}") from None


def _open(path: str, flag: str):
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{flag} {path}: {'a folder' if p.is_dir() else 'no such file'}")
    try:
        img = Image.open(p)
        img.load()
    except PermissionError:
        raise DataError(f"{flag} {path}: permission denied") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{flag} {path}: not a readable image ({exc})".splitlines()[0]) from None
    return img


def _image_size(path: str, flag: str) -> tuple[int, int]:
    w, h = _open(path, flag).size
    return h, w


def _check_aspect(got: tuple[int, int], want: tuple[int, int], flag: str, path: str) -> None:
    if abs(got[0] / got[1] - want[0] / want[1]) > 0.02 * want[0] / want[1]:
        raise DataError(f"{flag} {path}: {got[1]}x{got[0]} has another aspect ratio than the "
                        f"{want[1]}x{want[0]} the model expects")


def read_image(path: str, size: tuple[int, int] | None, channels: int = 3,
               flag: str = "--image", notes: list[str] | None = None):
    """A picture -> (C, H, W) float in [-1, 1] at `size` (None: its own), resized (bicubic)
    with a note."""
    import torch
    from PIL import Image

    img = _open(path, flag).convert("RGB" if channels == 3 else "L")
    got = (img.height, img.width)
    if size is not None and got != tuple(size):
        _check_aspect(got, size, flag, path)
        img = img.resize((size[1], size[0]), Image.BICUBIC)
        if notes is not None:
            notes.append(f"{flag} {path}: resized {got[1]}x{got[0]} -> {size[1]}x{size[0]}")
    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1
    x = torch.from_numpy(arr)
    return (x[None] if channels == 1 else x.permute(2, 0, 1)).contiguous()


def read_mask(path: str, size: tuple[int, int], flag: str = "--mask",
              notes: list[str] | None = None):
    """A black/white picture -> (1, H, W) float, 1 = generate; other grey levels are refused."""
    import torch
    from PIL import Image

    img = _open(path, flag).convert("L")
    arr = np.asarray(img)
    odd = np.setdiff1d(np.unique(arr), [0, 255])
    if odd.size:
        raise DataError(f"{flag} {path}: expected only black (0) and white (255) pixels, found "
                        f"{odd.size} other grey levels (e.g. {int(odd[0])})")
    got = arr.shape
    if got != tuple(size):
        _check_aspect(got, size, flag, path)
        img = img.resize((size[1], size[0]), Image.NEAREST)
        if notes is not None:
            notes.append(f"{flag} {path}: resized {got[1]}x{got[0]} -> {size[1]}x{size[0]}")
        arr = np.asarray(img)
    return torch.from_numpy((arr > 127).astype(np.float32))[None]


def _label_map(fmt: InputFormat, path: str, spec: Any, size: tuple[int, int]):
    """A PNG of class ids (one channel) or of palette colours (RGB) -> (H, W) int64 ids."""
    import torch
    from PIL import Image

    img = _open(path, fmt.flag)
    got = (img.height, img.width)
    if got != tuple(size):  # --size asked for another size than the map's
        _check_aspect(got, size, fmt.flag, path)
        img = img.resize((size[1], size[0]), Image.NEAREST)
    if img.mode in ("L", "I", "I;16", "P") and not _is_colour_palette(img):
        ids = np.asarray(img, dtype=np.int64)  # a paletted grey ramp's indices are the ids
    else:
        ids = _ids_from_colours(np.asarray(img.convert("RGB")), spec, fmt, path)
    n = fmt.num_classes
    if n is not None and (ids.min() < 0 or ids.max() >= n):
        bad = sorted({int(i) for i in np.unique(ids) if i >= n or i < 0})
        raise DataError(f"{fmt.flag} {path}: class ids {bad[:5]} are not known to this model "
                        f"(it knows 0..{n - 1})")
    return torch.from_numpy(ids)


def _is_colour_palette(img) -> bool:
    """A paletted PNG whose palette is not the identity grey ramp holds colours, not ids."""
    if img.mode != "P":
        return False
    pal = np.asarray(img.getpalette()[: 3 * 256]).reshape(-1, 3)
    used = np.unique(np.asarray(img))
    return bool((pal[used] != used[:, None]).any())


def _ids_from_colours(rgb: np.ndarray, spec: Any, fmt: InputFormat, path: str) -> np.ndarray:
    palette = label_palette(spec)  # None without a dataset
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return rgb[..., 0].astype(np.int64)  # an RGB file of grey ids
    if not palette:
        raise DataError(f"{fmt.flag} {path}: an RGB map, but the dataset has no palette; give "
                        "class ids in one channel")
    table = np.asarray(palette, dtype=np.int64)  # (num_ids, 3) 8-bit RGB
    flat = rgb.reshape(-1, 3).astype(np.int64)
    match = (flat[:, None, :] == table[None]).all(-1)
    found = match.any(1)
    if not found.all():
        r, g, b = flat[np.argmin(found)]
        raise DataError(f"{fmt.flag} {path}: colour ({r}, {g}, {b}) is not in the dataset's "
                        f"palette (`ldm inputs MODEL` lists it)")
    return match.argmax(1).reshape(rgb.shape[:2])


def paste_known(images, inputs: Mapping[str, Any]):
    """Inpainting keeps the known region exactly: x = image · (1 − mask) + sample · mask, in
    pixel space, where `inputs` holds an `image` and a `mask` (1 = generated); else as is."""
    image, mask = inputs.get("image"), inputs.get("mask")
    if image is None or mask is None:
        return images
    mask = mask.to(images)
    return image.to(images) * (1 - mask) + images * mask


__all__ = ["FILE_KINDS", "InputFormat", "KIND_HELP", "ReadInputs", "describe_inputs",
           "label_palette", "model_inputs", "paste_known", "read_image", "read_inputs", "read_mask"]
