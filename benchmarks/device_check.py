"""One prepared device check: install, GPU tests, benchmarks; results and logs in one folder.

    python benchmarks/device_check.py PREPARED OUT            # on the GPU machine (no network)
    python benchmarks/device_check.py PREPARED OUT --dry-run  # the same steps on the CPU

``PREPARED`` is made beforehand on a machine with network access (benchmarks/README.md):
``wheels/`` (every wheel livefilter[gpu] and the tests need that the GPU machine lacks),
``video.mp4`` (the benchmark clip), ``data/`` (the test data, laid out as ../shared/data) and
optionally ``teacher.onnx`` (teacher against student in the same run).

Steps, each logged to ``OUT/logs/<step>.log`` and timed in ``OUT/device_check.json``:

1. install: ``pip install --no-index --find-links PREPARED/wheels -e .[gpu] pytest pytest-timeout
   hypothesis`` (the dry run resolves the same set with ``pip --dry-run`` when the folder exists);
2. doctor: what this machine can run (``livefilter doctor``);
3. gpu tests: ``pytest -m gpu`` (on the CPU they are collected and skipped);
4. bench: 720p / 1080p / 4K x 1 / 4 faces for every usable backend, the naive baseline and
   teacher / student in the same run, written to ``OUT/results/<device>.{json,md,png}`` (the dry
   run: 360p, the CPU backends, a few frames).

The GPU machine may lack typer and rich until step 1 installs them, so this script uses only the
standard library (argparse, logging, subprocess).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

log = logging.getLogger("device_check")
REPO = Path(__file__).resolve().parents[1]
BUDGET_S = 8 * 60  # the whole check on a bare GPU machine
DRY_RUN_SLOWDOWN = 3  # step limits and budget of the dry run, relative to the GPU run


@dataclass
class Step:
    name: str
    command: list[str]
    timeout_s: float
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class StepResult:
    name: str
    command: str
    returncode: int | None
    seconds: float
    log: str
    skipped: str = ""


def plan(prepared: Path, out: Path, dry_run: bool) -> list[Step]:
    """The steps of one check; the dry run is the same sequence, sized for a CPU."""
    py = sys.executable
    wheels = prepared / "wheels"
    data = prepared / "data"
    video = prepared / "video.mp4"
    env = {"LIVEFILTER_SHARED_DATA": str(data)} if data.is_dir() else {}
    env["LIVEFILTER_HOME"] = str(out / "home")  # engine cache and settings of this check only
    install = [py, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "-e", f"{REPO}[gpu]",
               "pytest", "pytest-timeout", "hypothesis"]
    if dry_run:
        install.insert(4, "--dry-run")
    tests = [py, "-m", "pytest", "-m", "gpu", "-q", "-rs", "-p", "no:cacheprovider", str(REPO / "tests")]
    bench = [py, "-m", "livefilter", "bench", "--out-dir", str(out / "results")]
    if video.is_file():
        bench += ["--input", str(video)]
    if (prepared / "teacher.onnx").is_file():
        bench += ["--teacher", str(prepared / "teacher.onnx")]
    if dry_run:
        bench += ["--resolutions", "360p", "--faces", "1,4", "--frames", "10", "--backends",
                  "torch-cpu,onnxruntime-cpu", "--no-fusion"]
    else:
        bench += ["--resolutions", "720p,1080p,4k", "--faces", "1,4", "--frames", "120", "--backends", "all"]
    k = DRY_RUN_SLOWDOWN if dry_run else 1  # a shared 2-core CPU takes longer than the GPU machine
    steps = [Step("install", install, 120 * k), Step("doctor", [py, "-m", "livefilter", "doctor"], 60 * k, env),
             Step("gpu-tests", tests, 180 * k, env), Step("bench", bench, 300 * k, env)]
    if not wheels.is_dir():
        steps[0] = Step("install", [], 0)  # nothing to install from: reported as skipped
    return steps


def run_step(step: Step, logs: Path, deadline: float) -> StepResult:
    path = logs / f"{step.name}.log"
    if not step.command:
        return StepResult(step.name, "", None, 0.0, str(path), "no wheels folder")
    left = deadline - time.monotonic()
    if left <= 5:
        return StepResult(step.name, " ".join(step.command), None, 0.0, str(path), "time budget spent")
    env = {**os.environ, **step.env}
    t0 = time.monotonic()
    log.info("%s: %s", step.name, " ".join(step.command))
    with open(path, "w", encoding="utf-8") as f:
        try:
            rc = subprocess.run(step.command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT,
                                timeout=min(step.timeout_s, left)).returncode
        except subprocess.TimeoutExpired:
            rc = 124
            f.write(f"\n[device check] {step.name} stopped after {min(step.timeout_s, left):.0f} s\n")
    seconds = time.monotonic() - t0
    log.info("%s: exit %s in %.1f s (log %s)", step.name, rc, seconds, path)
    return StepResult(step.name, " ".join(step.command), rc, seconds, str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("prepared", type=Path, help="folder with wheels/, video.mp4, data/, teacher.onnx")
    parser.add_argument("out", type=Path, help="output folder for results/ and logs/")
    parser.add_argument("--dry-run", action="store_true", help="the same steps on the CPU, sized to finish here")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s",
                        handlers=[logging.StreamHandler(), logging.FileHandler(logs / "device_check.log")])
    start = time.monotonic()
    deadline = start + BUDGET_S * (DRY_RUN_SLOWDOWN if args.dry_run else 1)
    results = [run_step(step, logs, deadline) for step in plan(args.prepared.resolve(), out, args.dry_run)]
    total = time.monotonic() - start
    summary = {"dry_run": args.dry_run, "python": sys.version.split()[0], "total_seconds": round(total, 1),
               "budget_seconds": BUDGET_S, "steps": [asdict(r) for r in results],
               "results": sorted(str(p.relative_to(out)) for p in (out / "results").glob("*")) if (out / "results").is_dir() else []}
    tmp = out / "device_check.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(out / "device_check.json")
    failed = [r.name for r in results if r.returncode not in (0, None)]
    log.info("device check %s in %.0f s%s", "failed" if failed else "done", total,
             f" (failed: {', '.join(failed)})" if failed else "")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
