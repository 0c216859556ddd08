"""Translator backends: selection, the ONNX->torch interpreter, TensorRT pure parts, GPU parity."""

import numpy as np
import pytest

from livefilter.errors import BackendUnavailable
from livefilter.looks import load_look
from livefilter.translate import select
from livefilter.translate.onnxruntime_backend import OnnxRuntimeTranslator
from onnx_looks import make_look

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def student_look(tmp_path_factory):
    """A real student generator (the shipped architecture), exported to a look pack."""
    from exporters.look_pack import write_look_pack
    from training.models.student import Student, StudentConfig

    torch.manual_seed(0)
    s = Student(StudentConfig(base=8, style_dim=16))
    torch.nn.init.normal_(s.head.weight, std=0.05)
    look, report = write_look_pack(s, tmp_path_factory.mktemp("looks"), name="student", style_code=list(np.linspace(-1, 1, 16)),
                                   input_size=64, align_padding=0.25)
    assert report.parity_max_abs < 1e-4 and report.fp16_safe
    return look


def _crops(n, size=64):
    return np.random.default_rng(n).integers(0, 255, (n, size, size, 3), np.uint8)


def test_auto_picks_onnxruntime_cpu_here_and_says_why_not_the_others(student_look, caplog):
    import logging

    caplog.set_level(logging.INFO)
    t = select.create_translator(student_look)
    assert t.name == "onnxruntime-cpu"
    text = caplog.text
    assert "tensorrt" in text and "torch-cuda" in text and "onnxruntime-cuda" in text


@pytest.mark.parametrize("backend", ["tensorrt", "torch-cuda", "onnxruntime-cuda"])
def test_forcing_an_unavailable_backend_raises(student_look, backend):
    if backend == "torch-cuda" and torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(BackendUnavailable):
        select.create_translator(student_look, backend=backend)


def test_unknown_backend_is_a_setting_error(student_look):
    from livefilter.errors import SettingError

    with pytest.raises(SettingError):
        select.create_translator(student_look, backend="quantum")


def test_onnx_torch_interpreter_matches_onnxruntime(student_look):
    from livefilter.translate.torch_backend import TorchCudaTranslator

    ort_t = OnnxRuntimeTranslator(student_look)
    torch_t = TorchCudaTranslator(student_look, max_faces=4, device="cpu")
    style = np.asarray(student_look.style_code, np.float32)
    for n in (1, 3):
        c = _crops(n)
        s = np.linspace(0.2, 1.0, n).astype(np.float32)
        a, b = ort_t(c, style, s), torch_t(c, style, s)
        assert np.abs(a.astype(int) - b).max() <= 1


def test_interpreter_rejects_unsupported_ops(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from livefilter.translate.onnx_torch import build_module

    g = helper.make_graph([helper.make_node("Einsum", ["image", "image"], ["output"], equation="ij,ij->ij")], "g",
                          [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 1])],
                          [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1])])
    p = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(p))
    with pytest.raises(BackendUnavailable, match="Einsum"):
        build_module(str(p))


def test_dynamic_batch_1_to_4_in_onnxruntime(student_look):
    t = OnnxRuntimeTranslator(student_look)
    style = np.asarray(student_look.style_code, np.float32)
    single = [t(_crops(4)[i:i + 1], style, np.ones(1, np.float32)).copy() for i in range(4)]
    batch = t(_crops(4), style, np.ones(4, np.float32))
    assert np.array_equal(np.concatenate(single), batch)


def test_tensorrt_profile_and_key_and_parser_errors(student_look, monkeypatch):
    from livefilter.engines import tensorrt_build as tb
    from livefilter.engines.device_info import DeviceInfo
    from livefilter.errors import SettingError

    shapes = tb.profile_shapes(student_look, 4)
    assert shapes["image"] == ((1, 3, 64, 64), (1, 3, 64, 64), (4, 3, 64, 64))
    assert shapes["style"] == ((1, 16), (1, 16), (4, 16)) and shapes["strength"][2] == (4, 1)
    monkeypatch.setattr(tb, "cuda_device", lambda: DeviceInfo("NVIDIA H100 80GB HBM3", "9.0", "560.35"))
    k16 = tb.tensorrt_key(student_look, tb.BuildSettings(), "10.3.0")
    k32 = tb.tensorrt_key(student_look, tb.BuildSettings(precision="fp32"), "10.3.0")
    assert k16.device == "NVIDIA H100 80GB HBM3" and k16.digest() != k32.digest()
    monkeypatch.setattr(tb, "cuda_device", lambda: None)
    with pytest.raises(BackendUnavailable, match="no NVIDIA GPU"):
        tb.tensorrt_key(student_look, tb.BuildSettings(), "10.3.0")
    with pytest.raises(SettingError):
        tb.BuildSettings(max_faces=0).validate()

    class Err:
        def __init__(self, desc, node, op):
            self._d, self._n, self._o = desc, node, op

        def desc(self):
            return self._d

        def node_name(self):
            return self._n

        def node_operator(self):
            return self._o

    class Parser:
        num_errors = 2

        def get_error(self, i):
            return [Err("unsupported operator", "/Einsum_0", "Einsum"), Err("bad attr", "/Foo", "Foo")][i]

    msg = tb.parser_errors(Parser())
    assert "Einsum '/Einsum_0': unsupported operator" in msg and "Foo '/Foo'" in msg


def test_wrong_onnx_inputs_are_one_line_errors(tmp_path):
    import json

    from livefilter.errors import LookError

    look = make_look(tmp_path, "w", kind="identity")
    data = json.loads((look.root / "look.json").read_text())
    data["inputs"]["strength"] = "strength"
    (look.root / "look.json").write_text(json.dumps(data))
    with pytest.raises(LookError, match="no strength input"):
        load_look(look.root)


@pytest.mark.gpu
def test_torch_cuda_fp16_matches_cpu_onnxruntime(student_look):
    import time

    from livefilter.translate.torch_backend import TorchCudaTranslator

    ort_t = OnnxRuntimeTranslator(student_look)
    gpu = TorchCudaTranslator(student_look, max_faces=4)
    style = np.asarray(student_look.style_code, np.float32)
    for n in (1, 4):
        c = _crops(n)
        ref = ort_t(c, style, np.ones(n, np.float32))
        got = gpu(c, style, np.ones(n, np.float32))
        err = np.abs(ref.astype(int) - got)
        assert err.max() <= 3, err.max()
        t0 = time.perf_counter()
        for _ in range(50):
            gpu(c, style, np.ones(n, np.float32))
        print(f"torch-cuda fp16 batch {n}: {(time.perf_counter() - t0) / 50 * 1000:.3f} ms")
