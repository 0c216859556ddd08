"""`livefilter bench`: per-stage latency, end-to-end latency, sustained fps, drops and memory.

Every configuration runs the real pipeline on real decoded video. In the same run it measures the
naive baseline (benchmarks.naive) on the same frames and faces, so the ratios are like for like.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import resource
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.machine import device_slug, machine_info
from benchmarks.naive import NaivePipeline
from benchmarks.replay import RESOLUTIONS, PacedSource, ReplaySource, decode_frames, tile_faces
from livefilter.infra.atomic import atomic_output, write_text
from livefilter.errors import SettingError
from livefilter.finish.settings import FinishSettings
from livefilter.looks.registry import LookRegistry
from livefilter.pipeline.session import PipelineSettings, build_pipeline, make_translator
from livefilter.sinks.null_sink import NullSink
from livefilter.infra.stats import StageStats
from livefilter.translate import backends

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


def available_backends() -> list[str]:
    """Every translator backend usable on this machine (``--backends all``), fastest first."""
    from livefilter.translate.select import backend_report

    usable = [name for name, ok, _ in backend_report() if ok]
    return usable or ["onnxruntime-cpu"]


@dataclass
class BenchConfig:
    video: str
    resolutions: list[str] = field(default_factory=lambda: ["720p"])
    faces: list[int] = field(default_factory=lambda: [1])
    backends: list[str] = field(default_factory=lambda: ["auto"])
    frames: int = 120
    warmup: int = 10
    paced_fps: float = 30.0
    paced_seconds: float = 3.0
    baseline: bool = True
    look: str | None = None
    detect_every: int = 10
    teacher_onnx: str | None = None  # the teacher exported with the student's inputs (teacher vs student)
    fusion: bool = True  # eager vs torch.compile'd compositor tails (compiling takes seconds)
    placement: bool = True  # the same run without the makeup placement too (its cost per face)
    finish: bool = True  # the same frames with the skin finish on and off (its cost per face)
    scene: bool = True  # the same run with background blur, a colour grade, and both (their cost per frame)

    def validate(self) -> "BenchConfig":
        for r in self.resolutions:
            if r not in RESOLUTIONS:
                raise SettingError(f"unknown resolution {r!r} (use {', '.join(RESOLUTIONS)})")
        for f in self.faces:
            if f not in (1, 4):
                raise SettingError(f"face count must be 1 or 4, got {f}")
        if not 10 <= self.frames <= 100000:
            raise SettingError(f"--frames must be between 10 and 100000, got {self.frames}")
        return self


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _gpu_peak_mb() -> float | None:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
    except Exception:
        return None
    return None


def _reset_gpu_peak() -> None:
    """Each run reports its own GPU memory peak."""
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    except Exception:
        pass


def _torch_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _measure_pipeline(pipeline, frames, cfg: BenchConfig) -> dict:
    """Throughput run (as fast as possible) then a paced run at camera rate for latency and drops."""
    sink = NullSink()
    warm = ReplaySource(frames, cfg.paced_fps, cfg.warmup)
    pipeline.run(warm, sink)
    pipeline.stats.__init__()  # forget warm-up samples
    src = ReplaySource(frames, cfg.paced_fps, cfg.frames)
    t0 = time.perf_counter()
    n = pipeline.run(src, sink)
    elapsed = time.perf_counter() - t0
    result = {"stages": pipeline.stats.summary(), "frames": n, "fps": n / elapsed,
              "faces_styled": len(pipeline.last_faces)}
    pipeline.stats.__init__()
    paced = PacedSource(frames, cfg.paced_fps, int(cfg.paced_fps * cfg.paced_seconds))
    try:
        pipeline.run(paced, sink)
    finally:
        paced.close()
    result["paced"] = {"fps_in": cfg.paced_fps, "end_to_end": pipeline.stats.percentiles("end_to_end"),
                       "dropped": paced.dropped, "processed": pipeline.stats.frames}
    return result


def _measure_naive(naive: NaivePipeline, frames, cfg: BenchConfig) -> dict:
    for f in frames[: cfg.warmup]:
        naive.process(f)
    naive.stats.__init__()
    t0 = time.perf_counter()
    for i in range(cfg.frames):
        ts = time.perf_counter()
        naive.process(frames[i % len(frames)])
        naive.stats.add("end_to_end", (time.perf_counter() - ts) * 1000.0)
    elapsed = time.perf_counter() - t0
    return {"stages": naive.stats.summary(), "frames": cfg.frames, "fps": cfg.frames / elapsed,
            "faces_styled": len(naive.last_faces)}


def _model_latency(look, backend: str, precision: str, batches=(1, 4), reps: int = 20) -> dict:
    """Translator-only latency (ms, p50) per batch size for one model/backend/precision."""
    from livefilter.translate.select import create_translator

    t = create_translator(look, backend=backend, max_faces=max(batches), precision=precision)
    style = np.asarray(look.style_code, np.float32) if look.style_code else None
    out = {}
    rng = np.random.default_rng(0)
    for b in batches:
        crops = rng.integers(0, 255, (b, look.input_size, look.input_size, 3), np.uint8)
        strength = np.ones(b, np.float32)
        for _ in range(3):
            t(crops, style, strength)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            t(crops, style, strength)
            times.append((time.perf_counter() - t0) * 1000)
        out[f"batch{b}_p50_ms"] = float(np.percentile(times, 50))
    return {"backend": t.name, **out}


def compare_models(look, cfg: BenchConfig, backend: str) -> dict:
    """Teacher vs student and FP16 vs FP32 for the translator, on the backend in use."""
    from dataclasses import replace as dc_replace

    from livefilter.errors import LivefilterError

    result: dict = {"student": {}}
    gpu = backend in backends.gpu_names()
    for precision in ("fp32", "fp16") if gpu else ("fp32",):
        result["student"][precision] = _model_latency(look, backend, precision)
    if not gpu:
        result["student"]["fp16"] = "not measured: CPU backends run FP32"
    else:
        s16, s32 = result["student"]["fp16"], result["student"]["fp32"]
        result["fp32_over_fp16"] = {k: s32[k] / s16[k] for k in s32 if k.endswith("_ms")}
    if cfg.teacher_onnx:
        path = Path(cfg.teacher_onnx)
        teacher = dc_replace(look, root=path.parent, model=path.name, onnx_sha256=None, name="teacher")
        try:
            result["teacher"] = {"fp32": _model_latency(teacher, backend, "fp32", reps=5)}
            s, t = result["student"]["fp32"], result["teacher"]["fp32"]
            result["teacher_over_student"] = {k: t[k] / s[k] for k in s if k.endswith("_ms")}
        except LivefilterError as e:
            result["teacher"] = f"not measured: {e}"
    return result


def compare_placement(on: dict, settings: PipelineSettings, registry, frames, cfg: BenchConfig, faces: int) -> dict:
    """The run ``on`` (placement on) against the same frames with the placement off: fps, the blend stage
    (where the placement runs) and its cost per face, in the same process."""
    from dataclasses import replace

    off = _measure_pipeline(build_pipeline(replace(settings, placement=False), registry, StageStats()), frames, cfg)
    blend_on = on["stages"].get("blend", {}).get("p50", float("nan"))
    blend_off = off["stages"].get("blend", {}).get("p50", float("nan"))
    return {"fps_on": on["fps"], "fps_off": off["fps"], "blend_p50_on_ms": blend_on, "blend_p50_off_ms": blend_off,
            "cost_per_face_ms": (blend_on - blend_off) / max(faces, 1),
            "end_to_end_p50_off_ms": off["stages"].get("end_to_end", {}).get("p50", float("nan"))}


#: the skin finish the bench turns on: full strength with the under-eye lift (the most work it does)
BENCH_FINISH = FinishSettings(strength=1.0, under_eye=0.5)


def compare_finish(settings: PipelineSettings, registry, frames, cfg: BenchConfig, faces: int) -> dict:
    """The same frames with the skin finish on (:data:`BENCH_FINISH`) and off, in the same process, each
    twice in turn (off, on, off, on) and the better run of each kept, so a burst of other load on a shared
    machine does not land on one side only: fps, the finish stage's p50 and p99 and its cost per face."""
    from dataclasses import replace

    runs: dict[str, list[dict]] = {"off": [], "on": []}
    for _ in range(2):
        for key, finish in (("off", FinishSettings()), ("on", BENCH_FINISH)):
            p = build_pipeline(replace(settings, finish=finish), registry, StageStats())
            runs[key].append(_measure_pipeline(p, frames, cfg))
    on, off = (max(runs[k], key=lambda r: r["fps"]) for k in ("on", "off"))
    stage = on["stages"].get("finish", {})
    return {"fps_on": on["fps"], "fps_off": off["fps"], "finish_p50_ms": stage.get("p50", float("nan")),
            "finish_p99_ms": stage.get("p99", float("nan")),
            "cost_per_face_ms": stage.get("p50", float("nan")) / max(faces, 1), "settings": asdict(BENCH_FINISH)}


