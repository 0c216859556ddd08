"""The looks' metric table for the README, generated from the packaged looks' measured ``metrics``.

``python -m training.makeup.table`` prints it; numbers are never typed in by hand.
"""

from __future__ import annotations

from livefilter.looks.pack import load_look
from livefilter.looks.registry import PACKAGED_LOOKS_DIR
from training.makeup.family import LOOKS

FAMILY = tuple(LOOKS)


def _f(v, fmt: str = "{:+.1f}") -> str:
    try:
        return fmt.format(float(v))
    except (TypeError, ValueError):
        return "–"


def table() -> str:
    head = ("| look | regions | lips ΔE / ΔL | eyelids ΔE / ΔL | cheeks ΔE | skin \\|ΔL\\| (lighter / darker skin) "
            "| lips distance to refs (before → after) | identity: same person (cos) | faces |")
    rows = [head, "|" + "---|" * 9]
    for name in FAMILY:
        path = PACKAGED_LOOKS_DIR / name
        if not path.is_dir():
            continue
        lk = load_look(path)
        m = lk.metrics
        ref0, ref1 = m.get("reference_distance_before", {}), m.get("reference_distance_after", {})
        tone = m.get("skin_tone", {})
        ident = m.get("identity", {})
        rows.append(
            f"| {name} | {', '.join(lk.regions)} "
            f"| {_f(m['lips']['delta_e'], '{:.1f}')} / {_f(m['lips']['delta_l'])} "
            f"| {_f(m['eyelids']['delta_e'], '{:.1f}')} / {_f(m['eyelids']['delta_l'])} "
            f"| {_f(m['cheeks']['delta_e'], '{:.1f}')} "
            f"| {_f(tone.get('lighter', {}).get('skin_abs_delta_l'), '{:.1f}')} / "
            f"{_f(tone.get('darker', {}).get('skin_abs_delta_l'), '{:.1f}')} "
            f"| {_f(ref0.get('lips'), '{:.1f}')} → {_f(ref1.get('lips'), '{:.1f}')} "
            f"| {_f(100 * ident.get('same_person_rate', float('nan')), '{:.0f}')} % ({_f(ident.get('cosine_mean'), '{:.3f}')}) "
            f"| {m.get('faces', '–')} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
