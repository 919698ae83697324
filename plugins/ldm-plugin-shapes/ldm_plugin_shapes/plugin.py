"""Registers the shapes world dataset and its fidelity evaluator (no torch at import time)."""

from __future__ import annotations

from ldmcore.plugins import hookimpl

from .metric_params import ShapesInpaintParams, ShapesMiouParams
from .params import ShapesFidelityParams, ShapesParams


def _shapes(params: ShapesParams, ctx):
    from .dataset import build_shapes

    return build_shapes(params, ctx)


def _fidelity(params: ShapesFidelityParams, ctx):
    from .fidelity import build_fidelity

    return build_fidelity(params, ctx)


def _miou(params: ShapesMiouParams, ctx):
    from .spatial import build_miou

    return build_miou(params, ctx)


def _inpaint(params: ShapesInpaintParams, ctx):
    from .spatial import build_inpaint

    return build_inpaint(params, ctx)


@hookimpl
def ldmcore_register_components(register):
    register(
        "dataset", "shapes", ShapesParams, _shapes,
        description="procedural shapes world: image, class, caption, boxes, segmentation",
    )
    register(
        "evaluator", "shapes_fidelity", ShapesFidelityParams, _fidelity,
        description="exact conditional fidelity on the shapes world (layout recall/IoU, "
        "class/caption accuracy)",
    )
    register("evaluator", "shapes_miou", ShapesMiouParams, _miou,
             description="semantic synthesis: per-pixel mIoU of the sample's colour "
             "segmentation against the input map")
    register("evaluator", "shapes_inpaint", ShapesInpaintParams, _inpaint,
             description="inpainting: objects cut by the mask restored with shape and colour")
