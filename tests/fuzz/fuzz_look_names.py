"""Coverage-guided fuzzing (atheris) of ``looks remove NAME`` and ``looks install PATH``.

    python tests/fuzz/fuzz_look_names.py -runs=20000       # or -max_total_time=3600
Names and paths are built from fragments an attacker would try ('..', absolute paths, a folder
outside the looks directory, links, control characters) mixed with fuzzed text. Any exception
other than LookError is a finding, and so is any change to what lies outside the looks folder, to
the built-in looks, or to an installed look that the call did not name.
"""

import os
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from livefilter.errors import LookError
    from livefilter.looks.registry import LookRegistry, make_pack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from onnx_looks import make_look  # noqa: E402

WORK = Path(tempfile.mkdtemp(prefix="lf-fuzz-names-"))
os.environ["LIVEFILTER_HOME"] = str(WORK / "home")
BUILTIN = WORK / "builtin"
LOOKS = WORK / "home" / "data" / "looks"
OUTSIDE = WORK / "outside"
make_look(BUILTIN, "glam")
make_look(OUTSIDE, "victim")
(OUTSIDE / "victim" / "notes.txt").write_text("the user's own file")
SOURCE = make_look(WORK / "src", "keep").root
PACK = make_pack(SOURCE, WORK / "keep.lfpack")
os.symlink(OUTSIDE / "victim", WORK / "link-to-victim")
FRAGMENTS = ["..", "/", ".", "keep", "glam", "victim", str(OUTSIDE), str(OUTSIDE / "victim"), str(BUILTIN / "glam"),
             str(PACK), str(SOURCE), "link-to-victim", "\x00", "\x1b[2J", "~", "*", "", "\\", "keep.lfpack",
             os.path.relpath(OUTSIDE / "victim", LOOKS)]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


PROTECTED = {OUTSIDE: snapshot(OUTSIDE), BUILTIN: snapshot(BUILTIN), SOURCE: snapshot(SOURCE)}


def build(fdp: atheris.FuzzedDataProvider) -> str:
    parts = []
    for _ in range(fdp.ConsumeIntInRange(1, 5)):
        if fdp.ConsumeBool():
            parts.append(FRAGMENTS[fdp.ConsumeIntInRange(0, len(FRAGMENTS) - 1)])
        else:
            parts.append(fdp.ConsumeUnicodeNoSurrogates(16))
    sep = ["/", "", "/../"][fdp.ConsumeIntInRange(0, 2)]
    return sep.join(parts)


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    registry = LookRegistry([BUILTIN, LOOKS])
    text = build(fdp)
    action = fdp.ConsumeIntInRange(0, 2)
    try:
        if action == 0:
            registry.remove(text)
        elif action == 1:
            registry.install(Path(text), replace=fdp.ConsumeBool())
        else:
            registry.get(text)
    except LookError:
        pass
    for folder, before in PROTECTED.items():
        if snapshot(folder) != before:
            raise AssertionError(f"{folder} changed after {action=} with {text!r}")
    leftovers = [p.name for p in LOOKS.iterdir() if p.name.startswith(".")] if LOOKS.is_dir() else []
    if leftovers:
        raise AssertionError(f"staging folders left behind: {leftovers}")


if __name__ == "__main__":
    os.chdir(WORK)
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
