import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ldmcore.errors import DataError
from ldmcore.interfaces import FirstStage
from ldmcore.ports import Spatial


class PoolStage(FirstStage):
    def __init__(self, f=4):
        super().__init__()
        self.f = f
        self.w = nn.Parameter(torch.ones(()))

    def encode(self, x, *, sample=False, generator=None):
        return F.avg_pool2d(x, self.f) * self.w

    def decode(self, z):
        return F.interpolate(z, scale_factor=self.f)


def test_rescale_lowres_image_at_quarter_size(make):
    m, port = make("spatial_rescale", wiring="concat", input="lowres", f=4, input_factor=4,
                   out_channels=5)
    assert port == Spatial(5, 4)
    out = m(torch.rand(2, 3, 8, 8))  # a 32x32 image's x4 low-res version -> latent 8x8
    assert out.shape == (2, 5, 8, 8)
    m, _ = make("spatial_rescale", wiring="concat", input="lowres", f=8, input_factor=4,
                out_channels=3)
    assert m(torch.rand(2, 3, 8, 8)).shape == (2, 3, 4, 4)


def test_rescale_segmentation_one_hot(make):
    m, port = make("spatial_rescale", wiring="concat", input="segmentation", f=4,
                   num_classes=3, channel_map=False, out_channels=3, mode="area")
    seg = torch.zeros(1, 8, 8, dtype=torch.long)
    seg[:, :4, :4] = 2
    out = m(seg)
    assert out.shape == (1, 3, 2, 2) and port == Spatial(3, 4)
    assert out[0, :, 0, 0].tolist() == [0.0, 0.0, 1.0]
    assert out[0, :, 1, 1].tolist() == [1.0, 0.0, 0.0]
    assert torch.allclose(out.sum(1), torch.ones(1, 2, 2))


def test_rescale_unshuffle_keeps_every_pixel_of_a_map(make):
    m, port = make("spatial_rescale", wiring="concat", input="segmentation", f=4,
                   num_classes=3, out_channels=2, mode="unshuffle")
    assert port == Spatial(2, 4) and m.channel_mapper.in_channels == 3 * 4 * 4
    seg = torch.zeros(1, 8, 8, dtype=torch.long)
    seg[0, 5, 6] = 2  # a one-pixel object: area resizing would leave 1/16 of it
    cells = F.pixel_unshuffle(F.one_hot(seg, 3).permute(0, 3, 1, 2).float(), 4)
    picked = torch.zeros_like(m.channel_mapper.weight.view(2, 48))
    picked[0, 2 * 16 + 1 * 4 + 2] = picked[1, 0] = 1  # class 2 at (1, 2) in a cell; bg at (0, 0)
    m.channel_mapper.weight.data.copy_(picked.view(2, 48, 1, 1))
    out = m(seg)
    assert out.shape == (1, 2, 2, 2)
    assert out[0, 0].tolist() == [[0.0, 0.0], [0.0, 1.0]]  # the pixel, exactly, in its cell
    assert torch.equal(out, F.conv2d(cells, m.channel_mapper.weight))
    assert m(torch.zeros(1, 16, 24, dtype=torch.long)).shape == (1, 2, 4, 6)  # convolutional
    with pytest.raises(ValueError, match="unshuffle"):
        make("spatial_rescale", wiring="concat", input="s", num_classes=3, mode="unshuffle",
             channel_map=False, out_channels=3)


def test_rescale_bad_inputs(make):
    m, _ = make("spatial_rescale", wiring="concat", input="segmentation", num_classes=3)
    with pytest.raises(DataError, match=r"'segmentation'.*\[0, 2\]"):
        m(torch.full((1, 8, 8), 3))
    with pytest.raises(DataError, match="'segmentation'.*int64"):
        m(torch.rand(1, 8, 8))
    m, _ = make("spatial_rescale", wiring="concat", input="lowres")
    with pytest.raises(DataError, match=r"'lowres'.*\(B, 3, H, W\)"):
        m(torch.rand(1, 1, 8, 8))
    with pytest.raises(ValueError, match="cannot be wired 'crossattn'"):
        make("spatial_rescale", wiring="crossattn")


def test_first_stage_encoding_is_scaled_and_frozen(make):
    fs = PoolStage(4)
    fs.scale_factor.fill_(0.5)
    fs.shift_factor.fill_(0.1)
    m, port = make("spatial_first_stage", wiring="concat", input="masked_image",
                   first_stage=fs, c=3, f=4)
    assert port == Spatial(3, 4)
    x = torch.rand(2, 3, 16, 16)
    out = m(x)
    assert torch.allclose(out, (F.avg_pool2d(x, 4) - 0.1) * 0.5)
    assert not out.requires_grad
    assert list(m.parameters()) == []  # the first stage is referenced, not owned
    assert m.state_dict() == {}


def test_mask_downsampling_modes(make):
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 0, 0] = 1  # one pixel of the top-left latent cell
    for mode, want in [("max", 1.0), ("area", 1 / 16)]:
        m, port = make("spatial_mask", wiring="concat", input="mask", f=4, mode=mode)
        out = m(mask)
        assert port == Spatial(1, 4) and out.shape == (1, 1, 2, 2)
        assert out[0, 0, 0, 0].item() == pytest.approx(want)
        assert out[0, 0, 1, 1].item() == 0
    m, _ = make("spatial_mask", wiring="concat", input="mask", f=4)
    assert m(torch.ones(2, 8, 8)).shape == (2, 1, 2, 2)  # (B, H, W) accepted
    with pytest.raises(DataError, match="'mask'.*\\[0, 1\\]"):
        m(torch.full((1, 1, 8, 8), 2.0))
    with pytest.raises(DataError, match="'mask'.*not divisible by f=4"):
        m(torch.ones(1, 1, 6, 6))


def test_mask_unshuffle_keeps_every_pixel(make):
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 0, 1] = 1  # one pixel of the top-left latent cell: row 0, column 1
    m, port = make("spatial_mask", wiring="concat", input="mask", f=4, mode="unshuffle")
    out = m(mask)
    assert port == Spatial(16, 4) and out.shape == (1, 16, 2, 2)
    assert out[0, :, 0, 0].tolist() == [0.0, 1.0] + [0.0] * 14  # the pixel, in raster order
    assert out[0, :, 1:, :].abs().sum() == 0 and out[0, :, :, 1:].abs().sum() == 0
    assert F.pixel_shuffle(out, 4).equal(mask)  # lossless


def test_first_stage_with_pixels_adds_a_trained_exact_pixel_path(make):
    fs = PoolStage(4)
    m, port = make("spatial_first_stage", wiring="concat", input="masked_image",
                   first_stage=fs, c=3, f=4, pixels=5)
    assert port == Spatial(3 + 5, 4)
    x = torch.rand(2, 3, 16, 16)
    out = m(x)
    assert out.shape == (2, 8, 4, 4)
    assert torch.allclose(out[:, :3], F.avg_pool2d(x, 4))  # the latent part as before
    want = F.conv2d(F.pixel_unshuffle(x, 4), m.pixel_mapper.weight)
    assert torch.allclose(out[:, 3:], want, atol=1e-6)
    out[:, 3:].sum().backward()  # the pixel path trains; the first stage stays frozen
    assert m.pixel_mapper.weight.grad.abs().sum() > 0 and fs.w.grad is None
    y = x.clone()
    y[0, :, 0, 1] += 1  # one pixel changes: the pixel path sees it in its own cell only
    diff = (m(y)[:, 3:] - out[:, 3:]).abs().sum(dim=1)
    assert diff[0, 0, 0] > 0 and diff.sum() == diff[0, 0, 0]
