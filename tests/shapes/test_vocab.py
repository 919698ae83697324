"""The shapes-world vocabulary: class ids, captions and layouts, and their bad inputs."""

import pytest
from ldm_plugin_shapes.vocab import (
    COLORS,
    NUM_CLASSES,
    SHAPES,
    LayoutObject,
    class_name,
    format_caption,
    format_layout,
    layout_rows,
    object_class,
    objects_from_rows,
    parse_caption,
    parse_layout,
)

from ldmcore.errors import DataError


def test_object_class_roundtrip():
    ids = {object_class(s, c) for s in SHAPES for c in COLORS}
    assert ids == set(range(NUM_CLASSES))
    assert object_class("square", "blue") == SHAPES.index("square") * len(COLORS) + 2
    for k in range(NUM_CLASSES):
        assert object_class(*class_name(k)) == k
    with pytest.raises(DataError, match="purple"):
        object_class("circle", "purple")


def test_captions_with_relations_roundtrip():
    red_circle = LayoutObject(object_class("circle", "red"), (0.1, 0.05, 0.4, 0.35))
    blue_square = LayoutObject(object_class("square", "blue"), (0.2, 0.5, 0.6, 0.9))
    cap = format_caption([red_circle, blue_square])
    assert cap == "a red circle above a blue square"
    assert parse_caption(cap) == ([red_circle.cls, blue_square.cls], "above")
    assert format_caption([blue_square, red_circle]) == "a blue square below a red circle"
    three = format_caption([red_circle, blue_square, red_circle])
    assert three == "a red circle, a blue square and a red circle"
    assert parse_caption(three) == ([red_circle.cls, blue_square.cls, red_circle.cls], None)
    left = LayoutObject(object_class("triangle", "yellow"), (0.0, 0.4, 0.2, 0.6))
    assert format_caption([left, blue_square]) == "a yellow triangle left of a blue square"


def test_bad_captions():
    with pytest.raises(DataError, match="empty"):
        parse_caption("   ")
    with pytest.raises(DataError, match="no '<colour> <shape>'"):
        parse_caption("a purple hexagon")


def test_layout_parse_format_roundtrip():
    objs = parse_layout("circle red 0.1 0.1 0.4 0.4; blue square 0.5 0.5 0.9 0.9")
    assert [o.shape for o in objs] == ["circle", "square"]
    assert [o.color for o in objs] == ["red", "blue"]
    assert objs[1].box == (0.5, 0.5, 0.9, 0.9)
    assert parse_layout(format_layout(objs)) == objs
    rows = layout_rows(objs, 4)
    assert len(rows) == 4 and rows[2][0] == -1
    assert objects_from_rows(rows) == objs


@pytest.mark.parametrize(
    "text, match",
    [
        ("circle red 0.1 0.1 1.4 0.4", "outside"),
        ("circle red 0.5 0.1 0.4 0.4", "x0 < x1"),
        ("circle red 0.1 0.6 0.4 0.4", "y0 < y1"),
        ("circle red 0.1 0.1 0.4", "expected"),
        ("circle red a b c d", "numbers"),
        ("hexagon red 0.1 0.1 0.4 0.4", "hexagon"),
        ("", "empty"),
    ],
)
def test_bad_layouts_name_the_entry(text, match):
    with pytest.raises(DataError, match=match):
        parse_layout(text)


def test_bad_rows_name_the_row():
    with pytest.raises(DataError, match=r"boxes\[1\].*outside"):
        objects_from_rows([[0, 0.1, 0.1, 0.3, 0.3], [1, -0.2, 0.1, 0.3, 0.3]])
    with pytest.raises(DataError, match=r"boxes\[0\].*x0 < x1"):
        objects_from_rows([[0, 0.5, 0.1, 0.3, 0.3]])
    with pytest.raises(DataError, match="at most 2"):
        parse_layout("circle red 0 0 .1 .1; circle red 0 0 .1 .1; circle red 0 0 .1 .1", 2)
