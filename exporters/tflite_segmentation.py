"""Convert MediaPipe's selfie segmentation ``.tflite`` files to the ONNX models livefilter ships.

``mediapipe==0.10.14``'s wheel carries MediaPipe's selfie segmentation models (Apache-2.0) in
``mediapipe/modules/selfie_segmentation/`` (the 1.x wheels ship none). The wheel is never installed
(it pins numpy < 2 and protobuf < 5); only the two model files are read:

    pip download mediapipe==0.10.14 --no-deps --only-binary=:all: \\
        --platform manylinux_2_17_x86_64 --python-version 3.11 -d /tmp/mp
    pip install 'livefilter[convert]'          # tflite (the flatbuffer reader); no tensorflow
    python -m exporters.tflite_segmentation --wheel-dir /tmp/mp --out livefilter/models

``tflite2onnx`` cannot read these models: they use MediaPipe's custom op
``Convolution2DTransposeBias`` (a transposed convolution with bias). The graph is small (CONV_2D,
DEPTHWISE_CONV_2D, HARD_SWISH, RELU, LOGISTIC, ADD, MUL, AVERAGE_POOL_2D, MEAN, RESIZE_BILINEAR,
DEQUANTIZE of float16 weights and that op), so this module translates it op by op to an NCHW ONNX
graph (opset 14) with the ``tflite`` flatbuffer reader and ``onnx.helper``. The result is then put
through :func:`exporters.mediapipe_convert.postprocess` (dynamic batch, fp16 weight storage, sorted
initializers: byte-reproducible).

I/O of the ONNX: ``image`` (N, 3, H, W) RGB in [0, 1] (256 x 256, or 144 x 256 for the landscape
model) -> ``mask`` (N, 1, H, W), the person probability (the model's own sigmoid).

The reference outputs (``segmentation_reference.npz``) are MediaPipe's own: ``--reference`` runs
``mediapipe.solutions.selfie_segmentation`` (in an environment where mediapipe 0.10.14 is installed,
e.g. a throwaway venv with numpy < 2) on :func:`reference_images` and saves the masks; the test suite
compares the committed ONNX files with them.
"""

from __future__ import annotations

