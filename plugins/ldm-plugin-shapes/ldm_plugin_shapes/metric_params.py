"""Params of the shapes world's per-pixel evaluators (pydantic, no torch)."""

from __future__ import annotations

from pydantic import Field

from ldmcore.params import Params


class _Analysis(Params):
    min_area: float = Field(0.008, ge=0, description="smallest object, as a fraction of the image")
    max_color_distance: float = Field(
        0.45, gt=0, description="RGB distance beyond which a pixel is no palette colour"
    )


class ShapesMiouParams(_Analysis):
    """Semantic synthesis scored per pixel: mIoU between the colour segmentation of each
    sample (exact on the shapes world) and the map it was generated from."""

    key: str = Field("segmentation", description="batch key of the input map (N, H, W)")
    num_classes: int = Field(13, gt=1, description="map ids 0..num_classes-1 (0 = background)")


class ShapesInpaintParams(_Analysis):
    """Inpainting: do the objects the mask cut through come back with their shape, colour
    and place? And the per-pixel class accuracy inside the mask."""

    mask_key: str = "mask"
    min_cut: float = Field(0.1, gt=0, le=1,
                           description="an object counts as cut if this fraction is masked")
    iou_threshold: float = Field(0.5, gt=0, le=1)
