"""Distances between feature sets: FID, KID, improved precision / recall (float64)."""

from __future__ import annotations

import numpy as np
import torch


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))  (Heusel et al. 2017).

    Tr (S_a S_b)^(1/2) = sum of sqrt eigenvalues of the symmetric PSD S_a^(1/2) S_b S_a^(1/2)
    (same spectrum), which avoids a general, possibly complex, matrix square root.
    """
    x, y = a.double().cpu().numpy(), b.double().cpu().numpy()
    mu_x, mu_y = x.mean(0), y.mean(0)
    s_x, s_y = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    root = _psd_sqrt(s_x)
    m = root @ s_y @ root
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0.0, None)).sum()
    d = float(((mu_x - mu_y) ** 2).sum() + np.trace(s_x) + np.trace(s_y) - 2 * tr_covmean)
    return max(d, 0.0)


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with the kernel k(u, v) = (u.v / d + 1)^3 (Binkowski et al. 2018)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(sxx + syy - 2 * kxy.mean())


def kid(a: torch.Tensor, b: torch.Tensor, num_subsets: int = 50, subset_size: int = 1000,
        generator: torch.Generator | None = None) -> tuple[float, float]:
    """Mean and std of unbiased MMD^2 over random subsets of both feature sets."""
    x, y = a.double().cpu(), b.double().cpu()
    # subsets of all n items would all be the same set (std 0): at most half of the smaller set
    size = min(subset_size, max(2, min(len(x), len(y)) // 2))
    if min(len(x), len(y)) < 2:
        raise ValueError("KID needs at least 2 samples per set")
    vals = []
    for _ in range(num_subsets):
        ix = torch.randperm(len(x), generator=generator)[:size]
        iy = torch.randperm(len(y), generator=generator)[:size]
        vals.append(_mmd2_unbiased(x[ix], y[iy]))
    return float(np.mean(vals)), float(np.std(vals))


def _knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # k + 1: the distance to itself (0) comes first


def _coverage(manifold: torch.Tensor, radii: torch.Tensor, probes: torch.Tensor) -> float:
    """Fraction of probes inside some ball B(manifold_i, radii_i)."""
    d = torch.cdist(probes, manifold)
    return float((d <= radii[None, :]).any(dim=1).double().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Improved precision / recall (Kynkaanniemi et al. 2019) on k-NN balls of each set."""
    r, f = real.double().cpu(), fake.double().cpu()
    if len(r) <= k or len(f) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    precision = _coverage(r, _knn_radii(r, k), f)
    recall = _coverage(f, _knn_radii(f, k), r)
    return precision, recall


def _members(manifold: torch.Tensor, radii: torch.Tensor, probes: torch.Tensor) -> torch.Tensor:
    """(P,) bool: probe inside some ball B(manifold_i, radii_i)."""
    return (torch.cdist(probes, manifold) <= radii[None, :]).any(dim=1)


def precision_recall_levels(real: list[torch.Tensor], fake: list[torch.Tensor], k: int = 3
                            ) -> tuple[float, float, list[tuple[float, float]]]:
    """Improved precision / recall with a sample on a manifold only if it is on it at EVERY
    feature level (e.g. low-level colour statistics AND label-level content).

    Why: at small n the k-NN balls of one level are wide (64 points in 128-d: the 3-NN radius
    is ~0.7 of the distance to the mean), and a label-trained CNN maps pixel noise into the
    middle of the real cloud at its top level, so single-level precision calls noise 'real'.
    Noise is off the manifold of low-level statistics, a blank image off the label-level one;
    a real image is on all of them. -> (precision, recall, [(precision_l, recall_l)]).
    """
    if len(real) != len(fake) or not real:
        raise ValueError("precision/recall: real and fake need the same feature levels")
    n_r, n_f = len(real[0]), len(fake[0])
    if n_r <= k or n_f <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set")
    in_real = torch.ones(n_f, dtype=torch.bool)
    in_fake = torch.ones(n_r, dtype=torch.bool)
    per_level = []
    for r, f in zip(real, fake):
        r, f = r.double().cpu(), f.double().cpu()
        p_l = _members(r, _knn_radii(r, k), f)  # fake samples on the real manifold
        r_l = _members(f, _knn_radii(f, k), r)  # real samples on the fake manifold
        in_real &= p_l
        in_fake &= r_l
        per_level.append((float(p_l.double().mean()), float(r_l.double().mean())))
    return float(in_real.double().mean()), float(in_fake.double().mean()), per_level
