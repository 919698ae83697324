"""Training objective of the first stages (paper Sec. 3.1, Appendix G; issue 5 item 2).

Entry point: ``FirstStage.make_loss()`` -> `AutoencoderLoss` (objective.py). Pieces:
discriminator.py (PatchGAN), lpips.py (LPIPS on timm VGG16, user weights),
structural.py (weight-free substitute), perceptual.py (picks one of the two).
"""
