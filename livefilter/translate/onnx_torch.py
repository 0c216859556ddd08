"""A small ONNX -> torch interpreter for the look generators' op set.

The torch CUDA backend needs a torch graph of the look, but the runtime only has the look's
``student.onnx`` (and must not import training/). onnx2torch would pull in torchvision, so this
interprets the ops the exporter emits. Constant sub-graphs (shapes, slice bounds, scales) are folded
once at build time, so ``forward`` is a straight chain of tensor ops — CUDA-graph capturable.
"""

from __future__ import annotations

from typing import Callable


from livefilter.errors import BackendUnavailable


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _ops() -> dict[str, Callable]:
    import torch
    import torch.nn.functional as F

    def same_pads(x, kernel_shape, strides, auto_pad) -> list[int] | None:
        """ONNX auto_pad SAME_*: TF-style "same" padding (the odd pixel at the end for SAME_UPPER)."""
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            return None
        total = [max((-(-n // s) - 1) * s + k - n, 0) for n, k, s in zip(x.shape[2:], kernel_shape, strides)]
        first = [t // 2 if auto_pad == "SAME_UPPER" else t - t // 2 for t in total]
        return first + [t - f for t, f in zip(total, first)]

    def conv(x, w, b=None, *, strides=(1, 1), pads=(0, 0, 0, 0), dilations=(1, 1), group=1, auto_pad=b"NOTSET", **_):
        pads = same_pads(x, w.shape[2:], strides, auto_pad) or pads
        if pads[0] != pads[2] or pads[1] != pads[3]:
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
            pads = (0, 0, 0, 0)
        return F.conv2d(x, w, b, tuple(strides), (pads[0], pads[1]), tuple(dilations), group)

    def conv_transpose(x, w, b=None, *, strides=(1, 1), pads=(0, 0, 0, 0), group=1, output_padding=(0, 0), **_):
        y = F.conv_transpose2d(x, w, b, tuple(strides), 0, tuple(output_padding), group)
        if any(pads):  # ONNX pads crop the full transposed output (begin, end per axis)
            y = y[:, :, pads[0]:y.shape[2] - pads[2], pads[1]:y.shape[3] - pads[3]]
        return y

    def clip(x, lo=None, hi=None, **_):
        return torch.clamp(x, None if lo is None else float(lo), None if hi is None else float(hi))

    def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0, **_):
        a = a.t() if transA else a
        b = b.t() if transB else b
        y = alpha * (a @ b)
        return y if c is None else y + beta * c

    def slice_(x, starts, ends, axes=None, steps=None, **_):
        axes = [int(a) for a in (axes if axes is not None else range(len(starts)))]
        steps = [int(s) for s in (steps if steps is not None else [1] * len(starts))]
        index = [slice(None)] * x.dim()
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            size = x.shape[ax]
            st, en = int(st), int(min(int(en), size)) if int(en) >= 0 else int(en)
            index[ax] = slice(st, en, sp)
        return x[tuple(index)]

    def resize(x, roi=None, scales=None, sizes=None, *, mode=b"nearest", **_):
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if sizes is not None and len(sizes):
            size = [int(s) for s in sizes[2:]]
            return F.interpolate(x, size=size, mode="nearest" if mode == "nearest" else "bilinear")
        sc = [float(s) for s in scales[2:]]
        if mode == "nearest":
            return F.interpolate(x, scale_factor=sc, mode="nearest")
        return F.interpolate(x, scale_factor=sc, mode="bilinear", align_corners=False)

    def unsqueeze(x, axes, **_):
        for a in sorted(int(v) for v in axes):
            x = x.unsqueeze(a)
        return x

    def squeeze(x, axes=None, **_):
        if axes is None:
            return x.squeeze()
        for a in sorted((int(v) for v in axes), reverse=True):
            x = x.squeeze(a)
        return x

    def reshape(x, shape, **_):
        shape = [int(s) for s in shape]
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)

    def batchnorm(x, scale, bias, mean, var, *, epsilon=1e-5, **_):
        return F.batch_norm(x, mean, var, scale, bias, training=False, eps=epsilon)

    def prelu(x, slope, **_):
        return torch.where(x >= 0, x, x * slope.reshape((1, -1) + (1,) * (x.dim() - 2)) if slope.numel() > 1 else x * slope)

    def avgpool(x, *, kernel_shape, strides=None, pads=(0, 0, 0, 0), ceil_mode=0, count_include_pad=0, **_):
        return F.avg_pool2d(x, tuple(kernel_shape), tuple(strides or kernel_shape), (pads[0], pads[1]),
                            bool(ceil_mode), bool(count_include_pad))

    def cast(x, *, to, **_):
        from onnx import helper

        return x.to(getattr(torch, str(helper.tensor_dtype_to_np_dtype(to))))

    def maxpool(x, *, kernel_shape, strides=None, pads=None, auto_pad=b"NOTSET", ceil_mode=0, **_):
        strides = tuple(strides or (1,) * len(kernel_shape))
        pads = list(same_pads(x, kernel_shape, strides, auto_pad) or pads or [0] * (2 * len(kernel_shape)))
        if any(pads):
            x = F.pad(x, (pads[1], pads[3], pads[0], pads[2]), value=float("-inf"))
        return F.max_pool2d(x, tuple(kernel_shape), strides, 0, 1, bool(ceil_mode))

    def pad(x, pads, value=None, axes=None, *, mode=b"constant", **_):
        mode = mode.decode() if isinstance(mode, bytes) else mode
        if mode != "constant":
            raise BackendUnavailable(f"torch interpreter: Pad mode {mode!r} is not supported")
        rank = x.dim()
        axes = [int(a) % rank for a in (axes if axes is not None else range(rank))]
        begin, end = pads[: len(axes)], pads[len(axes):]
        spec = [0] * (2 * rank)  # F.pad order: last dimension first, (begin, end) pairs
        for a, b, e in zip(axes, begin, end):
            spec[2 * (rank - 1 - a)], spec[2 * (rank - 1 - a) + 1] = int(b), int(e)
        fill = 0.0 if value is None or value == [] else float(value if not isinstance(value, list) else value[0])
        return F.pad(x, spec, value=fill)

    def reduce_sum(x, axes=None, *, keepdims=1, noop_with_empty_axes=0, **_):  # axes: input (opset 13+) or attribute
        if axes is None or (not isinstance(axes, int) and not len(axes)):
            return x if noop_with_empty_axes else x.sum().reshape([1] * x.dim() if keepdims else [])
        axes = [int(axes)] if isinstance(axes, (int, float)) else [int(a) for a in axes]
        return x.sum(dim=axes, keepdim=bool(keepdims))

    def flatten(x, *, axis=1, **_):
        return x.flatten(axis) if axis > 0 else x.reshape(1, -1)

    return {
        "BatchNormalization": batchnorm, "PRelu": prelu, "Flatten": flatten, "AveragePool": avgpool,
        "GlobalAveragePool": lambda x, **_: x.mean(dim=(2, 3), keepdim=True),
        "Cast": cast, "MaxPool": maxpool, "Pad": pad,
        "Conv": conv, "ConvTranspose": conv_transpose, "HardSwish": lambda x, **_: F.hardswish(x), "Clip": clip, "Gemm": gemm, "Slice": slice_, "Resize": resize,
        "Unsqueeze": unsqueeze, "Squeeze": squeeze, "Reshape": reshape,
        "Add": lambda a, b, **_: a + b, "Sub": lambda a, b, **_: a - b, "Mul": lambda a, b, **_: a * b,
        "Div": lambda a, b, **_: a / b, "MatMul": lambda a, b, **_: a @ b,
        "Relu": lambda x, **_: torch.relu(x), "Sigmoid": lambda x, **_: torch.sigmoid(x),
        "Tanh": lambda x, **_: torch.tanh(x),
        "LeakyRelu": lambda x, *, alpha=0.01, **_: F.leaky_relu(x, alpha),
        "Identity": lambda x, **_: x,
        "Max": lambda *xs, **_: xs[0] if len(xs) == 1 else torch.stack(torch.broadcast_tensors(*xs)).amax(0),
        "Reciprocal": lambda x, **_: torch.reciprocal(x), "Sqrt": lambda x, **_: torch.sqrt(x),
        "ReduceSum": reduce_sum,
        "Concat": lambda *xs, axis=0, **_: torch.cat(xs, dim=axis),
        "Transpose": lambda x, *, perm=None, **_: x.permute(*perm) if perm is not None else x.t(),
    }


# inputs that must be constants (folded to Python values) per op
_STATIC_INPUTS = {"Slice": (1, 2, 3, 4), "Resize": (1, 2, 3), "Unsqueeze": (1,), "Squeeze": (1,), "Reshape": (1,),
                  "Clip": (1, 2), "Pad": (1, 2, 3), "ReduceSum": (1,)}


def build_module(onnx_path: str, device: str = "cpu", dtype=None, trainable_inputs: bool = False,
                 all_outputs: bool = False):
    """A torch.nn.Module executing the ONNX graph (inputs by name order).

    It returns the first graph output, or with ``all_outputs`` a tuple of every output in graph order
    (the face detector and landmarker have two).
    """
    import onnx
    import torch
    from onnx import numpy_helper

    model = onnx.load(onnx_path)
    ops = _ops()
    unsupported = sorted({n.op_type for n in model.graph.node if n.op_type not in ops and n.op_type != "Constant"})
    if unsupported:
        raise BackendUnavailable(f"torch-cuda: this ONNX uses ops the torch interpreter lacks: {', '.join(unsupported)}")
    dtype = dtype or torch.float32
    consts: dict[str, torch.Tensor] = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = torch.from_numpy(numpy_helper.to_array(_attrs(node)["value"]).copy())
    plan = []
    for node in model.graph.node:
        if node.op_type == "Constant":
            continue
        attrs = _attrs(node)
        names = list(node.input)
        if all((not n) or n in consts for n in names):  # fold constant sub-graphs now
            args = [consts[n] if n else None for n in names]
            consts[node.output[0]] = ops[node.op_type](*args, **attrs)
            continue
        static = {}
        for idx in _STATIC_INPUTS.get(node.op_type, ()):
            if idx < len(names) and names[idx]:
                if names[idx] not in consts:
                    raise BackendUnavailable(f"torch-cuda: {node.op_type} input {names[idx]} is not constant")
                static[idx] = consts[names[idx]].tolist() if consts[names[idx]].dim() else consts[names[idx]].item()
        plan.append((node.op_type, names, node.output[0], attrs, static))

    graph_inputs = [i.name for i in model.graph.input if i.name not in consts]
    outputs = [o.name for o in model.graph.output]

    class OnnxModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.names = graph_inputs
            self._consts = {}
            for k, v in consts.items():
                v = v.to(dtype) if v.is_floating_point() else v
                buf = f"c{len(self._consts)}"
                self.register_buffer(buf, v, persistent=False)
                self._consts[k] = buf

        def forward(self, *inputs):
            env = dict(zip(self.names, inputs))
            for op_type, names, out, attrs, static in plan:
                args = []
                for i, n in enumerate(names):
                    if i in static:
                        args.append(static[i])
                    elif not n:
                        args.append(None)
                    elif n in env:
                        args.append(env[n])
                    else:
                        args.append(getattr(self, self._consts[n]))
                env[out] = ops[op_type](*args, **attrs)
            if all_outputs:
                return tuple(env[o] for o in outputs)
            return env[outputs[0]]

    module = OnnxModule().to(device).eval()
    if trainable_inputs:  # used as a frozen, differentiable feature network (e.g. ArcFace in training)
        module.requires_grad_(False)
    return module
