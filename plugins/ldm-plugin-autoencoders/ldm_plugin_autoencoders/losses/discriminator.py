"""PatchGAN discriminator (Isola et al. 2017, as used by VQGAN / LDM first stages).

Each output logit judges one overlapping image patch as real or reconstructed. Module names
(`main.N`) follow the CompVis `loss.discriminator.main.*` keys.
"""

from __future__ import annotations

from torch import nn


class PatchDiscriminator(nn.Module):
    """Conv(4, s2) + LeakyReLU, then (layers - 1) x [Conv(4, s2) + BN + LReLU], a stride-1
    Conv + BN + LReLU and a 1-channel stride-1 Conv. Widths double up to 8x `channels`."""

    def __init__(self, in_channels: int = 3, channels: int = 64, layers: int = 3) -> None:
        super().__init__()
        seq: list[nn.Module] = [nn.Conv2d(in_channels, channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2**n, 8)
            stride = 2 if n < layers else 1
            seq += [
                nn.Conv2d(channels * prev, channels * mult, 4, stride, 1, bias=False),
                nn.BatchNorm2d(channels * mult),
                nn.LeakyReLU(0.2, True),
            ]
        seq.append(nn.Conv2d(channels * mult, 1, 4, 1, 1))
        self.main = nn.Sequential(*seq)
        self.apply(_init)

    def forward(self, x):
        return self.main(x)


def _init(m: nn.Module) -> None:
    """DCGAN initialisation: conv ~ N(0, 0.02); BN weight ~ N(1, 0.02), bias 0."""
    if isinstance(m, nn.Conv2d):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
