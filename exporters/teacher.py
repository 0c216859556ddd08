"""Export a training run's teacher to ONNX for benchmarks: python -m exporters.teacher RUN_DIR OUT.onnx"""

import sys
from pathlib import Path

from exporters.onnx_export import export_teacher_onnx

if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m exporters.teacher RUN_DIR OUT.onnx")
    report = export_teacher_onnx(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.write(f"wrote {report.path} (parity {report.parity_max_abs:.2e})\n")
