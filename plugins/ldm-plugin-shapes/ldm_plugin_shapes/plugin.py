"""Registers the shapes world dataset and its fidelity evaluator (no torch at import time)."""

from __future__ import annotations

from ldmcore.plugins import hookimpl

from .params import ShapesFidelityParams, ShapesParams


def _shapes(params: ShapesParams, ctx):
    from .dataset import build_shapes

    return build_shapes(params, ctx)


def _fidelity(params: ShapesFidelityParams, ctx):
    from .fidelity import build_fidelity

    return build_fidelity(params, ctx)


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
