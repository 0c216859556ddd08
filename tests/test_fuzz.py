"""Property-based fuzzing of every parser / validator that reads user or pack input."""

import io
import math
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livefilter.errors import LivefilterError, LookError
from livefilter.looks.pack import check_member_path, parse_manifest
from livefilter.looks.registry import extract_pack
from livefilter.sources.registry import parse_input
from livefilter.sources.spec import parse_size

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
manifest_keys = st.sampled_from(
    ["name", "model", "input_size", "normalisation", "inputs", "style_code", "edits", "default_strength",
     "align_padding", "onnx_sha256", "format", "preview", "title", "metrics", "training"]
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(manifest_keys, json_values, max_size=10))
def test_manifest_parser_only_raises_look_errors(data):
    try:
        look = parse_manifest(data, Path("/nonexistent"))
    except LookError:
        return
    # Whatever was accepted is sane, and every number in it finite.
    assert 32 <= look.input_size <= 1024 and 0 <= look.default_strength <= 1
    numbers = [look.align_padding, *look.normalisation.mean, *look.normalisation.std, *(look.style_code or [])]
    assert all(math.isfinite(x) for x in numbers)
    assert ".." not in Path(look.model).parts and not Path(look.model).is_absolute()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_member_paths_never_escape(name):
    try:
        p = check_member_path(name)
    except LookError:
        return
    assert not p.is_absolute() and ".." not in p.parts


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=15))
def test_size_parser(value):
    try:
        w, h = parse_size(value)
    except LivefilterError:
        return
    assert 16 <= w <= 8192 and 16 <= h <= 8192 and w % 2 == 0 and h % 2 == 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=30).filter(lambda s: "\x00" not in s))
def test_input_parser_never_crashes(value):
    try:
        parse_input(value, system="Linux")
    except LivefilterError:
        pass


@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=24), st.binary(max_size=64)), min_size=0, max_size=20),
    st.binary(max_size=8),
)
def test_zip_extraction_stays_inside(tmp_path_factory, members, tail):
    root = tmp_path_factory.mktemp("fz")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            try:
                zf.writestr(name, data)
            except (ValueError, UnicodeEncodeError, IndexError):  # names zipfile itself cannot write
                pass
    pack = root / "p.lfpack"
    pack.write_bytes(buf.getvalue() + tail)
    dest = root / "out" / "look"
    try:
        extract_pack(pack, dest)
    except LookError:
        pass
    for p in root.rglob("*"):
        assert p == pack or dest in p.parents or p == dest or p == dest.parent, p


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=256))
def test_garbage_look_json_is_a_look_error(tmp_path_factory, blob):
    from livefilter.looks.pack import load_look

    d = tmp_path_factory.mktemp("lj")
    (d / "look.json").write_bytes(blob)
    (d / "student.onnx").write_bytes(b"\x08\x07")
    with pytest.raises(LookError):
        load_look(d)


@pytest.mark.parametrize("target", ["fuzz_look_json.py", "fuzz_look_names.py"])
def test_atheris_coverage_guided_fuzz_of_look_parsers(target, tmp_path):
    """A short coverage-guided run of each fuzzer in tests/fuzz (look.json and packs; remove/install
    names and paths)."""
    import subprocess
    import sys

    pytest.importorskip("atheris", reason="atheris not installed (pip install atheris)")
    import resource

    script = Path(__file__).parent / "fuzz" / target
    # libFuzzer's RSS is the process's peak, which Linux carries over from the parent through fork and exec:
    # late in a long pytest run that alone is past libFuzzer's default 2 GB, so the limit is 2 GB on top of it
    limit = 2048 + resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    r = subprocess.run([sys.executable, str(script), "-runs=3000", "-seed=1", f"-rss_limit_mb={limit}"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Done 3000 runs" in r.stderr
