"""Params of the shapes world dataset and its fidelity evaluator (pydantic, no torch)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ldmcore.params import DatasetParams, Params

from .vocab import COLORS, SHAPES


class ShapesParams(DatasetParams):
    """A procedural world of coloured shapes; item i of (seed, split) is always the same."""

    size: int | None = Field(None, gt=0, description="image side; default: the spec's image_size")
    channels: Literal[1, 3] = 3
    num_items: int = Field(10000, gt=0, description="virtual length of the dataset")
    seed: int = 0
    split: Literal["train", "val"] = "train"
    min_objects: int = Field(1, ge=1)
    max_objects: int = Field(3, ge=1, description="also the number of `boxes` rows")
    min_scale: float = Field(0.25, gt=0, le=1, description="object side / image side")
    max_scale: float = Field(0.5, gt=0, le=1)
    max_overlap: float = Field(0.05, ge=0, le=1, description="intersection / smaller box area")
    single_object: bool = Field(False, description="exactly one object (class2img-style data)")
    shapes: list[str] = Field(default_factory=lambda: list(SHAPES))
    colors: list[str] = Field(default_factory=lambda: list(COLORS))
    background: Literal["plain", "textured"] = "plain"
    supersample: int = Field(4, ge=1, le=16, description="antialiasing factor")

    @field_validator("shapes", "colors")
    @classmethod
    def _known(cls, v: list[str], info: ValidationInfo) -> list[str]:
        known = SHAPES if info.field_name == "shapes" else COLORS
        if not v or any(x not in known for x in v):
            raise ValueError(f"{info.field_name} must be a non-empty subset of {list(known)}, "
                             f"got {v}")
        return v

    @model_validator(mode="after")
    def _ranges(self) -> ShapesParams:
        if self.min_objects > self.max_objects:
            raise ValueError("min_objects must be <= max_objects")
        if self.min_scale > self.max_scale:
            raise ValueError("min_scale must be <= max_scale")
        return self

    def provided_keys(self) -> set[str]:
        return {"image", "class", "caption", "boxes", "segmentation"}

    def palette(self) -> list[tuple[int, int, int]]:
        """Segmentation id -> RGB (vocab.SEGMENTATION_PALETTE): 0 black, objects in their
        colour, shaded by shape."""
        from .vocab import SEGMENTATION_PALETTE

        return list(SEGMENTATION_PALETTE)

    def parse_input(self, key: str, text: str):
        """`ldm generate` inputs: --layout 'circle red 0.1 0.1 0.4 0.4; ...', --class 'red
        circle' (or an id), --prompt 'a red circle above a blue square'."""
        from .vocab import layout_rows, object_class, parse_layout

        if key == "boxes":
            import torch

            rows = layout_rows(parse_layout(text, self.max_objects), self.max_objects)
            return torch.tensor(rows, dtype=torch.float32)
        if key == "class" and not text.strip().lstrip("-").isdigit():
            words = text.lower().split()
            if len(words) != 2:
                raise ValueError(f"--class expects 'colour shape' or an id, got '{text}'")
            shape, color = (words[1], words[0]) if words[0] in self.colors else words
            return object_class(shape, color)
        return super().parse_input(key, text)


class ShapesFidelityParams(Params):
    """Exact conditional fidelity on the shapes world, by analysing the generated images."""

    mode: Literal["auto", "layout", "class", "caption", "objects"] = Field(
        "auto", description="auto: from the spec's task, else from the batch keys present"
    )
    iou_threshold: float = Field(0.5, gt=0, le=1)
    min_area: float = Field(0.008, ge=0, description="smallest object, as a fraction of the image")
    max_color_distance: float = Field(
        0.45, gt=0, description="RGB distance beyond which a pixel is no palette colour"
    )
