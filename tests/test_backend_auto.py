"""``--backend auto`` follows TensorRT FP16 -> torch CUDA FP16 -> onnxruntime CUDA -> onnxruntime CPU
on the device pipeline too, and says which one it took and why it skipped the others."""

import logging

import numpy as np
import pytest

from fakes import FixedFaceTracker, patch_factory
from livefilter.errors import BackendUnavailable
from livefilter.pipeline.session import PipelineSettings
from livefilter.translate import backends

pytest.importorskip("torch")


def test_auto_on_the_device_pipeline_tries_tensorrt_first_and_logs_what_it_skipped(monkeypatch, caplog):
    from livefilter.pipeline import session
    from livefilter.pipeline.device import DeviceStyling, device_pipeline
    from livefilter.translate import select

    tried = []

    def unavailable(name):
        def make(look, max_faces, precision):
            tried.append((name, precision))
            raise BackendUnavailable(f"{name}: not on this machine")
        return make

    for name in ("tensorrt", "torch-cuda", "onnxruntime-cuda"):
        patch_factory(monkeypatch, name, unavailable(name))
    monkeypatch.setattr(session, "pipeline_device", lambda s: "cpu")  # the device pipeline, on the CPU device
    settings = PipelineSettings(backend="auto", device_face_stage=False)
    with caplog.at_level(logging.INFO, logger="livefilter.translate.select"):
        pipe = session.build_pipeline(settings, tracker=FixedFaceTracker())
    assert isinstance(pipe.styling, DeviceStyling) and settings.backend == "auto"
    assert tried == [("tensorrt", "fp16"), ("torch-cuda", "fp16"), ("onnxruntime-cuda", "fp16")]
    rt = pipe.runtime(pipe.controls.look)
    assert rt.translator.name.startswith("onnxruntime")
    chosen = [r.getMessage() for r in caplog.records if "translator for look" in r.getMessage()]
    assert len(chosen) == 1 and "skipped tensorrt: not on this machine; torch-cuda: not on this machine" in chosen[0]
    assert "onnxruntime-cuda:" in chosen[0]
    # a host translator inside the device pipeline: the frame is styled on the host path
    frame = np.full((360, 480, 3), 120, np.uint8)
    out = pipe.process(frame.copy())
    assert pipe.stats.passthrough == 0 and out.shape == frame.shape


def test_when_nothing_can_run_the_error_lists_every_reason(monkeypatch):
    from livefilter.looks.registry import LookRegistry
    from livefilter.translate import select

    for name in backends.auto_order():
        patch_factory(monkeypatch, name,
                           lambda look, m, p, name=name: (_ for _ in ()).throw(BackendUnavailable(f"{name}: no")))
    with pytest.raises(BackendUnavailable) as e:
        select.create_translator(LookRegistry().default())
    assert all(f"{name}: no" in str(e.value) for name in backends.auto_order()) and "\n" not in str(e.value)


def test_a_host_translator_for_a_device_backend_fails_at_build_with_one_line(monkeypatch):
    """torch-cpu runs on the device pipeline: a translator without the device ability is refused
    when the pipeline is built, not silently sent to the host path."""
    from livefilter.pipeline import session
    from livefilter.errors import SettingError
    from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator

    patch_factory(monkeypatch, "torch-cpu", lambda look, m, p: OnnxRuntimeTranslator(look, threads=1))
    with pytest.raises(SettingError) as e:
        session.build_pipeline(PipelineSettings(backend="torch-cpu", device_face_stage=False),
                               tracker=FixedFaceTracker())
    message = str(e.value)
    assert "\n" not in message and "cannot run on the device pipeline (cpu)" in message
    assert "onnxruntime-cpu" in message  # which translator it was


def test_a_device_face_stage_on_the_host_pipeline_fails_at_build_with_one_line():
    """The device face stage reads the device pipeline's upload: the host pipeline has none."""
    from livefilter.pipeline import session
    from livefilter.errors import SettingError
    from livefilter.detect.device_tracker import create_device_tracker

    with pytest.raises(SettingError) as e:
        session.build_pipeline(PipelineSettings(backend="onnxruntime-cpu"), tracker=create_device_tracker(device="cpu"))
    message = str(e.value)
    assert "\n" not in message and "DeviceFaceTracker reads the device pipeline's upload" in message


def test_a_device_face_stage_on_another_device_fails_at_build_with_one_line():
    from livefilter.errors import SettingError
    from livefilter.detect.device_tracker import create_device_tracker
    from livefilter.pipeline.device import DeviceStyling, device_pipeline
    from livefilter.looks.registry import LookRegistry
    from livefilter.pipeline.host import LiveControls
    from livefilter.translate.torch_backend import TorchCudaTranslator

    made = []
    with pytest.raises(SettingError) as e:
        device_pipeline(create_device_tracker(device="cpu"), LookRegistry().get,
                       lambda lk: made.append(lk) or TorchCudaTranslator(lk, device="cpu", precision="fp32"),
                       LiveControls(look="glam"), device="meta")
    message = str(e.value)
    assert "\n" not in message and "runs on cpu: it cannot read the device pipeline's frames on meta" in message
    assert made == []  # refused before any look or translator was loaded


def test_a_translator_without_the_translator_protocol_fails_at_build_with_one_line(monkeypatch):
    """A backend's translator that does not say whether it blends by strength itself is refused when
    the pipeline is built (nothing guesses a default)."""
    from livefilter.pipeline import session
    from livefilter.errors import SettingError

    class Undeclared:
        name = "undeclared"

        def __init__(self, look):
            self.input_size = look.input_size

        def __call__(self, crops, style, strength):
            return crops

    patch_factory(monkeypatch, "onnxruntime-cpu", lambda look, m, p: Undeclared(look))
    with pytest.raises(SettingError) as e:
        session.build_pipeline(PipelineSettings(backend="onnxruntime-cpu"), tracker=FixedFaceTracker())
    message = str(e.value)
    assert "\n" not in message and "translator Undeclared for look" in message
    assert "does not implement the Translator protocol (name, input_size, strength_in_network, __call__)" in message