import argparse
import json
import logging
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: tflite file in the wheel -> (ONNX file livefilter ships, MediaPipe's model_selection)
MODELS = {
    "selfie_segmentation.tflite": ("selfie_segmentation.onnx", 0),
    "selfie_segmentation_landscape.tflite": ("selfie_segmentation_landscape.onnx", 1),
}
WHEEL_DATA = "mediapipe/modules/selfie_segmentation"
WHEEL_VERSION = "0.10.14"
MANIFEST = "segmentation_models.json"
REFERENCE = "segmentation_reference.npz"
REFERENCE_SEED = 20261206
#: a real photo (lossless PNG, read in place from the shared test data; never copied) for the reference
REAL_IMAGE = "faces/face_recognition_examples/alex-lacamoire.png"

# tflite builtin operator codes (schema.fbs BuiltinOperator)
ADD, AVERAGE_POOL_2D, CONV_2D, DEPTHWISE_CONV_2D, DEQUANTIZE = 0, 1, 3, 4, 6
LOGISTIC, MUL, RELU, RESIZE_BILINEAR, MEAN, HARD_SWISH, CUSTOM = 14, 18, 19, 23, 40, 117, 32
TRANSPOSE_CONV_BIAS = "Convolution2DTransposeBias"


def reference_images(seed: int = REFERENCE_SEED) -> dict[str, np.ndarray]:
    """Fixed uint8 RGB test images per model: 8 x 8 random colour blocks upsampled (no library
    resampling, so anyone re-derives the same pixels) plus a soft disc, at each model's input size."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, (h, w) in (("selfie_segmentation.onnx", (256, 256)), ("selfie_segmentation_landscape.onnx", (144, 256))):
        blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        img = np.repeat(np.repeat(blocks, h // 8, 0), w // 8, 1).astype(np.float32)
        yy, xx = np.mgrid[0:h, 0:w]
        disc = (((yy - h * 0.55) / (h * 0.35)) ** 2 + ((xx - w * 0.5) / (w * 0.22)) ** 2) < 1.0
        img[disc] = img[disc] * 0.3 + np.array([200, 160, 130], np.float32) * 0.7
        out[name] = img.astype(np.uint8)
    return out


def real_images(data_dir: Path) -> dict[str, np.ndarray]:
    """:data:`REAL_IMAGE` at each model's input size (centre crop, nearest-pixel sampling in numpy:
    no library resampling), keyed ``real:<onnx name>``; empty when the photo is absent."""
    import cv2

    img = cv2.imread(str(Path(data_dir) / REAL_IMAGE), cv2.IMREAD_COLOR)
    if img is None:
        return {}
    img = img[:, :, ::-1]
    out = {}
    for name, (h, w) in (("selfie_segmentation.onnx", (256, 256)), ("selfie_segmentation_landscape.onnx", (144, 256))):
        ih, iw = img.shape[:2]
        scale = min(ih / h, iw / w)
        ys = ((np.arange(h) + 0.5) * scale + (ih - h * scale) / 2).astype(int)
        xs = ((np.arange(w) + 0.5) * scale + (iw - w * scale) / 2).astype(int)
        out[f"real:{name}"] = np.ascontiguousarray(img[ys][:, xs])
    return out


def _read_tflite(path: Path) -> tuple[Any, Any, list]:
    import tflite

    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"{path.name}: expected one subgraph")
    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        codes.append((code, (oc.CustomCode() or b"").decode()))
    return model, model.Subgraphs(0), codes


def _buffer(model: Any, tensor: Any) -> np.ndarray | None:
    import tflite

    data = model.Buffers(tensor.Buffer()).DataAsNumpy()
    if isinstance(data, int) or data is None or data.size == 0:
        return None
    dtype = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
             tflite.TensorType.INT32: np.int32}[tensor.Type()]
    return np.frombuffer(data.tobytes(), dtype).reshape(tensor.ShapeAsNumpy())


class _Graph:
    """Accumulates ONNX nodes and initializers while the tflite operators are walked."""

    def __init__(self, model: Any, graph: Any) -> None:
        self.model, self.graph = model, graph
        self.nodes: list = []
        self.inits: dict[str, np.ndarray] = {}
        self.consts: dict[int, np.ndarray] = {}  # tflite tensor index -> value (weights, sizes)
        self.count = 0

    def name(self, idx: int) -> str:
        return self.graph.Tensors(idx).Name().decode()

    def shape(self, idx: int) -> list[int]:
        return [int(v) for v in self.graph.Tensors(idx).ShapeAsNumpy()]

    def const(self, idx: int) -> np.ndarray:
        if idx in self.consts:
            return self.consts[idx]
        value = _buffer(self.model, self.graph.Tensors(idx))
        if value is None:
            raise ValueError(f"tensor {self.name(idx)} is not a constant")
        return value

    def init(self, value: np.ndarray, hint: str) -> str:
        name = f"{hint}"
        self.inits[name] = np.ascontiguousarray(value)
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.count += 1
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{op}_{self.count}", **attrs))
        return output

    def activation(self, out: str, fused: int) -> None:
        """Apply a fused activation (tflite ActivationFunctionType) in place of ``out``."""
        if fused == 0:
            return
        if fused != 1:
            raise ValueError(f"fused activation {fused} not supported")
        pre = out + "/pre"
        self.nodes[-1].output[0] = pre
        self.node("Relu", [pre], out)


def _same_pads(in_hw: list[int], out_hw: list[int], k: list[int], s: list[int]) -> list[int]:
    total = [max((o - 1) * st + kk - i, 0) for i, o, kk, st in zip(in_hw, out_hw, k, s)]
    begin = [t // 2 for t in total]
    return begin + [t - b for t, b in zip(total, begin)]


def _conv(g: _Graph, op: Any, ins: list[int], out: int, depthwise: bool) -> None:
    import tflite

    opts = (tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions)()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    w = g.const(ins[1]).astype(np.float32)  # conv (O, kh, kw, I); depthwise (1, kh, kw, C)
    if depthwise:
        w_onnx = w.transpose(3, 0, 1, 2)
        group = w.shape[3]
    else:
        w_onnx = w.transpose(0, 3, 1, 2)
        group = 1
    k, s = list(w.shape[1:3]), [opts.StrideH(), opts.StrideW()]
    in_hw, out_hw = g.shape(ins[0])[1:3], g.shape(out)[1:3]
    pads = _same_pads(in_hw, out_hw, k, s) if opts.Padding() == 0 else [0, 0, 0, 0]
    names = [g.name(ins[0]), g.init(w_onnx, g.name(out) + "/W")]
    if len(ins) > 2 and ins[2] >= 0:
        names.append(g.init(g.const(ins[2]).astype(np.float32), g.name(out) + "/B"))
    g.node("Conv", names, g.name(out), kernel_shape=k, strides=s, pads=pads, group=group)
    g.activation(g.name(out), opts.FusedActivationFunction())


def _transpose_conv_bias(g: _Graph, op: Any, ins: list[int], out: int) -> None:
    # MediaPipe's custom options are a TfLiteTransposeConvParams struct: padding, stride_w, stride_h
    padding, stride_w, stride_h = struct.unpack("<iii", op.CustomOptionsAsNumpy().tobytes()[:12])
    w = g.const(ins[1]).astype(np.float32)  # (O, kh, kw, I) -> ConvTranspose (I, O, kh, kw)
    k, s = list(w.shape[1:3]), [stride_h, stride_w]
    in_hw, out_hw = g.shape(ins[0])[1:3], g.shape(out)[1:3]
    # the transpose of a SAME conv from out_hw to in_hw: crop what that conv padded
    pads = _same_pads(out_hw, in_hw, k, s) if padding == 1 else [0, 0, 0, 0]
    names = [g.name(ins[0]), g.init(w.transpose(3, 0, 1, 2), g.name(out) + "/W"),
             g.init(g.const(ins[2]).astype(np.float32), g.name(out) + "/B")]
    g.node("ConvTranspose", names, g.name(out), kernel_shape=k, strides=s, pads=pads)


def _pool(g: _Graph, op: Any, ins: list[int], out: int) -> None:
    import tflite

    opts = tflite.Pool2DOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    in_hw, out_hw = g.shape(ins[0])[1:3], g.shape(out)[1:3]
    k = [opts.FilterHeight(), opts.FilterWidth()]
    if out_hw == [1, 1] and k == in_hw:
        g.node("GlobalAveragePool", [g.name(ins[0])], g.name(out))
    else:
        s = [opts.StrideH(), opts.StrideW()]
        pads = _same_pads(in_hw, out_hw, k, s) if opts.Padding() == 0 else [0, 0, 0, 0]
        g.node("AveragePool", [g.name(ins[0])], g.name(out), kernel_shape=k, strides=s, pads=pads)
    g.activation(g.name(out), opts.FusedActivationFunction())


def _mean(g: _Graph, op: Any, ins: list[int], out: int) -> None:
    axes = sorted(int(a) for a in np.atleast_1d(g.const(ins[1])))
    if axes != [1, 2] or g.shape(out)[1:3] != [1, 1]:
        raise ValueError(f"MEAN over axes {axes} not supported (only the spatial mean)")
    g.node("GlobalAveragePool", [g.name(ins[0])], g.name(out))


def _resize(g: _Graph, op: Any, ins: list[int], out: int) -> None:
    import tflite

    opts = tflite.ResizeBilinearOptions()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    in_hw, out_hw = g.shape(ins[0])[1:3], g.shape(out)[1:3]
    mode = "align_corners" if opts.AlignCorners() else "half_pixel" if opts.HalfPixelCenters() else "asymmetric"
    scales = np.array([1.0, 1.0, out_hw[0] / in_hw[0], out_hw[1] / in_hw[1]], np.float32)
    g.node("Resize", [g.name(ins[0]), "", g.init(scales, g.name(out) + "/scales")], g.name(out),
           mode="linear", coordinate_transformation_mode=mode)


def _binary(g: _Graph, op: Any, ins: list[int], out: int, onnx_op: str, options: Any) -> None:
    names = []
    for i in ins:
        shape = g.shape(i)
        if _buffer(g.model, g.graph.Tensors(i)) is not None or i in g.consts:
            c = g.const(i).astype(np.float32)
            names.append(g.init(c.transpose(0, 3, 1, 2) if c.ndim == 4 else c, g.name(i) + "/const"))
        else:
            names.append(g.name(i))
        del shape
    g.node(onnx_op, names, g.name(out))
    opts = options()
    opts.Init(op.BuiltinOptions().Bytes, op.BuiltinOptions().Pos)
    g.activation(g.name(out), opts.FusedActivationFunction())


def tflite_to_onnx(path: Path) -> Any:
    """The NCHW ONNX model (opset 14, batch 1) of one selfie segmentation ``.tflite`` file."""
    import onnx
    import tflite
    from onnx import TensorProto, helper, numpy_helper

    model, graph, codes = _read_tflite(path)
    g = _Graph(model, graph)
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        code, custom = codes[op.OpcodeIndex()]
        ins = [int(v) for v in op.InputsAsNumpy()]
        out = int(op.OutputsAsNumpy()[0])
        if code == DEQUANTIZE:
            g.consts[out] = g.const(ins[0]).astype(np.float32)
        elif code in (CONV_2D, DEPTHWISE_CONV_2D):
            _conv(g, op, ins, out, depthwise=code == DEPTHWISE_CONV_2D)
        elif code == CUSTOM and custom == TRANSPOSE_CONV_BIAS:
            _transpose_conv_bias(g, op, ins, out)
        elif code == AVERAGE_POOL_2D:
            _pool(g, op, ins, out)
        elif code == MEAN:
            _mean(g, op, ins, out)
        elif code == RESIZE_BILINEAR:
            _resize(g, op, ins, out)
        elif code == ADD:
            _binary(g, op, ins, out, "Add", tflite.AddOptions)
        elif code == MUL:
            _binary(g, op, ins, out, "Mul", tflite.MulOptions)
        elif code in (HARD_SWISH, RELU, LOGISTIC):
            onnx_op = {HARD_SWISH: "HardSwish", RELU: "Relu", LOGISTIC: "Sigmoid"}[code]
            g.node(onnx_op, [g.name(ins[0])], g.name(out))
        else:
            raise ValueError(f"{Path(path).name}: operator {code} {custom!r} not supported")
    in_idx, out_idx = int(graph.InputsAsNumpy()[0]), int(graph.OutputsAsNumpy()[0])
    n, h, w, c = g.shape(in_idx)
    # graph input/output: NCHW; the tflite input tensor's name is the first node's input
    g.nodes.insert(0, helper.make_node("Identity", ["image"], [g.name(in_idx)], name="image_in"))
    g.node("Identity", [g.name(out_idx)], "mask")
    onnx_graph = helper.make_graph(
        g.nodes, Path(path).stem,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [n, c, h, w])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [n, 1, h, w])],
        [numpy_helper.from_array(v, k) for k, v in g.inits.items()],
    )
    out_model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 14)],
                                  producer_name="livefilter exporters.tflite_segmentation")
    out_model.ir_version = 8
    onnx.checker.check_model(out_model)
    return out_model


def find_tflite_dir(path: Path, workdir: Path) -> Path:
    """The folder holding the two ``.tflite`` files: a pip download folder, the wheel, or a folder."""
    path = Path(path)
    wheels = [path] if path.is_file() else sorted(path.glob("mediapipe-*.whl")) if path.is_dir() else []
    if wheels:
        with zipfile.ZipFile(wheels[-1]) as zf:
            for name in MODELS:
                (workdir / name).write_bytes(zf.read(f"{WHEEL_DATA}/{name}"))
        return workdir
    for cand in (path, path / WHEEL_DATA):
        if all((cand / name).is_file() for name in MODELS):
            return cand
    raise FileNotFoundError(
        f"no {' / '.join(MODELS)} under {path}: pass the folder from `pip download mediapipe=={WHEEL_VERSION} "
        "--no-deps -d DIR`, the wheel, or its mediapipe/modules/selfie_segmentation"
    )


def onnx_masks(path: Path | bytes, images: np.ndarray) -> np.ndarray:
    """The ONNX model's (N, H, W) masks of uint8 RGB images (N, H, W, 3), batch 1 each."""
    import onnxruntime as ort

    sess = ort.InferenceSession(path if isinstance(path, bytes) else str(path), providers=["CPUExecutionProvider"])
    x = np.ascontiguousarray(images.transpose(0, 3, 1, 2), np.float32) / 255.0
    return np.concatenate([sess.run(None, {"image": x[i:i + 1]})[0][:, 0] for i in range(len(x))])


