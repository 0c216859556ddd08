"""Coverage-guided fuzzing (atheris) of the look.json parser and the pack extractor.

Four modes: fuzzed JSON text, a valid look.json with one number replaced by NaN/Infinity/an
overflowing literal (every accepted value must be finite), zips of fuzzed members, and a real pack
with fuzzed bytes overwritten (damaged CRCs, sizes, flags, compression methods).

    python tests/fuzz/fuzz_look_json.py -runs=20000       # or -max_total_time=3600
Any exception other than LookError is a finding (atheris stops and prints the input).
"""

import io
import json
import math
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from livefilter.infra import strict_json
    from livefilter.errors import LookError
    from livefilter.looks.pack import parse_manifest
    from livefilter.looks.registry import extract_pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from onnx_looks import make_look  # noqa: E402


def _valid_pack_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        look = make_look(Path(tmp), "fuzz")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(look.root.iterdir()):
                zf.write(f, f"fuzz/{f.name}")
        return buf.getvalue()


VALID_PACK = _valid_pack_bytes()
BASE = {
    "name": "fuzz", "input_size": 128, "align_padding": 0.25, "default_strength": 0.9,
    "normalisation": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
    "inputs": {"image": "image", "style": "style", "strength": "strength"},
    "style_code": [0.1, 0.2, 0.3, 0.4], "edits": {"brightness": 0.0, "warmth": 0.0}, "metrics": {"psnr": 30.0},
}
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" * 400, "[NaN]", "{\"a\": NaN}"]
NUMBER_SLOTS = ["input_size", "align_padding", "default_strength", "normalisation.mean.1", "normalisation.std.0",
                "style_code.2", "edits.brightness", "metrics.psnr"]


def all_finite(look) -> bool:
    numbers = [look.align_padding, look.default_strength, *look.normalisation.mean, *look.normalisation.std,
               *(look.style_code or []), look.edits.brightness, look.edits.contrast, look.edits.saturation,
               look.edits.warmth]
    return all(math.isfinite(x) for x in numbers)


def non_finite_manifest(fdp) -> None:
    """A valid look.json with one number replaced by NaN, an infinity or an overflowing literal."""
    slot = NUMBER_SLOTS[fdp.ConsumeIntInRange(0, len(NUMBER_SLOTS) - 1)]
    bad = NON_FINITE[fdp.ConsumeIntInRange(0, len(NON_FINITE) - 1)] if fdp.ConsumeBool() else \
        fdp.ConsumeUnicodeNoSurrogates(12)
    marker = "__FUZZ__"
    doc = json.loads(json.dumps(BASE))
    *path, last = slot.split(".")
    node = doc
    for key in path:
        node = node[key]
    node[int(last) if isinstance(node, list) else last] = marker
    text = json.dumps(doc).replace(f'"{marker}"', bad)
    try:
        parsed = strict_json.loads(text)
        look = parse_manifest(parsed, Path("/nonexistent"))
    except (strict_json.StrictJSONError, LookError):
        return
    if not all_finite(look):
        raise AssertionError(f"non-finite value accepted in {slot}: {bad!r}")


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 3)
    if mode == 2:
        non_finite_manifest(fdp)
        return
    if mode == 3:  # a real pack with bytes overwritten: bad CRCs, lying sizes, odd flags and methods
        raw = bytearray(VALID_PACK)
        for _ in range(fdp.ConsumeIntInRange(1, 8)):
            raw[fdp.ConsumeIntInRange(0, len(raw) - 1)] = fdp.ConsumeIntInRange(0, 255)
        extract_into_temp(bytes(raw))
        return
    if mode == 0:
        text = fdp.ConsumeUnicodeNoSurrogates(2048)
        try:
            parsed = strict_json.loads(text)
        except strict_json.StrictJSONError:
            return
        try:
            look = parse_manifest(parsed, Path("/nonexistent"))
        except LookError:
            return
        if not all_finite(look):
            raise AssertionError(f"non-finite value accepted: {text!r}")
        return
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for _ in range(fdp.ConsumeIntInRange(0, 6)):
            name = fdp.ConsumeUnicodeNoSurrogates(24)
            try:
                zf.writestr(name, fdp.ConsumeBytes(64))
            except (ValueError, IndexError, UnicodeEncodeError):
                pass
    extract_into_temp(buf.getvalue() + fdp.ConsumeBytes(16))


def extract_into_temp(blob: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "p.lfpack"
        pack.write_bytes(blob)
        dest = Path(tmp) / "out" / "look"
        try:
            extract_pack(pack, dest)
        except LookError:
            pass
        for p in Path(tmp).rglob("*"):  # nothing may land outside the destination
            if p not in (pack, dest, dest.parent) and dest not in p.parents:
                raise AssertionError(f"wrote outside the pack folder: {p}")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
