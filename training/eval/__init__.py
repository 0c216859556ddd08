"""Look metrics: teacher->student fidelity, identity, style distance, temporal flicker, seams."""

from training.eval.metrics import (flicker_ratio, identity_similarity, psnr, seam_ratio, ssim, style_distance,
                                   warped_flicker_ratio)

__all__ = ["flicker_ratio", "identity_similarity", "psnr", "seam_ratio", "ssim", "style_distance",
           "warped_flicker_ratio"]