def mediapipe_masks(images: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """MediaPipe's own masks of :func:`reference_images` (needs ``mediapipe==0.10.14`` importable)."""
    from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

    out = {}
    selection = dict(MODELS.values())
    for name, img in images.items():
        with SelfieSegmentation(model_selection=selection[name.split(":")[-1]]) as seg:
            out[name] = seg.process(img).segmentation_mask.astype(np.float32)
    return out


def convert(wheel_dir: Path, out_dir: Path, data_dir: Path | None = None) -> dict[str, str]:
    """Convert both models into ``out_dir``; writes ``segmentation_models.json``; returns ``{name: sha256}``."""
    import onnx

    from exporters.mediapipe_convert import postprocess, sha256

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    origin = f"the mediapipe {WHEEL_VERSION} wheel"
    manifest: dict[str, Any] = {
        "source": f"mediapipe {WHEEL_VERSION} wheel, {WHEEL_DATA}/ (MediaPipe models, Apache-2.0)",
        "converter": "exporters.tflite_segmentation (tflite flatbuffer -> ONNX, op by op) + exporters.mediapipe_convert.postprocess",
        "models": {},
    }
    ref_path = out_dir / REFERENCE
    refs = dict(np.load(ref_path)) if ref_path.is_file() else {}
    images = reference_images()
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        src_dir = find_tflite_dir(Path(wheel_dir), Path(tmp))
        for src_name, (dst_name, _) in MODELS.items():
            src = src_dir / src_name
            raw = tflite_to_onnx(src).SerializeToString()
            model = postprocess(onnx.load_from_string(raw), src_name, sha256(src), origin=origin)
            dst = out_dir / dst_name
            onnx.save(model, str(dst))
            got = onnx_masks(dst, images[dst_name][None])
            base = onnx_masks(raw, images[dst_name][None])
            entry: dict[str, Any] = {"source": src_name, "source_sha256": sha256(src), "sha256": sha256(dst),
                                     "bytes": dst.stat().st_size,
                                     "max_abs_diff_vs_unprocessed": float(np.abs(got - base).max())}
            if dst_name in refs:
                entry["max_abs_diff_vs_mediapipe"] = float(np.abs(got - refs[dst_name]).max())
            real = real_images(data_dir).get(f"real:{dst_name}") if data_dir is not None else None
            if real is not None and f"real:{dst_name}" in refs:
                diff = np.abs(onnx_masks(dst, real[None]) - refs[f"real:{dst_name}"])
                entry["max_abs_diff_vs_mediapipe_real_photo"] = float(diff.max())
            manifest["models"][dst_name] = entry
            result[dst_name] = entry["sha256"]
            log.info("%s -> %s (%d bytes)", src_name, dst, entry["bytes"])
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return result


def write_reference(out_dir: Path, data_dir: Path | None) -> None:
    """Save MediaPipe's masks of the reference images (run where mediapipe 0.10.14 is installed)."""
    images = reference_images()
    if data_dir is not None:
        images.update(real_images(data_dir))
    masks = mediapipe_masks(images)
    masks["input_seed"] = np.array(REFERENCE_SEED)
    np.savez_compressed(Path(out_dir) / REFERENCE, **masks)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel-dir", type=Path, help="pip download folder, the wheel, or the folder with the .tflite files")
    ap.add_argument("--out", type=Path, default=Path("livefilter/models"))
    ap.add_argument("--reference", action="store_true",
                    help="write segmentation_reference.npz from mediapipe itself (mediapipe 0.10.14 installed)")
    ap.add_argument("--data-dir", type=Path, help=f"the shared test data holding {REAL_IMAGE}")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.reference:
        write_reference(args.out, args.data_dir)
    if args.wheel_dir:
        for name, digest in convert(args.wheel_dir, args.out, args.data_dir).items():
            log.info("%s  %s", digest, name)


if __name__ == "__main__":
    main()
