"""The first-stage objective: reconstruction + perceptual + PatchGAN + KL or VQ regulariser.

Trainer contract (two optimisers: autoencoder params, ``loss.parameters()`` = discriminator):

    loss_fn = first_stage.make_loss()
    x_rec, aux = first_stage.reconstruct(x, generator)
    g, logs = loss_fn.generator_loss(x, x_rec, aux, step, first_stage.last_layer())
    g.backward(); opt_ae.step()                       # discriminator gets no grads from g
    d, logs_d = loss_fn.discriminator_loss(x, x_rec.detach(), step)
    d.backward(); opt_disc.step()                     # d is 0 (still backward-able) before
                                                      # disc_start
Logs are plain floats. Generator loss (per pixel means, so losses stay O(1)):

    L_rec = mean(w_pix |x - x_rec| + w_p d_perc(x, x_rec))
    L_G   = L_rec + w_kl KL(q(z|x) || N(0,I)) / (C H W)   (kl)
          = L_rec + w_cb L_VQ                              (vq)
          + disc_factor * lambda * (-mean D(x_rec))        (step >= disc_start)
    lambda = disc_weight * clamp(|grad_L L_rec| / (|grad_L L_adv| + 1e-4), 0, max)

at the decoder's last layer L (Esser et al. 2021, eq. 7). CompVis sums the KL-model's pixel loss
over C H W; dividing every term by C H W gives the same objective (same minimiser, same lambda
relative scale) with `kl_weight` unchanged. The discriminator uses the hinge loss
0.5 (mean relu(1 - D(x)) + mean relu(1 + D(x_rec))). A learned output log-variance (CompVis
`logvar`) is not used (it starts at 0 and is rarely trained).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from ..params import LossParams
from .discriminator import PatchDiscriminator
from .perceptual import make_perceptual


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


class AutoencoderLoss(nn.Module):
    """Holds the discriminator (its only registered parameters) and the frozen perceptual net
    (kept outside the state dict: it is never trained and never saved)."""

    def __init__(self, p: LossParams, regulariser: str, image_channels: int = 3) -> None:
        super().__init__()
        if regulariser not in ("kl", "vq", "none"):
            raise ValueError(f"unknown regulariser {regulariser!r}")
        self.p, self.regulariser = p, regulariser
        self.discriminator = PatchDiscriminator(image_channels, p.disc_channels, p.disc_layers)
        perceptual = make_perceptual(p.lpips_weights) if p.perceptual_weight > 0 else None
        self._perceptual = [perceptual]  # a list: not a registered submodule

    # ------------------------------------------------------------------ helpers
    def disc_active(self, step: int) -> bool:
        return step >= self.p.disc_start and self.p.disc_factor > 0

    def _perceptual_distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        net = self._perceptual[0]
        ref = next(iter(net.buffers()), None)
        if ref is not None and (ref.device != x.device or ref.dtype != x.dtype):
            net.to(device=x.device, dtype=x.dtype)
        return net(x, y)

    def adaptive_weight(self, rec_loss: torch.Tensor, g_loss: torch.Tensor,
                        last_layer: torch.Tensor) -> torch.Tensor:
        """lambda = |grad rec| / (|grad adv| + 1e-4), clamped to [0, max], times disc_weight."""
        rec_grad = torch.autograd.grad(rec_loss, last_layer, retain_graph=True)[0]
        g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        weight = rec_grad.norm() / (g_grad.norm() + 1e-4)
        return torch.clamp(weight, 0.0, self.p.adaptive_weight_max).detach() * self.p.disc_weight

    # ------------------------------------------------------------------ the two losses
    def generator_loss(
        self, x: torch.Tensor, x_rec: torch.Tensor, aux: Any, step: int,
        last_layer: torch.Tensor | None,
    ) -> tuple[torch.Tensor, dict[str, float]]:
        p = self.p
        pixel = (x - x_rec).abs()
        rec = p.pixel_weight * pixel
        logs: dict[str, float] = {"loss/pixel": pixel.mean().item()}
        if self._perceptual[0] is not None:
            perc = self._perceptual_distance(x.contiguous(), x_rec.contiguous())
            rec = rec + p.perceptual_weight * perc
            logs["loss/perceptual"] = perc.mean().item()
        rec_loss = rec.mean()
        total = rec_loss
        if self.regulariser == "kl":
            kl = aux.kl().mean() / x[0].numel()
            total = total + p.kl_weight * kl
            logs["loss/kl"] = kl.item() * x[0].numel()  # per-sample KL, as CompVis logs it
        elif self.regulariser == "vq":
            total = total + p.codebook_weight * aux.loss.mean()
            logs["loss/codebook"] = aux.loss.mean().item()
            logs["perplexity"] = float(aux.perplexity)
        d_weight = torch.zeros((), device=x.device)
        g_loss = torch.zeros((), device=x.device)
        if self.disc_active(step):
            self.discriminator.requires_grad_(False)  # G's step must not touch D
            try:
                g_loss = -self.discriminator(x_rec.contiguous()).mean()
            finally:
                self.discriminator.requires_grad_(True)
            if last_layer is not None and torch.is_grad_enabled() and rec_loss.requires_grad:
                d_weight = self.adaptive_weight(rec_loss, g_loss, last_layer)
            total = total + p.disc_factor * d_weight * g_loss
        logs.update({"loss/rec": rec_loss.item(), "loss/g": g_loss.item(),
                     "d_weight": float(d_weight), "loss/total": total.item()})
        return total, logs

    def discriminator_loss(
        self, x: torch.Tensor, x_rec: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:
        if not self.disc_active(step):
            # zero, but connected to D so `backward()` and DDP work unchanged before disc_start
            zero = sum(q.sum() for q in self.discriminator.parameters()) * 0.0
            return zero, {"loss/disc": 0.0}
        real = self.discriminator(x.detach().contiguous())
        fake = self.discriminator(x_rec.detach().contiguous())
        d_loss = self.p.disc_factor * hinge_d_loss(real, fake)
        return d_loss, {"loss/disc": d_loss.item(), "logits/real": real.mean().item(),
                        "logits/fake": fake.mean().item()}