#: a warm grade for the bench (a look without a grade of its own is measured with it)
BENCH_GRADE_CURVES = ((0.0, 38.0, 72.0, 104.0, 136.0, 166.0, 196.0, 226.0, 255.0),
                      (0.0, 32.0, 64.0, 96.0, 128.0, 160.0, 192.0, 223.0, 255.0),
                      (8.0, 34.0, 60.0, 90.0, 120.0, 150.0, 182.0, 216.0, 248.0))


def compare_scene(off: dict, settings: PipelineSettings, registry, frames, cfg: BenchConfig) -> dict:
    """The run ``off`` (no background, no grade) against the same frames with background blur, with the
    look's colour grade (a bench grade when it has none) and with both, in the same process: fps and the
    scene stage's p50 (segmentation + background + grade, per frame)."""
    from dataclasses import replace

    from livefilter.scene.grade import Grade
    from livefilter.scene.stage import LookScene

    result: dict = {"fps_off": off["fps"]}
    for label, background, grade in (("blur", "blur", False), ("grade", None, True), ("blur_grade", "blur", True)):
        pipeline = build_pipeline(replace(settings, background=background, grade=grade), registry, StageStats())
        rt = pipeline.runtime(pipeline.controls.look)
        if grade and (rt.scene is None or rt.scene.grade is None):
            rt.scene = LookScene(background=rt.scene.background if rt.scene else None,
                                 grade=Grade(curves=BENCH_GRADE_CURVES, strength=0.8))
        measured = _measure_pipeline(pipeline, frames, cfg)
        result[f"fps_{label}"] = measured["fps"]
        result[f"scene_p50_{label}_ms"] = measured["stages"].get("scene", {}).get("p50", float("nan"))
        result[f"scene_p95_{label}_ms"] = measured["stages"].get("scene", {}).get("p95", float("nan"))
        result[f"segment_p50_{label}_ms"] = measured["stages"].get("segment", {}).get("p50", 0.0)
    return result


