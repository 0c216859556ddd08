"""livefilter: real-time GAN looks on every face of a live camera feed."""

__version__ = "0.1.0"
