"""Coverage-guided fuzzing (atheris) of the look.json parser and the pack extractor.

    python tests/fuzz/fuzz_look_json.py -runs=20000       # or -max_total_time=3600
Any exception other than LookError is a finding (atheris stops and prints the input).
"""

import io
import json
import sys
import tempfile
import zipfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from livefilter.errors import LookError
    from livefilter.looks.pack import parse_manifest
    from livefilter.looks.registry import extract_pack


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 1)
    if mode == 0:
        text = fdp.ConsumeUnicodeNoSurrogates(2048)
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return
        try:
            parse_manifest(parsed, Path("/nonexistent"))
        except LookError:
            pass
        return
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for _ in range(fdp.ConsumeIntInRange(0, 6)):
            name = fdp.ConsumeUnicodeNoSurrogates(24)
            try:
                zf.writestr(name, fdp.ConsumeBytes(64))
            except (ValueError, IndexError, UnicodeEncodeError):
                pass
    with tempfile.TemporaryDirectory() as tmp:
        pack = Path(tmp) / "p.lfpack"
        pack.write_bytes(buf.getvalue() + fdp.ConsumeBytes(16))
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
