"""ldm-plugin-metrics: PSNR, SSIM, LPIPS, FID, KID and precision/recall evaluators.

Inputs: evaluator(real=..., fake=...), image tensors (N, C, H, W) in [-1, 1]. No weights are
downloaded: LPIPS and Inception load from local paths; `features: dataset` trains a small CNN
on the dataset instead (results named dataset_feature_*, not comparable to Inception scores).
"""
