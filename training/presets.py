"""The looks that ship with livefilter, trained from the real reference photos in shared/data."""

from __future__ import annotations

from pathlib import Path

from training.config import LookSpec, TrainConfig

# Source-domain exclusions: reference sets and non-photographic portraits.
SOURCE_EXCLUDE = ["/makeup/", "dualstylegan_style_refs", "animegan2_samples", "liveportrait_source"]


def builtin_config(data_root: Path, **overrides) -> TrainConfig:
    faces = data_root / "faces"
    looks = [
        LookSpec(
            name="glam",
            title="Glam",
            description="Evening makeup: warmer skin, defined eyes and brows, tinted lips.",
            refs=[str(p) for p in sorted(faces.glob("makeup_*/makeup"))],
            default_strength=0.9,
        ),
        LookSpec(
            name="toon",
            title="Toon",
            description="Painted cartoon portrait colours and flat shading from artistic style references.",
            refs=[str(faces / "dualstylegan_style_refs")],
            default_strength=0.8,
        ),
    ]
    cfg = TrainConfig(source=[str(faces), str(data_root / "video")], looks=looks, exclude=list(SOURCE_EXCLUDE))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg
