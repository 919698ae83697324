"""box_raster: boxes -> per-class coverage maps on the latent grid (concat)."""

import pytest
import torch
from ldm_plugin_conditioners.box_raster import BoxRaster
from ldm_plugin_conditioners.params import BoxRasterParams

from ldmcore.errors import DataError
from ldmcore.ports import Latent, Spatial


def raster(size=8, num_classes=3):
    return BoxRaster(BoxRasterParams(num_classes=num_classes), size, "boxes")


def test_port_is_spatial_at_latent_factor_and_concat_only():
    p = BoxRasterParams(num_classes=5)
    assert p.output_port("concat", Latent(3, 4)) == Spatial(5, 4)
    with pytest.raises(ValueError, match="cannot be wired 'crossattn'"):
        p.output_port("crossattn", Latent(3, 4))


def test_coverage_per_class_and_padding():
    boxes = torch.tensor([[[1, 0.0, 0.0, 0.5, 0.25], [2, 0.5, 0.5, 1.0, 1.0],
                           [-1, 0, 0, 0, 0]]])
    maps = raster()(boxes)
    assert maps.shape == (1, 3, 8, 8)
    assert maps[0, 0].sum() == 0  # class 0 absent
    assert torch.equal(maps[0, 1, :2, :4], torch.ones(2, 4))  # top-left quarter-strip
    assert maps[0, 1].sum() == 8  # 0.5 x 0.25 of 64 cells
    assert maps[0, 2].sum() == 16 and maps[0, 2, 4:, 4:].min() == 1
    half = raster()(torch.tensor([[[0, 0.0, 0.0, 1 / 16, 1.0]]]))  # half a cell wide
    assert torch.allclose(half[0, 0, :, 0], torch.full((8,), 0.5))


def test_empty_input_draws_nothing():
    r = raster()
    assert r(r.empty_input(2)).abs().sum() == 0


@pytest.mark.parametrize("rows, fragment", [
    ([[0, 0.5, 0.1, 0.2, 0.4]], "x1 >= x0"),
    ([[0, 0.1, 0.1, 1.2, 0.4]], "[0, 1]"),
    ([[7, 0.1, 0.1, 0.2, 0.4]], "object classes"),
])
def test_bad_boxes_name_the_key(rows, fragment):
    with pytest.raises(DataError, match="'boxes'") as info:
        raster()(torch.tensor([rows]))
    assert fragment in str(info.value)
