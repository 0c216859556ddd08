"""Per-frame parameters reach the device through one pinned buffer, without host waits."""

import numpy as np
import pytest


torch = pytest.importorskip("torch")

from livefilter.gpu.staging import ParamStaging, staging_capacity  # noqa: E402


def test_arrays_arrive_intact_aligned_and_typed():
    st = ParamStaging("cpu", 4096)
    st.begin()
    theta = np.random.default_rng(0).normal(size=(3, 2, 3))
    mask = np.random.default_rng(1).random((3, 8, 8)) > 0.5
    ids = np.array([4, -1, 7])
    a = st.put(theta)
    b = st.put(mask)
    c = st.put(ids)
    d = st.put(np.float32(0.25), torch.float16)
    assert a.dtype == torch.float32 and np.allclose(a.numpy(), theta.astype(np.float32))
    assert b.dtype == torch.bool and np.array_equal(b.numpy(), mask)
    assert c.dtype == torch.int64 and c.tolist() == [4, -1, 7]
    assert d.dtype == torch.float16 and d.shape == () and float(d) == 0.25
    for t in (a, b, c):
        assert (t.data_ptr() - st.dev.data_ptr()) % 64 == 0
    st.end()


def test_a_new_frame_reuses_the_buffer_from_the_front():
    st = ParamStaging("cpu", 1024)
    st.begin()
    first = st.put(np.ones(10))
    st.begin()
    second = st.put(np.full(10, 2.0))
    assert second.data_ptr() == first.data_ptr() and second.tolist() == [2.0] * 10


def test_running_out_of_room_starts_again_instead_of_failing():
    st = ParamStaging("cpu", 256)
    st.begin()
    views = [st.put(np.full(20, float(i))) for i in range(5)]  # 80 bytes each, 64-aligned: wraps
    assert views[-1].tolist() == [4.0] * 20
    with pytest.raises(ValueError, match="exceeds the 256-byte staging buffer"):
        st.put(np.zeros(100))


def test_capacity_covers_a_full_frame_of_the_largest_batch():
    from livefilter.masks import FACE_OVAL

    n, s = 16, 256
    st = ParamStaging("cpu", staging_capacity(n, s))
    st.begin()
    start = st.dev.data_ptr()
    for arr in (np.zeros((n, 2, 3)), np.zeros((n, 2, 3)), np.zeros(n), np.zeros(n), np.zeros((n, len(FACE_OVAL), 2)),
                np.zeros((n, s, s), bool), np.zeros(n, bool), np.zeros(64)):
        t = st.put(arr)
        assert t.data_ptr() >= start  # no wrap-around within one frame
        start = t.data_ptr()
