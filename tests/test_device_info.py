"""The cache key's GPU is the CUDA device this process uses (CUDA_VISIBLE_DEVICES respected)."""

import pytest

from livefilter.engines import device_info as di

ROWS = [("GPU-aaaa1111-0000-0000-0000-000000000000", "NVIDIA A100-SXM4-80GB", "8.0", "570.86.15"),
        ("GPU-bbbb2222-0000-0000-0000-000000000000", "NVIDIA H200", "9.0", "570.86.15")]


@pytest.mark.parametrize("visible,want", [(None, 0), ("1", 1), ("1,0", 1), ("GPU-bbbb2222", 1), ("bbbb", 1),
                                          ("", None), ("-1", None), ("7", None)])
def test_the_visible_gpu_is_the_row_cuda_visible_devices_names(visible, want):
    row = di.visible_row(ROWS, visible)
    assert row == (ROWS[want] if want is not None else None)


def test_the_runtime_device_wins_over_nvidia_smi_gpu_0(monkeypatch):
    di.cuda_device.cache_clear()
    monkeypatch.setattr(di, "runtime_device", lambda: di._RuntimeDevice("NVIDIA H200", "9.0", ROWS[1][0]))
    monkeypatch.setattr(di, "_smi_rows", lambda: ROWS)
    monkeypatch.setattr(di, "driver_version", lambda: "570.86.15")
    try:
        assert di.cuda_device() == di.DeviceInfo("NVIDIA H200", "9.0", "570.86.15")
        di.cuda_device.cache_clear()
        monkeypatch.setattr(di, "runtime_device", lambda: None)  # no torch CUDA, no cuda-python
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
        assert di.cuda_device() == di.DeviceInfo("NVIDIA H200", "9.0", "570.86.15")
        di.cuda_device.cache_clear()
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
        assert di.cuda_device() is None
    finally:
        di.cuda_device.cache_clear()


def test_uuid_bytes_are_spelt_as_nvidia_smi_does():
    raw = bytes.fromhex("bbbb2222000000000000000000000000")
    assert di._uuid_text(raw) == ROWS[1][0] and di._uuid_text("bbbb2222-0000") == "GPU-bbbb2222-0000"
