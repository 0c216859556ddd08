"""``livefilter eval``: a look pack measured on held-out faces (needs the training extra: pip install 'livefilter[train]')."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.text import Text

from livefilter.cli import app
from livefilter.cli.common import message, out
from livefilter.errors import SettingError

PLACEMENT_SHOWN = (("inner_mouth_delta_e", "inner-mouth ΔE", 2), ("spill", "spill", 3),
                   ("under_eye_delta_l", "under-eye ΔL", 2), ("lid_asymmetry", "lid asymmetry", 2),
                   ("cheek_asymmetry", "cheek asymmetry", 2), ("lip_texture", "lip texture", 2),
                   ("lips_delta_e", "lips ΔE", 1), ("stray_colour", "stray colour", 2))


def placement_lines(placement: dict) -> list[tuple[str, bool]]:
    """One line per input size and set of frames: the placement means and which targets are missed."""
    lines = []
    for size, sets in placement.items():
        for name, summary in sets.items():
            shown = ", ".join(f"{label} {summary[key]['mean']:.{digits}f}" for key, label, digits in PLACEMENT_SHOWN
                              if summary.get(key, {}).get("mean") is not None)
            missed = [k for k, ok in summary.get("targets", {}).items() if not ok]
            verdict = "all targets met" if not missed else "missed: " + ", ".join(missed)
            lines.append((f"({size} size, {name.replace('_', ' ')}, {summary['faces']} faces): {shown}; {verdict}",
                          not missed))
    return lines


FINISH_SHOWN = (("hf_reduction", "texture", "{:.0%} less"), ("skin_delta_l", "ΔL", "{:+.2f}"),
                ("skin_delta_a", "Δa", "{:+.2f}"), ("skin_delta_b", "Δb", "{:+.2f}"), ("eyes_kept", "eyes", "{:.2f}"),
                ("brows_kept", "brows", "{:.2f}"), ("lips_kept", "lips", "{:.2f}"), ("beard_kept", "beard", "{:.2f}"),
                ("seam", "seam", "{:.2f}"))


def finish_lines(finish: dict) -> list[tuple[str, bool]]:
    """One line per strength and skin-tone group (the finish's means and missed targets), and the flicker."""
    lines = []
    for strength, summary in finish.get("photos", {}).items():
        missed = [k for k, ok in summary.get("targets", {}).items() if not ok]
        for group in ("lighter", "darker"):
            stats = summary[group]
            shown = ", ".join(f"{label} {fmt.format(stats[key]['mean'])}" for key, label, fmt in FINISH_SHOWN
                              if stats.get(key, {}).get("mean") is not None)
            bad = [k.split(":", 1)[1] for k in missed if k.startswith(group + ":")]
            lines.append((f"(strength {strength}, {group} skin, {stats['faces']} faces): {shown}; "
                          + ("all targets met" if not bad else "missed: " + ", ".join(bad)), not bad))
    for strength, v in finish.get("video", {}).items():
        if isinstance(v, dict):
            lines.append((f"(strength {strength}, video): flicker {v['flicker_ratio']:.2f}x (motion-compensated "
                          f"{v['warped_flicker_ratio']:.2f}x)", v["flicker_ratio"] <= 1.2))
    return lines


@app.command("eval")
def evaluate(
    look: str = typer.Argument(..., help="Look name or folder."),
    faces: Path = typer.Option(None, "--faces", help="A folder of face photos."),
    video: Path = typer.Option(None, "--video", help="A video (flicker)."),
    refs: Path = typer.Option(None, "--refs", help="The look's reference photos (style distance)."),
    output: Path = typer.Option(Path("eval_report.json"), "--output", "-o"),
) -> None:
    """Measure a look: region colour, identity, style distance, flicker, seam, and where the makeup lands at full
    frame resolution (teeth, lip line, under the eyes, both sides alike, lip texture), and the skin finish at strengths
    0.5 and 1 (texture, skin colour, features and beard kept, seam, flicker); writes a report + grid."""
    from livefilter.looks.registry import LookRegistry
    from training.eval.report import evaluate_look_pack

    if faces is None and video is None:
        raise SettingError("give --faces FOLDER and/or --video FILE")
    report = evaluate_look_pack(LookRegistry().get(look), faces=faces, video=video, refs=refs, output=output)
    out.print_json(json.dumps(report))
    ident = report.get("identity")
    if isinstance(ident, dict) and not ident.get("measured", True):
        out.print(message(Text("identity not measured: ", style="yellow"), ident.get("reason", "unknown reason")))
    for line, ok in placement_lines(report.get("placement", {})):
        out.print(message(Text("placement ", style="green" if ok else "yellow"), line))
    for line, ok in finish_lines(report.get("finish", {})):
        out.print(message(Text("skin finish ", style="green" if ok else "yellow"), line))
    out.print(f"wrote {output} and {output.with_suffix('.png')}")
