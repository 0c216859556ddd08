"""The recorded recipe as one resumable schedule of training segments (``python -m training.teacher rebuild``).

The candidate look set came out of a chain of segments (``LIDS.md``, ``training/README.md``): the teacher and
its online student from scratch, a continuation with the region-colour target weighed up, then the student
alone against the frozen teacher. Each later segment is a restart (its own warm-up and cosine from the step
the last one ended at). Written down here, the chain is one command that a killed or interrupted run
continues: the checkpoint's step says which segment it is in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from livefilter.errors import InputError, SettingError

# what a segment may set, with the `train` options' bounds (the rest of the recipe stays at its defaults)
WEIGHTS: dict[str, tuple[float, float]] = {
    "paint_share": (0.0, 0.5), "paint_weight": (1.0, 100.0), "eye_share": (0.0, 1.0), "photo_dropout": (0.0, 1.0),
    "cross_share": (0.0, 1.0), "light_share": (0.0, 1.0), "student_detail": (0.0, 100.0),
    "desc_weight": (0.0, 100.0), "student_desc": (0.0, 100.0), "place_weight": (0.0, 100.0),
    "place_peak": (0.0, 100.0), "spread_weight": (0.0, 100.0), "cheek_weight": (0.0, 100.0),
    "student_cheek": (0.0, 100.0), "student_lid": (0.0, 100.0), "lip_texture": (0.0, 100.0),
    "renderer_cheek": (0.0, 100.0), "student_motion": (0.0, 100.0),
}
MAX_SEGMENTS, MAX_STEPS, MAX_FILE = 64, 10_000_000, 64 * 1024


@dataclass(frozen=True)
class Segment:
    """Train up to step ``until``; ``weights`` are the ``train`` options it sets beside the recipe's defaults."""

    until: int
    student_only: bool = False
    weights: tuple[tuple[str, float], ...] = ()
    about: str = ""

    def options(self) -> dict[str, float]:
        return dict(self.weights)


# The weights are those of the recorded segments: the colour target at 2.0 / 1.0 for the teacher's
# continuation (4.0 / 2.0 brought a red blotch between the brows while the teacher learned; section 9), and the
# recipe arm's student-only flags (section 15: 70 rows to 27 against the shipped looks).
RECIPE: tuple[Segment, ...] = (
    Segment(4800, about="teacher and student from scratch, the recipe's terms"),
    Segment(10200, weights=(("desc_weight", 2.0), ("student_desc", 1.0), ("paint_weight", 10.0)),
            about="the teacher continues with the region-colour target weighed up"),
    Segment(16200, student_only=True,
            weights=(("desc_weight", 4.0), ("student_desc", 2.0), ("paint_weight", 10.0), ("student_lid", 3.0)),
            about="the student alone against the frozen teacher"),
)


def check(schedule: tuple[Segment, ...]) -> None:
    """A usable schedule: ends strictly increasing, known weights within bounds, and a teacher trained before
    the student learns alone."""
    if not schedule or len(schedule) > MAX_SEGMENTS:
        raise SettingError(f"a schedule has 1 to {MAX_SEGMENTS} segments, not {len(schedule)}")
    for seg in schedule:
        for name, value in seg.weights:
            if name not in WEIGHTS:
                raise SettingError(f"unknown segment weight {name!r} (known: {', '.join(sorted(WEIGHTS))})")
            lo, hi = WEIGHTS[name]
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    and lo <= value <= hi):
                raise SettingError(f"segment weight {name} must be a number in [{lo:g}, {hi:g}], got {value!r}")
    if schedule[0].student_only:
        raise SettingError("the schedule's first segment must train the teacher (a student-only segment needs one)")
    ends = [s.until for s in schedule]
    if ends[0] < 1 or ends[-1] > MAX_STEPS or any(b <= a for a, b in zip(ends, ends[1:])):
        raise SettingError(f"the schedule's segment ends must increase from 1 to at most {MAX_STEPS:,}: {ends}")


def read_schedule(path: Path) -> tuple[Segment, ...]:
    """A schedule from a JSON file: a list of {"until": int, "student_only": bool, "weights": {name: number},
    "about": str}; checked like the recipe's."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_FILE:
            raise InputError(f"{path} is over {MAX_FILE // 1024} KiB; a schedule is a short JSON list")
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"schedule file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"{path} is not a JSON schedule ({type(e).__name__})") from None
    if not isinstance(items, list):
        raise InputError(f"{path}: a schedule is a JSON list of segments")
    segments = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not set(item) <= {"until", "student_only", "weights", "about"}:
            raise InputError(f"{path}: segment {n} must be an object with until, student_only, weights, about")
        until, alone = item.get("until"), item.get("student_only", False)
        weights, about = item.get("weights", {}), item.get("about", "")
        if not isinstance(until, int) or isinstance(until, bool) or not isinstance(alone, bool):
            raise InputError(f"{path}: segment {n} needs an integer until and a true/false student_only")
        if not isinstance(weights, dict) or not isinstance(about, str) or len(about) > 200:
            raise InputError(f"{path}: segment {n}'s weights must be an object and its about a short text")
        segments.append(Segment(until, alone, tuple(sorted(weights.items())), about))
    schedule = tuple(segments)
    check(schedule)
    return schedule


def position(step: int, schedule: tuple[Segment, ...] = RECIPE) -> tuple[int, int] | None:
    """(index of the segment a run at ``step`` is in, that segment's first step), or None once the schedule is done."""
    start = 0
    for i, seg in enumerate(schedule):
        if step < seg.until:
            return i, start
        start = seg.until
    return None
