"""Params of the seven tasks: which batch keys each reads and adds, and its evaluation.

No torch here. `evaluation` names the evaluator (`evaluator` kind) the task is judged by.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ldmcore.inputs import InputFormat
from ldmcore.params import TaskParams


class UnconditionalParams(TaskParams):
    evaluation: str | None = "fid"


class LabelledParams(TaskParams):
    """A task conditioned on one label the dataset provides (class, caption, boxes, map)."""

    key: str = "class"
    evaluation: str | None = "shapes_fidelity"

    def required_keys(self) -> set[str]:
        return {"image", self.key}


class Class2ImgParams(LabelledParams):
    key: str = "class"


class Txt2ImgParams(LabelledParams):
    key: str = "caption"


class Layout2ImgParams(LabelledParams):
    key: str = "boxes"


class Semantic2ImgParams(LabelledParams):
    key: str = "segmentation"
    evaluation: str | None = "fid"


class SuperResParams(TaskParams):
    """x4 bicubic degradation of `image` -> `lowres` (the paper's SR setting, Sec. 4.4)."""

    factor: int = Field(4, gt=1)
    mode: Literal["bicubic", "bilinear", "area"] = "bicubic"
    antialias: bool = True
    key: str = "lowres"
    evaluation: str | None = "psnr"

    def added_keys(self) -> set[str]:
        return {self.key}


class InpaintingParams(TaskParams):
    """Random masks (1 = fill) and the masked image (Sec. 4.5): box and free-form strokes."""

    kinds: list[Literal["box", "stroke"]] = Field(default_factory=lambda: ["box", "stroke"])
    box_min: float = Field(0.2, gt=0, le=1, description="smallest box side / image side")
    box_max: float = Field(0.6, gt=0, le=1, description="largest box side / image side")
    stroke_vertices: tuple[int, int] = Field((3, 8), description="polyline vertices (min, max)")
    stroke_width: tuple[float, float] = Field(
        (0.05, 0.15), description="stroke width (min, max) / image side"
    )
    stroke_step: float = Field(0.25, gt=0, le=1, description="longest segment / image side")
    mask_key: str = "mask"
    masked_key: str = "masked_image"
    masked_fill: float = Field(0.0, ge=-1, le=1, description="value of the masked image's holes "
                               "(CompVis' scripts/inpaint.py: -1)")
    # paired SSIM needs no weights; LPIPS (the paper's) needs local weights: give it in the
    # spec's evaluators: section (type: lpips, params: {weights: ...})
    evaluation: str | None = "ssim"

    @model_validator(mode="after")
    def _ranges(self):
        if not self.kinds:
            raise ValueError("kinds must name at least one of box, stroke")
        if self.box_min > self.box_max:
            raise ValueError(f"box_min {self.box_min} > box_max {self.box_max}")
        lo, hi = self.stroke_vertices
        if not 2 <= lo <= hi:
            raise ValueError(f"stroke_vertices must satisfy 2 <= min <= max, got {lo}, {hi}")
        if not 0 < self.stroke_width[0] <= self.stroke_width[1]:
            raise ValueError(f"stroke_width must satisfy 0 < min <= max: {self.stroke_width}")
        return self

    def added_keys(self) -> set[str]:
        return {self.mask_key, self.masked_key}

    def input_formats(self) -> list[InputFormat]:
        """The picture to fill in and the mask of where: the masked image is derived."""
        return [InputFormat("image", "image", help="the picture to fill in (resized to the "
                            "sample's size, with a note)"), InputFormat(self.mask_key, "mask")]
