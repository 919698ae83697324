"""ldm-plugin-shapes: the procedural shapes world (dataset `shapes`) and its exact conditional
fidelity evaluator (`shapes_fidelity`). The vocabulary lives in `ldm_plugin_shapes.vocab`."""

from .vocab import (
    COLORS,
    NUM_CLASSES,
    NUM_COLORS,
    SHAPES,
    LayoutObject,
    class_name,
    format_caption,
    format_layout,
    object_class,
    parse_caption,
    parse_layout,
)

__all__ = [
    "SHAPES",
    "COLORS",
    "NUM_CLASSES",
    "NUM_COLORS",
    "LayoutObject",
    "object_class",
    "class_name",
    "format_caption",
    "parse_caption",
    "format_layout",
    "parse_layout",
]