def compare_fusion(size: tuple[int, int], device: str, reps: int = 30) -> dict:
    """The device pipeline's RGB -> I420 conversion (the frame-sized chain it fuses), eager vs
    torch.compile'd, p50 ms; the first call's time includes the compilation."""
    import torch

    from livefilter.composite.fused import Fuser, planar_into, yuv420_planes

    w, h = size
    rgb = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (h, w, 3), np.uint8)).to(device)
    planar = torch.empty((h * 3 // 2, w), dtype=torch.uint8, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result: dict = {"device": device, "resolution": f"{w}x{h}", "kernel": "rgb_to_i420"}
    for label, fuser in (("eager", Fuser(False)), ("fused", Fuser(True))):
        t0 = time.perf_counter()
        planar_into(planar, rgb, False, fuser)  # the fused variant compiles here
        sync()
        result[f"{label}_first_call_s"] = time.perf_counter() - t0
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            planar_into(planar, rgb, False, fuser)
            sync()
            times.append((time.perf_counter() - t0) * 1000)
        result[f"{label}_p50_ms"] = float(np.percentile(times, 50))
    result["fused_ok"] = yuv420_planes not in Fuser._broken
    result["speedup"] = result["eager_p50_ms"] / max(result["fused_p50_ms"], 1e-9)
    return result


def run_bench(cfg: BenchConfig, progress=None) -> dict:
    """Run every configuration; returns the result document (see ``validate_result``)."""
    cfg.validate()
    from livefilter.detect import create_detector

    registry = LookRegistry()
    look = registry.get(cfg.look) if cfg.look else registry.default()
    runs = []
    fused_done: set = set()
    combos = [(r, f, b) for r in cfg.resolutions for f in cfg.faces for b in cfg.backends]
    for i, (res, faces, backend) in enumerate(combos):
        size = RESOLUTIONS[res]
        base = decode_frames(cfg.video, (size[0] // 2 * 2, size[1] // 2 * 2), min(cfg.frames, 150))
        frames = tile_faces(base, faces)
        # the look as it was named: a folder or a .lfpack is not installed under its name
        key = cfg.look or look.name
        settings = PipelineSettings(look=key, backend=backend, max_faces=max(faces, 1), detect_every=cfg.detect_every)
        pipeline = build_pipeline(settings, registry, StageStats())
        rt = pipeline.runtime(key)
        run = {"resolution": res, "faces": faces, "backend": rt.translator.name, "look": look.name,
               "pipeline": _measure_pipeline(pipeline, frames, cfg)}
        if cfg.placement:
            run["placement"] = compare_placement(run["pipeline"], settings, registry, frames, cfg, faces)
        if cfg.finish:
            run["finish"] = compare_finish(settings, registry, frames, cfg, faces)
        if cfg.scene:
            run["scene"] = compare_scene(run["pipeline"], settings, registry, frames, cfg)
        if cfg.baseline:
            translator = make_translator(look, backend, max_faces=faces)
            naive = NaivePipeline(create_detector(), translator, look, max_faces=faces)
            run["naive"] = _measure_naive(naive, frames, cfg)
            run["speedup_vs_naive"] = run["pipeline"]["fps"] / max(run["naive"]["fps"], 1e-9)
        if i == 0:
            run["models"] = compare_models(look, cfg, backend if backend != "auto" else rt.translator.name.rsplit("-fp", 1)[0])
        device = pipeline.device  # None: the host pipeline
        run["pipeline_kind"] = f"device ({device.type})" if device is not None else "host"
        if cfg.fusion and res not in fused_done and importlib.util.find_spec("torch") is not None:
            fused_done.add(res)
            run["fusion"] = compare_fusion(size, device.type if device is not None else _torch_device())
        run["host_peak_rss_mb"] = _peak_rss_mb()
        run["gpu_peak_mb"] = _gpu_peak_mb()
        _reset_gpu_peak()
        runs.append(run)
        if progress:
            progress(i + 1, len(combos))
    info = machine_info()
    return {"schema": SCHEMA_VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": info,
            "device": device_slug(info), "video": Path(cfg.video).name, "config": asdict(cfg), "runs": runs}


RUN_KEYS = {"resolution", "faces", "backend", "look", "pipeline", "host_peak_rss_mb"}
STAGE_KEYS = {"p50", "p95", "p99", "mean", "n"}


def validate_result(doc: dict) -> None:
    """Raise ValueError when a result document does not follow the schema."""
    for key in ("schema", "created", "machine", "device", "runs", "config"):
        if key not in doc:
            raise ValueError(f"missing key {key!r}")
    if doc["schema"] != SCHEMA_VERSION or not doc["runs"]:
        raise ValueError("wrong schema version or no runs")
    for run in doc["runs"]:
        missing = RUN_KEYS - set(run)
        if missing:
            raise ValueError(f"run lacks {sorted(missing)}")
        fusion = run.get("fusion")
        if fusion is not None:
            missing = {"device", "eager_p50_ms", "fused_p50_ms", "speedup", "fused_ok"} - set(fusion)
            if missing or not (fusion["eager_p50_ms"] > 0 and fusion["fused_p50_ms"] > 0):
                raise ValueError(f"fusion: lacks {sorted(missing)} or has non-positive times")
        for part in ("pipeline", "naive"):
            if part not in run:
                continue
            p = run[part]
            if not (p["fps"] > 0 and p["frames"] > 0):
                raise ValueError(f"{part}: fps/frames must be positive")
            if "end_to_end" not in p["stages"]:
                raise ValueError(f"{part}: no end_to_end stage")
            for stage, vals in p["stages"].items():
                if set(vals) != STAGE_KEYS:
                    raise ValueError(f"{part}.{stage}: keys {sorted(vals)}")
                if vals["n"] and not vals["p50"] <= vals["p95"] <= vals["p99"]:
                    raise ValueError(f"{part}.{stage}: percentiles out of order")


def markdown_table(doc: dict) -> str:
    m = doc["machine"]
    gpu = m.get("gpu", {})
    lines = [
        f"### {doc['device']}",
        "",
        f"{m['cpu']} ({m['cpu_count']} cores)" + (f", {gpu.get('name')} driver {gpu.get('driver')}" if gpu else "")
        + f"; python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in m["libraries"].items()),
        "",
        "| resolution | faces | backend | fps | e2e p50 ms | e2e p99 ms | translate p50 ms | paced p99 ms | dropped | naive fps | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        p = r["pipeline"]
        e2e, tr = p["stages"]["end_to_end"], p["stages"].get("translate", {"p50": float("nan")})
        naive = r.get("naive", {}).get("fps")
        lines.append(
            f"| {r['resolution']} | {r['faces']} | {r['backend']} | {p['fps']:.1f} | {e2e['p50']:.2f} | {e2e['p99']:.2f} | "
            f"{tr['p50']:.2f} | {p['paced']['end_to_end']['p99']:.2f} | {p['paced']['dropped']} | "
            f"{naive:.1f} | {r.get('speedup_vs_naive', float('nan')):.2f}x |" if naive else
            f"| {r['resolution']} | {r['faces']} | {r['backend']} | {p['fps']:.1f} | {e2e['p50']:.2f} | {e2e['p99']:.2f} | "
            f"{tr['p50']:.2f} | {p['paced']['end_to_end']['p99']:.2f} | {p['paced']['dropped']} | - | - |"
        )
    notes = _notes(doc)
    if notes:
        lines += [""] + [f"* {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _notes(doc: dict) -> list[str]:
    """One line each for the translator ratios, the placement's cost and the fusion gain measured in this run."""
    notes = []
    models = doc["runs"][0].get("models", {}) if doc["runs"] else {}
    student = models.get("student", {})
    s32 = student.get("fp32")
    if isinstance(s32, dict):
        notes.append(f"translator alone ({s32['backend']}): student " + ", ".join(
            f"{k.split('_')[0]} {v:.2f} ms" for k, v in s32.items() if k.endswith("_ms")))
    for key, label in (("teacher_over_student", "teacher / student latency"), ("fp32_over_fp16", "FP32 / FP16 latency")):
        if key in models:
            notes.append(f"{label}: " + ", ".join(f"{k.split('_')[0]} {v:.1f}x" for k, v in models[key].items()))
    for r in doc["runs"]:
        pl = r.get("placement")
        if pl:
            notes.append(f"makeup placement at {r['resolution']}, {r['faces']} face(s) ({r['backend']}): "
                         f"{pl['fps_on']:.1f} fps with, {pl['fps_off']:.1f} fps without; blend p50 "
                         f"{pl['blend_p50_on_ms']:.2f} ms with, {pl['blend_p50_off_ms']:.2f} ms without "
                         f"({pl['cost_per_face_ms']:.2f} ms per face)")
        fin = r.get("finish")
        if fin:
            notes.append(f"skin finish at {r['resolution']}, {r['faces']} face(s) ({r['backend']}): "
                         f"{fin['fps_on']:.1f} fps with, {fin['fps_off']:.1f} fps without; finish p50 "
                         f"{fin['finish_p50_ms']:.2f} ms ({fin['cost_per_face_ms']:.2f} ms per face)")
        sc = r.get("scene")
        if sc:
            notes.append(f"scene at {r['resolution']}, {r['faces']} face(s) ({r['backend']}): {sc['fps_off']:.1f} fps "
                         f"without; background blur {sc['fps_blur']:.1f} fps (mask + layer on the face stage's worker "
                         f"{sc.get('segment_p50_blur_ms', 0.0):.2f} ms, composite {sc['scene_p50_blur_ms']:.2f} ms), "
                         f"grade {sc['fps_grade']:.1f} fps ({sc['scene_p50_grade_ms']:.2f} ms), both "
                         f"{sc['fps_blur_grade']:.1f} fps ({sc.get('segment_p50_blur_grade_ms', 0.0):.2f} + "
                         f"{sc['scene_p50_blur_grade_ms']:.2f} ms)")
        f = r.get("fusion")
        if f:
            how = "fused" if f["fused_ok"] else "fused (compiler unavailable: eager)"
            notes.append(f"RGB -> I420 on the device at {f['resolution']} ({f['device']}): eager "
                         f"{f['eager_p50_ms']:.2f} ms, {how} {f['fused_p50_ms']:.2f} ms ({f['speedup']:.1f}x)")
    kinds = sorted({f"{r['backend']}: {r['pipeline_kind']} pipeline" for r in doc["runs"] if "pipeline_kind" in r})
    if kinds:
        notes.append("; ".join(kinds))
    return notes


def plot(doc: dict, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib not installed: no plot (pip install 'livefilter[plot]')")
        return None
    stages = ["detect", "upload", "align", "translate", "blend", "end_to_end"]
    backends = list(dict.fromkeys(r["backend"] for r in doc["runs"]))
    combos = list(dict.fromkeys((r["resolution"], r["faces"]) for r in doc["runs"]))
    colours = plt.get_cmap("tab10")
    fig, axes = plt.subplots(len(backends), 1, figsize=(9, 3.2 * len(backends)), squeeze=False)
    width = 0.8 / max(len(combos) * 2, 1)
    x = np.arange(len(stages))
    for ax, backend in zip(axes[:, 0], backends):
        k = 0
        for r in (r for r in doc["runs"] if r["backend"] == backend):
            colour = colours(combos.index((r["resolution"], r["faces"])) % 10)
            for part in ("pipeline", "naive"):
                if part not in r:
                    continue
                vals = [r[part]["stages"].get(s, {"p50": 0})["p50"] for s in stages]
                ax.bar(x + k * width, vals, width, color=colour, alpha=1.0 if part == "pipeline" else 0.45,
                       hatch=None if part == "pipeline" else "//", label=f"{part} {r['resolution']} {r['faces']}f")
                k += 1
        ax.set_xticks(x + width * (k - 1) / 2, stages)
        ax.set_ylabel("p50 latency (ms)")
        ax.set_title(f"{backend} — {doc['device']}", fontsize=10)
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def write_results(doc: dict, out_dir: Path) -> list[Path]:
    validate_result(doc)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / doc["device"]
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    write_text(paths[0], json.dumps(doc, indent=2) + "\n")
    write_text(paths[1], markdown_table(doc))
    png = plot(doc, stem.with_suffix(".png"))
    if png:
        paths.append(png)
    return paths
