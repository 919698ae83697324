import pytest
import torch
from ldm_plugin_conditioners.layout import layout_token_ids

from ldmcore.errors import DataError
from ldmcore.ports import Context


def boxes():
    # two layouts, 3 rows each, class -1 = padding
    return torch.tensor([
        [[2, 0.0, 0.0, 0.5, 0.5], [-1, 0, 0, 0, 0], [0, 0.5, 0.25, 1.0, 1.0]],
        [[-1, 0, 0, 0, 0], [-1, 0, 0, 0, 0], [-1, 0, 0, 0, 0]],
    ])


def test_token_ids_are_class_topleft_bottomright_then_pad():
    grid, nc = 5, 3  # lattice vertices at 0, .25, .5, .75, 1
    ids = layout_token_ids(boxes(), nc, grid, max_objects=3)
    pad = grid * grid + nc
    assert ids.shape == (2, 9)
    # box 1: class 2, (0, 0) -> vertex 0, (0.5, 0.5) -> (x=2, y=2) -> 12
    # box 2: class 0, (0.5, 0.25) -> x=2, y=1 -> 7; (1, 1) -> 24
    assert ids[0].tolist() == [25 + 2, 0, 12, 25 + 0, 7, 24, pad, pad, pad]
    assert ids[1].tolist() == [pad] * 9


def test_output_matches_port_and_depends_on_layout(make):
    m, port = make("layout_tokens", input="boxes", num_classes=3, grid=8, max_objects=4,
                   dim=32, depth=1, heads=4)
    assert port == Context(12, 32)
    out = m(boxes())
    assert out.shape == (2, 12, 32)
    assert not torch.allclose(out[0], out[1])
    null = m(m.empty_input(2))
    assert torch.allclose(null[0], out[1], atol=1e-6)  # all-pad layout == empty layout


@pytest.mark.parametrize("row,msg", [
    ([0, -0.1, 0, 0.5, 0.5], r"\[0, 1\]"),
    ([0, 0.1, 0, 1.2, 0.5], r"\[0, 1\]"),
    ([0, 0.6, 0, 0.5, 0.5], "x1 >= x0"),
    ([0, 0.1, 0.6, 0.5, 0.5], "y1 >= y0"),
    ([7, 0.1, 0.1, 0.5, 0.5], "object classes"),
])
def test_bad_boxes_name_the_key(make, row, msg):
    m, _ = make("layout_tokens", input="boxes", num_classes=3, dim=16, depth=1, heads=2)
    with pytest.raises(DataError, match=f"'boxes'.*{msg}"):
        m(torch.tensor([[row]]))


def test_shape_and_count_errors(make):
    m, _ = make("layout_tokens", input="boxes", num_classes=3, max_objects=1, dim=16, depth=1,
                heads=2)
    with pytest.raises(DataError, match=r"'boxes'.*\(B, K, 5\)"):
        m(torch.zeros(2, 4))
    with pytest.raises(DataError, match="max_objects=1"):
        m(torch.tensor([[[0, 0, 0, 0.5, 0.5], [1, 0, 0, 0.5, 0.5]]]))
