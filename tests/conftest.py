"""Shared fixtures. Real data is read in place from ../shared/data (beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LIVEFILTER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared/data; the test is skipped with the reason when it is absent."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared test data not found: {p} (set LIVEFILTER_SHARED_DATA)")
    return p


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own user data/cache directories."""
    home = tmp_path_factory.mktemp("lfhome")
    monkeypatch.setenv("LIVEFILTER_HOME", str(home))
    return home


def cuda_available() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (none found)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def read_rgb(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        pytest.skip(f"cannot read {path}")
    return np.ascontiguousarray(img[:, :, ::-1])


def decode_range(parts: tuple[str, ...], start: int = 0, stop: int | None = None) -> list[np.ndarray]:
    """RGB frames start..stop-1 (to the end without ``stop``) of a video under ../shared/data, at full size."""
    import av

    out = []
    with av.open(str(shared_path(*parts))) as c:
        for i, f in enumerate(c.decode(video=0)):
            if stop is not None and i >= stop:
                break
            if i >= start:
                out.append(f.to_ndarray(format="rgb24"))
    return out


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch intra-op thread for a module: torch's CPU pool slows down many times over on a busy
    two-core machine (a pipeline's face and styling threads still use both cores)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
