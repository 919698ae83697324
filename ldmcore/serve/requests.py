"""POST /api/generate: the body, checked field by field, turned into a Plan the worker runs.

Every check that needs no model runs here, before the job is queued, so a bad request is a
4xx naming its field and never a failed job: the model by card name, sampler, ranges, the
inputs through ldmcore.inputs (the CLI's one input layer), upload sizes.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import DataError
from .catalog import ModelEntry
from .errors import ApiError
from .uploads import decode_picture, save_picture

MAX_STEPS = 250
MAX_SAMPLES = 8
MAX_SIZE = 256


class GenerateRequest(BaseModel):
    """The JSON body of POST /api/generate (README "Web studio")."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(max_length=200)
    inputs: dict[str, Any] = Field(default_factory=dict)
    steps: int | None = Field(None, ge=1, le=MAX_STEPS)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    num_samples: int = Field(1, ge=1, le=MAX_SAMPLES)
    scale: float | None = Field(None, ge=0, le=50, allow_inf_nan=False)
    sampler: str | None = Field(None, max_length=64)
    size: int | None = Field(None, ge=8, le=MAX_SIZE)


@dataclass
class Plan:
    """A checked request: the model entry, parsed inputs and the sampler's start pictures."""

    request: GenerateRequest
    entry: ModelEntry
    read: Any  # ldmcore.inputs.ReadInputs
    start: dict = field(default_factory=dict)  # image / mask for mask-replacement inpainting
    files: dict[str, str] = field(default_factory=dict)  # CLI option -> saved upload path
    texts: dict[str, str] = field(default_factory=dict)  # CLI option -> text

    @property
    def overrides(self) -> tuple[str, ...]:
        """The spec overrides the model is opened with (its cache key beside the name)."""
        out = []
        if self.request.sampler:
            out.append(f"sampler.type={self.request.sampler}")
        if self.request.scale is not None:
            out.append(f"guider.params.scale={self.request.scale:g}")
        return tuple(out)

    def command(self, out: str) -> str:
        """The `ldm generate` line that samples the same images."""
        r = self.request
        words = ["ldm", "generate", self.entry.opens]
        for option, text in {**self.texts, **self.files}.items():
            words += [f"--{option}", text]
        for flag, value in (("--sampler", r.sampler), ("--steps", r.steps),
                            ("--scale", None if r.scale is None else f"{r.scale:g}"),
                            ("--size", r.size)):
            if value is not None:
                words += [flag, str(value)]
        words += ["--seed", str(r.seed), "-n", str(r.num_samples), "--out", out]
        return " ".join(shlex.quote(w) for w in words)


def plan(req: GenerateRequest, catalog: dict[str, ModelEntry], folder: Path,
         samplers: list[str]) -> Plan:
    """Check `req` against the served models; uploads are written under `folder`."""
    entry = catalog.get(req.model)
    if entry is None:
        served = ", ".join(catalog) or "none"
        raise ApiError(404, f"model: unknown model '{req.model[:80]}' (served: {served})")
    if req.sampler is not None and req.sampler not in samplers:
        raise ApiError(422, f"sampler: unknown sampler '{req.sampler}' (known: "
                            f"{', '.join(samplers)})")
    if req.scale is not None and getattr(entry.spec.guider.params, "scale", None) is None:
        raise ApiError(422, f"scale: guider '{entry.spec.guider.type}' of {entry.name} has no "
                            "guidance scale")
    formats = entry.formats
    by_name = {**{f.flag[2:]: f for f in formats.values()}, **formats}
    start_keys = {"image", "mask"} - set(formats)  # mask-replacement on any model
    texts: dict[str, str] = {}
    files: dict[str, str] = {}
    pictures: dict[str, tuple[int, int]] = {}
    for name, value in req.inputs.items():
        where = f"inputs.{name}"
        fmt = by_name.get(name)
        if fmt is None and name not in start_keys:
            takes = ", ".join(f.flag[2:] for f in formats.values()) or "none (unconditional)"
            raise ApiError(422, f"{where}: {entry.name} takes no such input (it takes: {takes}; "
                                "any model also takes image + mask to inpaint)")
        key = fmt.key if fmt else name
        option = fmt.flag[2:] if fmt else name
        kind = fmt.kind if fmt else name
        if kind in ("image", "mask", "label_map"):
            data, size = decode_picture(where, value)
            files[option] = str(save_picture(folder, key, data))
            pictures[option] = size
        elif kind == "boxes":
            texts[option] = boxes_text(where, value)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            texts[option] = str(value)
        else:
            raise ApiError(422, f"{where}: expected text")
    _check_pair(pictures)
    start_given = {k: files.pop(k) for k in list(files) if k in start_keys}
    if "mask" in start_given and "image" not in start_given:
        raise ApiError(422, "inputs.mask: needs inputs.image, the picture to fill in")
    if "image" in start_given and "mask" not in start_given:
        raise ApiError(422, f"inputs.image: {entry.name} does not take a picture itself; give "
                            "inputs.mask too, the region to generate")
    from ..inputs import read_image, read_inputs, read_mask

    try:
        read = read_inputs(entry.spec, {**texts, **files}, size=req.size)
        start = {}
        if start_given:
            side = req.size or entry.spec.image_size
            start["image"] = read_image(start_given["image"], (side, side),
                                        entry.spec.image_channels, "inputs.image")[None]
            if "mask" in start_given:
                start["mask"] = read_mask(start_given["mask"], (side, side), "inputs.mask")[None]
    except DataError as exc:
        message = str(exc)
        for path in [*files.values(), *start_given.values()]:
            message = message.replace(f" {path}", "")  # the server's own paths stay private
        raise ApiError(422, _field_first(message)) from None
    files.update(start_given)
    return Plan(req, entry, read, start, files, texts)


def boxes_text(where: str, value: object) -> str:
    """Boxes as the layout text the dataset reads: a string as is, or
    [{"class": NAME, "box": [x0, y0, x1, y1]}] with coordinates in [0, 1]."""
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not value:
        raise ApiError(422, f"{where}: expected a non-empty list of {{class, box}} objects")
    parts = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or set(item) != {"class", "box"}:
            raise ApiError(422, f"{at}: expected {{\"class\": NAME, \"box\": [x0, y0, x1, y1]}}")
        name, box = item["class"], item["box"]
        if not isinstance(name, str) or not name.strip() or ";" in name:
            raise ApiError(422, f"{at}.class: expected a class name")
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise ApiError(422, f"{at}.box: expected four numbers [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in box)
        if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)) or not (x0 < x1 and y0 < y1):
            raise ApiError(422, f"{at}.box: {box} must lie in [0, 1] with x0 < x1 and y0 < y1")
        parts.append(f"{name.strip()} " + " ".join(f"{v:.4g}" for v in (x0, y0, x1, y1)))
    return "; ".join(parts)


def _check_pair(pictures: dict[str, tuple[int, int]]) -> None:
    """A mask must be the size of the picture it is painted on."""
    if "mask" in pictures and "image" in pictures and pictures["mask"] != pictures["image"]:
        (mw, mh), (iw, ih) = pictures["mask"], pictures["image"]
        raise ApiError(422, f"inputs.mask: {mw}x{mh}, but inputs.image is {iw}x{ih}; paint the "
                            "mask on the picture itself")


def _field_first(message: str) -> str:
    """'--layout: ...' (the input layer names the CLI option) -> 'inputs.layout: ...'."""
    if message.startswith("--size"):
        return message[2:]  # a request field, not an input
    if message.startswith("--"):
        return "inputs." + message[2:]
    if message.startswith("inputs."):
        return message
    return f"inputs: {message}"
