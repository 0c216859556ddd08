"""backend_report(): every backend, usable or not, with the reason; consistent with what auto picks."""

import logging

import pytest

from livefilter.errors import BackendUnavailable
from livefilter.translate import backends, select
from onnx_looks import make_look


def test_report_lists_every_backend_in_auto_order_with_reasons():
    report = select.backend_report()
    assert [r[0] for r in report] == list(backends.auto_order())
    for name, usable, reason in report:
        assert isinstance(usable, bool) and reason and "\n" not in reason
    assert dict((n, u) for n, u, _ in report)["onnxruntime-cpu"] is True


def test_auto_picks_the_first_usable_backend_and_logs_the_rest(tmp_path, caplog):
    look = make_look(tmp_path, "x", kind="shift", size=64)
    caplog.set_level(logging.INFO, logger="livefilter.translate.select")
    report = select.backend_report()
    first_usable = next(n for n, ok, _ in report if ok)
    t = select.create_translator(look, backend="auto", max_faces=2)
    if first_usable == "onnxruntime-cpu":  # this machine (no GPU): one line per skipped backend
        assert t.name == "onnxruntime-cpu"
        messages = [r.getMessage() for r in caplog.records]
        skipped = [m for m in messages if not m.startswith("translator for look")]
        assert len(skipped) == 3 and all("\n" not in m for m in messages)
        assert skipped[0].startswith("tensorrt: ") and "pip install 'livefilter[gpu]'" in skipped[0]
        (chosen,) = [m for m in messages if m.startswith("translator for look")]  # which, and why not the others
        assert "onnxruntime-cpu (auto; skipped tensorrt: " in chosen


def test_forcing_each_unusable_backend_raises_with_its_reason(tmp_path):
    look = make_look(tmp_path, "x", kind="shift", size=64)
    for name, usable, reason in select.backend_report():
        if usable or name == "torch-cuda":  # torch-cuda's probe needs a GPU; covered in test_backends
            continue
        with pytest.raises(BackendUnavailable) as e:
            select.create_translator(look, backend=name)
        assert name.split("-")[0] in str(e.value) and "\n" not in str(e.value)
