"""Small real ONNX generators for tests: identity and colour-shift looks, built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from livefilter.looks.pack import Look, sha256_file


def _graph(kind: str, size: int, with_style: bool, with_strength: bool, shift: tuple[float, float, float]):
    inputs = [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])]
    nodes, inits = [], []
    if kind == "identity":
        nodes.append(helper.make_node("Identity", ["image"], ["output"]))
    elif kind == "shift":
        # A 1x1 conv with identity weights and a bias: a real conv net that shifts colour.
        w = np.zeros((3, 3, 1, 1), np.float32)
        for c in range(3):
            w[c, c] = 1.0
        inits += [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array(shift, np.float32), "b")]
        nodes.append(helper.make_node("Conv", ["image", "w", "b"], ["shifted"]))
        if with_strength:
            # output = image + strength * (shifted - image)
            nodes += [
                helper.make_node("Sub", ["shifted", "image"], ["delta"]),
                helper.make_node("Unsqueeze", ["strength", "axes23"], ["s4"]),
                helper.make_node("Mul", ["delta", "s4"], ["scaled"]),
                helper.make_node("Add", ["image", "scaled"], ["mixed"]),
            ]
            inits.append(numpy_helper.from_array(np.array([2, 3], np.int64), "axes23"))
            last = "mixed"
        else:
            last = "shifted"
        nodes.append(helper.make_node("Clip", [last, "lo", "hi"], ["output"]))
        inits += [numpy_helper.from_array(np.array(-1, np.float32), "lo"), numpy_helper.from_array(np.array(1, np.float32), "hi")]
    else:
        raise ValueError(kind)
    if with_style:
        inputs.append(helper.make_tensor_value_info("style", TensorProto.FLOAT, ["N", 4]))
    if with_strength:
        inputs.append(helper.make_tensor_value_info("strength", TensorProto.FLOAT, ["N", 1]))
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3, size, size])
    graph = helper.make_graph(nodes, f"{kind}_look", inputs, [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_look(
    root: Path,
    name: str = "test",
    kind: str = "identity",
    size: int = 128,
    shift: tuple[float, float, float] = (0.4, -0.2, -0.2),
    with_style: bool = False,
    with_strength: bool = False,
) -> Look:
    """Write a complete look folder with a real ONNX generator and return it."""
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    model = _graph(kind, size, with_style, with_strength, shift)
    onnx.save(model, str(folder / "student.onnx"))
    look = Look(
        name=name,
        root=folder,
        title=name.title(),
        input_size=size,
        input_names={"image": "image", "style": "style" if with_style else None,
                     "strength": "strength" if with_strength else None},
        output_name="output",
        style_code=[0.1, 0.2, 0.3, 0.4] if with_style else None,
        onnx_sha256=sha256_file(folder / "student.onnx"),
        preview=None,
    )
    look.save()
    return look
