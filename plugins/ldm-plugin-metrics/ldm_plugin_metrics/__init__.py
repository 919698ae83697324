"""ldm-plugin-metrics: PSNR, SSIM, LPIPS, FID, KID and precision/recall evaluators, plus the
super-resolution bicubic baseline and the inpainting known-region error (task_metrics.py).

FID / KID report their real-vs-real floor at the same n (reference.py); precision/recall
counts a sample on a manifold only at every feature level (stats.precision_recall_levels).

Inputs: evaluator(real=..., fake=...), image tensors (N, C, H, W) in [-1, 1]. No weights are
downloaded: LPIPS and Inception load from local paths; `features: dataset` trains a small CNN
on the dataset instead (results named dataset_feature_*, not comparable to Inception scores).
"""
