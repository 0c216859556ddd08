"""The frozen-TensorFlow-graph converter on small graphs built in the test (no TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from exporters.tf_graph_convert import GraphConversionError, convert_graph, graphdef_class


def _graph(nodes: list[dict]) -> bytes:
    g = graphdef_class()()
    for spec in nodes:
        n = g.node.add(name=spec["name"], op=spec["op"])
        n.input.extend(spec.get("inputs", []))
        for key, value in spec.get("attrs", {}).items():
            a = n.attr[key]
            if isinstance(value, np.ndarray):
                a.tensor.dtype = {np.dtype(np.float32): 1, np.dtype(np.int32): 3}[value.dtype]
                a.tensor.tensor_shape.dim.extend([])
                for d in value.shape:
                    a.tensor.tensor_shape.dim.add(size=d)
                a.tensor.tensor_content = value.tobytes()
            elif isinstance(value, bytes):
                a.s = value
            elif isinstance(value, list):
                a.list.i.extend(value)
            elif isinstance(value, tuple):  # a shape
                for d in value:
                    a.shape.dim.add(size=d)
            elif isinstance(value, float):
                a.f = value
            elif isinstance(value, bool):
                a.b = value
    return g.SerializeToString()


def _const(name: str, value: np.ndarray) -> dict:
    return {"name": name, "op": "Const", "attrs": {"value": value}}


def _run(model, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _reference(x_nhwc: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A SAME 3x3 convolution, stride 2, bias, ReLU, 2x2 max-pool, flatten, in plain NumPy (NHWC)."""
    n, h, wd, c = x_nhwc.shape
    oh, ow = -(-h // 2), -(-wd // 2)
    pad_h, pad_w = max((oh - 1) * 2 + 3 - h, 0), max((ow - 1) * 2 + 3 - wd, 0)
    xp = np.pad(x_nhwc, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    y = np.zeros((n, oh, ow, w.shape[3]), np.float64)
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3, :]
            y[:, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [0, 1, 2]))
    y = np.maximum(y + b, 0)
    y = y[:, : oh // 2 * 2, : ow // 2 * 2].reshape(n, oh // 2, 2, ow // 2, 2, -1).max(axis=(2, 4))
    return y.reshape(n, -1)


def _small_cnn(order: str = "sorted") -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    nodes = [
        {"name": "input", "op": "Placeholder", "attrs": {"shape": (1, 9, 9, 3)}},
        _const("w", w), _const("b", b), _const("shape", np.array([1, -1], np.int32)),
        {"name": "conv", "op": "Conv2D", "inputs": ["input:0", "w"],
         "attrs": {"strides": [1, 2, 2, 1], "padding": b"SAME", "data_format": b"NHWC"}},
        {"name": "bias", "op": "BiasAdd", "inputs": ["conv", "b"]},
        {"name": "relu", "op": "Relu", "inputs": ["bias"]},
        {"name": "pool", "op": "MaxPool", "inputs": ["relu"],
         "attrs": {"ksize": [1, 2, 2, 1], "strides": [1, 2, 2, 1], "padding": b"VALID"}},
        {"name": "flat", "op": "Reshape", "inputs": ["pool", "shape"]},
    ]
    if order == "reversed":  # frozen graphs need not be topologically sorted
        nodes = nodes[::-1]
    return _graph(nodes), w, b


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_a_small_cnn_matches_a_numpy_reference_at_any_batch(order):
    data, w, b = _small_cnn(order)
    model = convert_graph(data, output="flat")
    x = np.random.default_rng(4).standard_normal((3, 9, 9, 3)).astype(np.float32)
    got = _run(model, np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # the model takes NCHW
    assert got.shape == (3, 2 * 2 * 4)
    np.testing.assert_allclose(got, _reference(x.astype(np.float64), w, b), rtol=1e-4, atol=1e-4)


def test_batch_norm_and_the_embedding_normalisation():
    rng = np.random.default_rng(5)
    scale, offset = rng.uniform(0.5, 2, 6).astype(np.float32), rng.standard_normal(6).astype(np.float32)
    mean, var = rng.standard_normal(6).astype(np.float32), rng.uniform(0.5, 2, 6).astype(np.float32)
    data = _graph([
        {"name": "input", "op": "Placeholder", "attrs": {"shape": (1, 1, 1, 6)}},
        _const("s1", np.array([-1, 1, 1, 6], np.int32)), _const("scale", scale), _const("offset", offset),
        _const("mean", mean), _const("var", var), _const("s2", np.array([1, 6], np.int32)),
        _const("axis", np.array(1, np.int32)), _const("eps", np.array(1e-10, np.float32)),
        {"name": "r1", "op": "Reshape", "inputs": ["input", "s1"]},
        {"name": "bn", "op": "FusedBatchNorm", "inputs": ["r1", "scale", "offset", "mean", "var"],
         "attrs": {"epsilon": 0.001, "data_format": b"NHWC"}},
        {"name": "r2", "op": "Reshape", "inputs": ["bn", "s2"]},
        {"name": "sq", "op": "Square", "inputs": ["r2"]},
        {"name": "sum", "op": "Sum", "inputs": ["sq", "axis"], "attrs": {"keep_dims": True}},
        {"name": "max", "op": "Maximum", "inputs": ["sum", "eps"]},
        {"name": "rsqrt", "op": "Rsqrt", "inputs": ["max"]},
        {"name": "emb", "op": "Mul", "inputs": ["r2", "rsqrt"]},
    ])
    x = rng.standard_normal((2, 6, 1, 1)).astype(np.float32)
    got = _run(convert_graph(data), x)
    y = (x.reshape(2, 6) - mean) / np.sqrt(var + 1e-3) * scale + offset
    np.testing.assert_allclose(got, y / np.linalg.norm(y, axis=1, keepdims=True), rtol=1e-4, atol=1e-5)


def test_unsupported_ops_and_broken_files_are_one_clear_error():
    data = _graph([{"name": "input", "op": "Placeholder", "attrs": {"shape": (1, 4, 4, 3)}},
                   {"name": "odd", "op": "Softplus", "inputs": ["input"]}])
    with pytest.raises(GraphConversionError, match="unsupported TensorFlow ops: Softplus"):
        convert_graph(data)
    with pytest.raises(GraphConversionError, match="not a TensorFlow GraphDef"):
        convert_graph(b"\xff\xff\xff\xff not a protobuf")
    with pytest.raises(GraphConversionError, match="no nodes"):
        convert_graph(b"")
    with pytest.raises(GraphConversionError, match="no node produces"):
        convert_graph(_graph([{"name": "input", "op": "Placeholder", "attrs": {"shape": (1, 4, 4, 3)}},
                              {"name": "r", "op": "Relu", "inputs": ["missing"]}]))
