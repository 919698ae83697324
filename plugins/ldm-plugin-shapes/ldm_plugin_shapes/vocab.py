"""The shapes world's vocabulary: shapes, colours, object-class ids, captions and layouts.

Pure Python (no numpy, no torch) so any plugin may import it cheaply:

    from ldm_plugin_shapes.vocab import SHAPES, COLORS, NUM_CLASSES, object_class, parse_layout

Encoding (global, independent of which subsets a dataset samples from):
    object_class = shape_index * NUM_COLORS + colour_index          (0 .. NUM_CLASSES - 1)
    segmentation label = object_class + 1 (0 = background)
Layout text:  "circle red 0.1 0.1 0.4 0.4; square blue 0.5 0.5 0.9 0.9"  (x0 y0 x1 y1 in [0, 1],
x right, y down). Captions: "a red circle", "a red circle above a blue square",
"a red circle, a blue square and a green triangle".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ldmcore.errors import DataError

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow")
NUM_SHAPES = len(SHAPES)
NUM_COLORS = len(COLORS)
NUM_CLASSES = NUM_SHAPES * NUM_COLORS

#: sRGB of each colour, in [0, 1]; far apart from each other and from the grey background.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.16, 0.16),
    "green": (0.13, 0.66, 0.24),
    "blue": (0.16, 0.31, 0.86),
    "yellow": (0.95, 0.82, 0.13),
}
BACKGROUND: tuple[float, float, float] = (0.88, 0.88, 0.88)

#: segmentation maps as pictures: id 0 (background) black; an object class in its colour,
#: full for circles, 70 % for squares, 45 % for triangles (8-bit RGB, index = segmentation id)
SHAPE_SHADE: tuple[float, ...] = (1.0, 0.7, 0.45)
SEGMENTATION_PALETTE: tuple[tuple[int, int, int], ...] = ((0, 0, 0),) + tuple(
    tuple(round(255 * c * SHAPE_SHADE[s]) for c in PALETTE[COLORS[k]])
    for s in range(NUM_SHAPES) for k in range(NUM_COLORS)
)

#: spatial relations used in two-object captions: word -> (dx, dy) direction of A relative to B
RELATIONS: tuple[str, ...] = ("above", "below", "left of", "right of")


def object_class(shape: str, color: str) -> int:
    """The global object-class id of a (shape, colour) pair."""
    try:
        return SHAPES.index(shape) * NUM_COLORS + COLORS.index(color)
    except ValueError:
        raise DataError(
            f"unknown object '{color} {shape}' (shapes: {', '.join(SHAPES)}; "
            f"colours: {', '.join(COLORS)})"
        ) from None


def class_name(cls: int) -> tuple[str, str]:
    """object_class -> (shape, colour)."""
    if not 0 <= int(cls) < NUM_CLASSES:
        raise DataError(f"object class {cls} out of range 0..{NUM_CLASSES - 1}")
    return SHAPES[int(cls) // NUM_COLORS], COLORS[int(cls) % NUM_COLORS]


def describe(cls: int) -> str:
    """object_class -> 'red circle'."""
    shape, color = class_name(cls)
    return f"{color} {shape}"


@dataclass(frozen=True)
class LayoutObject:
    """One object of a layout: its class and its normalised box (x0, y0, x1, y1)."""

    cls: int
    box: tuple[float, float, float, float]

    @property
    def shape(self) -> str:
        return class_name(self.cls)[0]

    @property
    def color(self) -> str:
        return class_name(self.cls)[1]


def check_box(box: tuple[float, float, float, float], where: str) -> None:
    """Boxes must lie in [0, 1] with x0 < x1 and y0 < y1; DataError naming `where` otherwise."""
    x0, y0, x1, y1 = box
    if not all(0.0 <= v <= 1.0 for v in box):
        raise DataError(f"{where}: box {list(box)} has coordinates outside [0, 1]")
    if not (x1 > x0 and y1 > y0):
        raise DataError(f"{where}: box {list(box)} needs x0 < x1 and y0 < y1")


def relation(a: LayoutObject, b: LayoutObject) -> str:
    """Where a is relative to b, along the axis on which their centres differ most."""
    ax, ay = (a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2
    bx, by = (b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2
    dx, dy = ax - bx, ay - by
    if abs(dy) >= abs(dx):
        return "above" if dy < 0 else "below"
    return "left of" if dx < 0 else "right of"


def format_caption(objects: list[LayoutObject]) -> str:
    """Natural caption; two objects get a spatial relation ('a red circle above a blue square')."""
    if not objects:
        raise DataError("caption: no objects to describe")
    names = [f"a {describe(o.cls)}" for o in objects]
    if len(objects) == 1:
        return names[0]
    if len(objects) == 2:
        return f"{names[0]} {relation(objects[0], objects[1])} {names[1]}"
    return ", ".join(names[:-1]) + " and " + names[-1]


_OBJ = re.compile(r"\b(?:a|an|one)\s+(\w+)\s+(\w+)")


def parse_caption(caption: str) -> tuple[list[int], str | None]:
    """'a red circle above a blue square' -> ([class(red circle), class(blue square)], 'above')."""
    text = " ".join(str(caption).lower().replace(",", " , ").split())
    if not text:
        raise DataError("caption: empty caption")
    classes = []
    for color, shape in _OBJ.findall(text):
        if color in COLORS and shape in SHAPES:
            classes.append(object_class(shape, color))
    if not classes:
        raise DataError(f"caption '{caption}': no '<colour> <shape>' object found")
    rel = None
    if len(classes) == 2:
        rel = next((r for r in RELATIONS if f" {r} " in f" {text} "), None)
    return classes, rel


def format_layout(objects: list[LayoutObject]) -> str:
    """[LayoutObject] -> 'circle red 0.10 0.10 0.40 0.40; ...'."""
    return "; ".join(
        f"{o.shape} {o.color} " + " ".join(f"{v:.3g}" for v in o.box) for o in objects
    )


def parse_layout(text: str, max_objects: int | None = None) -> list[LayoutObject]:
    """'circle red 0.1 0.1 0.4 0.4; square blue 0.5 0.5 0.9 0.9' -> [LayoutObject].

    Accepts 'shape colour' or 'colour shape'. DataError names the offending entry.
    """
    parts = [p.strip() for p in str(text).split(";") if p.strip()]
    if not parts:
        raise DataError("layout: empty layout")
    if max_objects is not None and len(parts) > max_objects:
        raise DataError(f"layout: {len(parts)} objects, at most {max_objects} allowed")
    objects = []
    for i, part in enumerate(parts):
        where = f"layout entry {i} '{part}'"
        tokens = part.split()
        if len(tokens) != 6:
            raise DataError(f"{where}: expected 'shape colour x0 y0 x1 y1'")
        a, b = tokens[0].lower(), tokens[1].lower()
        shape, color = (b, a) if a in COLORS else (a, b)
        try:
            box = tuple(float(v) for v in tokens[2:])
        except ValueError:
            raise DataError(f"{where}: coordinates must be numbers") from None
        check_box(box, where)  # type: ignore[arg-type]
        try:
            cls = object_class(shape, color)
        except DataError as e:
            raise DataError(f"{where}: {e}") from None
        objects.append(LayoutObject(cls, box))  # type: ignore[arg-type]
    return objects


def layout_rows(objects: list[LayoutObject], max_objects: int) -> list[list[float]]:
    """The batch `boxes` rows (object_class, x0, y0, x1, y1), padded with class -1."""
    if len(objects) > max_objects:
        raise DataError(f"layout: {len(objects)} objects, at most {max_objects} allowed")
    rows = [[float(o.cls), *o.box] for o in objects]
    rows += [[-1.0, 0.0, 0.0, 0.0, 0.0]] * (max_objects - len(objects))
    return rows


def objects_from_rows(rows, where: str = "boxes") -> list[LayoutObject]:
    """Batch `boxes` rows (any nested sequence / array) -> [LayoutObject], skipping padding.

    Validates every real row: class in range, box inside [0, 1] with x0 < x1, y0 < y1.
    """
    objects = []
    for i, row in enumerate(rows):
        cls = int(round(float(row[0])))
        if cls < 0:
            continue
        if cls >= NUM_CLASSES:
            raise DataError(f"{where}[{i}]: object class {cls} out of range 0..{NUM_CLASSES - 1}")
        box = tuple(float(v) for v in row[1:5])
        check_box(box, f"{where}[{i}]")  # type: ignore[arg-type]
        objects.append(LayoutObject(cls, box))  # type: ignore[arg-type]
    return objects
