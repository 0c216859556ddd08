"""Look packs under attack and careless use: what may be deleted, replaced, copied, parsed and printed.

The CLI tests run the real entry point (``python -m livefilter``) in a subprocess and check for one
clear error line, a non-zero exit and no traceback.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto
from onnx.external_data_helper import set_external_data

from livefilter.errors import LookError
from livefilter.looks.pack import NAME_RE, load_look, parse_manifest, sha256_file
from livefilter.looks.registry import LookRegistry, make_pack
from livefilter.infra.paths import PACKAGED_LOOKS_DIR, user_looks_dir
from livefilter.infra.terminal_text import printable
from onnx_looks import make_look

REPO_ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200")  # LIVEFILTER_HOME comes from the autouse fixture
    return subprocess.run([sys.executable, "-m", "livefilter", *args], capture_output=True, text=True, env=env,
                          cwd=cwd or REPO_ROOT, timeout=300)


def assert_one_line_error(r: subprocess.CompletedProcess, *fragments: str) -> str:
    assert r.returncode != 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def edit_manifest(look_dir: Path, **changes) -> None:
    path = look_dir / "look.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- item 1: `looks remove` deletes only the user's installed looks ------------------------------------


def test_looks_remove_refuses_anything_but_an_installed_look_name(tmp_path):
    victim = tmp_path / "victim"
    make_look(tmp_path, "victim")
    (victim / "my-notes.txt").write_text("precious")
    before = tree(victim)
    looks = user_looks_dir()
    looks.mkdir(parents=True)
    rel = os.path.relpath(victim, looks)
    for name in (rel, str(victim), "victim/..", ".", "..", "Victim", ""):
        r = cli("looks", "remove", name)
        assert_one_line_error(r, "is not a look name", NAME_RE.pattern)
    assert tree(victim) == before
    r = cli("looks", "remove", "glam")
    assert_one_line_error(r, "ships with livefilter and cannot be removed")
    assert (PACKAGED_LOOKS_DIR / "glam" / "look.json").is_file()


def test_looks_remove_deletes_an_installed_look_and_only_a_link_for_a_symlink(tmp_path):
    pack = make_pack(make_look(tmp_path / "src", "mine").root, tmp_path / "mine.lfpack")
    assert cli("looks", "install", str(pack)).returncode == 0
    r = cli("looks", "remove", "mine")
    assert r.returncode == 0 and "removed" in r.stdout
    assert not (user_looks_dir() / "mine").exists()
    assert not [p for p in user_looks_dir().iterdir()]  # no staging folder left behind
    # A link the user placed in the looks folder: the link goes, its target stays.
    target = make_look(tmp_path / "elsewhere", "linked").root
    (user_looks_dir() / "linked").symlink_to(target, target_is_directory=True)
    before = tree(target)
    assert cli("looks", "remove", "linked").returncode == 0
    assert not (user_looks_dir() / "linked").exists() and tree(target) == before


# --- item 4: an install never replaces or shadows a look without --replace -----------------------------


def test_install_does_not_replace_an_installed_look_or_shadow_a_builtin_without_replace(tmp_path):
    first = make_pack(make_look(tmp_path / "a", "mine", kind="shift", shift=(0.1, 0, 0)).root, tmp_path / "mine-a.lfpack")
    second = make_pack(make_look(tmp_path / "b", "mine", kind="shift", shift=(0, 0.3, 0)).root, tmp_path / "mine-b.lfpack")
    assert cli("looks", "install", str(first)).returncode == 0
    installed = tree(user_looks_dir() / "mine")
    assert_one_line_error(cli("looks", "install", str(second)), "already installed", "--replace")
    assert tree(user_looks_dir() / "mine") == installed
    assert cli("looks", "install", str(second), "--replace").returncode == 0
    assert tree(user_looks_dir() / "mine") != installed

    glam = make_pack(make_look(tmp_path / "g", "glam").root, tmp_path / "glam.lfpack")
    assert_one_line_error(cli("looks", "install", str(glam)), "would hide the built-in look", "--replace")
    assert not (user_looks_dir() / "glam").exists()
    assert cli("looks", "install", str(glam), "--replace").returncode == 0
    assert (user_looks_dir() / "glam").is_dir() and (PACKAGED_LOOKS_DIR / "glam" / "look.json").is_file()


def test_using_a_pack_by_path_reuses_an_identical_look_and_never_overwrites_a_different_one(tmp_path):
    # `run --look PACK` and `looks show PACK` resolve the pack the same way (LookRegistry.get).
    first = make_pack(make_look(tmp_path / "a", "mine", kind="shift", shift=(0.1, 0, 0)).root, tmp_path / "mine-a.lfpack")
    other = make_pack(make_look(tmp_path / "b", "mine", kind="shift", shift=(0, 0.3, 0)).root, tmp_path / "mine-b.lfpack")
    assert cli("looks", "show", str(first)).returncode == 0  # first use installs it
    installed = tree(user_looks_dir() / "mine")
    assert cli("looks", "show", str(first)).returncode == 0  # the same pack again: reused
    assert_one_line_error(cli("looks", "show", str(other)), "a different look named 'mine' is already installed")
    assert tree(user_looks_dir() / "mine") == installed
    builtin = make_pack(PACKAGED_LOOKS_DIR / "glam", tmp_path / "glam.lfpack")  # the built-in, repacked
    assert LookRegistry().get(str(builtin)).root == PACKAGED_LOOKS_DIR / "glam"
    assert not (user_looks_dir() / "glam").exists()


# --- item 5: folder installs follow no links and obey the pack limits ---------------------------------


def _sparse_file(folder: Path) -> None:
    with open(folder / "notes.bin", "wb") as f:
        f.truncate(9 << 20)  # over the 8 MiB limit for a non-model file, without writing 9 MiB


def _deep_file(folder: Path) -> None:
    (folder / "a/b/c/d/e").mkdir(parents=True)
    (folder / "a/b/c/d/e/f.txt").write_text("x")


def test_folder_install_refuses_symlinks_loops_special_files_and_oversize(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("not for a look")
    cases = {
        "filelink": lambda d: (d / "hostname").symlink_to(secret),
        "dirlink": lambda d: (d / "more").symlink_to(tmp_path, target_is_directory=True),
        "loop": lambda d: (d / "loop").symlink_to(".", target_is_directory=True),
        "fifo": lambda d: os.mkfifo(d / "pipe"),
        "many": lambda d: [(d / f"extra{i}.txt").write_text("x") for i in range(20)],
        "huge": _sparse_file,
        "deep": _deep_file,
    }
    expected = {
        "filelink": "symbolic link 'hostname'", "dirlink": "symbolic link 'more'", "loop": "symbolic link 'loop'",
        "fifo": "'pipe' is not a regular file", "many": "more than 16 files", "huge": "'notes.bin' is too large",
        "deep": "nested deeper",
    }
    for case, arrange in cases.items():
        look = make_look(tmp_path / case, "folderlook")
        arrange(look.root)
        assert_one_line_error(cli("looks", "install", str(look.root)), expected[case])
        assert not (user_looks_dir() / "folderlook").exists()
    assert not [p for p in user_looks_dir().iterdir()]  # no staging folders left behind
    good = make_look(tmp_path / "good", "folderlook")
    assert cli("looks", "install", str(good.root)).returncode == 0
    assert tree(user_looks_dir() / "folderlook") == tree(good.root)


# --- item 6: every look.json field is type- and range-checked -----------------------------------------


@pytest.mark.parametrize(
    "raw_field,fragment",
    [
        ('"normalisation": {"mean": [NaN, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}', "NaN is not allowed"),
        ('"normalisation": {"mean": [0.5, 0.5, 0.5], "std": [Infinity, 0.5, 0.5]}', "Infinity is not allowed"),
        ('"style_code": [0.1, 1e400, 0.3, 0.4]', "out of range"),
        ('"style_code": [0.1, -Infinity, 0.3, 0.4]', "-Infinity is not allowed"),
        ('"normalisation": [0.5, 0.5]', "'normalisation' must be an object"),
        ('"edits": [1, 2]', "'edits' must be an object"),
        ('"inputs": "image"', "'inputs' must be an object"),
        ('"metrics": ' + "[" * 5000 + "]" * 5000, "nested deeper"),
        ('"metrics": {"a": ' + '{"b": ' * 40 + "1" + "}" * 41, "nested deeper"),
        ('"input_size": 128.0', "'input_size' must be an integer"),
        ('"input_size": true', "'input_size' must be an integer"),
        ('"default_strength": ' + "9" * 5000, "invalid JSON"),
        ('"title": {"x": 1}', "'title' must be a string"),
        ('"normalisation": {"mean": [0.5, 0.5, 0.5], "std": [0.0, 0.5, 0.5]}', "'normalisation.std[0]'"),
    ],
)
def test_look_json_bad_values_are_one_line_at_install(tmp_path, raw_field, fragment):
    look = make_look(tmp_path, "badvalue", with_style=True)
    text = (look.root / "look.json").read_text().rstrip()
    assert text.endswith("}")
    (look.root / "look.json").write_text(text[:-1] + ", " + raw_field + "}")
    assert_one_line_error(cli("looks", "install", str(look.root)), fragment)
    assert not (user_looks_dir() / "badvalue").exists()


@pytest.mark.parametrize(
    "patch,fragment",
    [
        ({"style_code": [0.1, "0.2", 0.3, 0.4]}, "'style_code[1]' must be a number"),
        ({"style_code": [0.1] * 5000}, "'style_code' must be a list of 1..4096"),
        ({"edits": {"brightness": True}}, "'edits.brightness' must be a number"),
        ({"align_padding": None}, "'align_padding' must be a number"),
        ({"format": True}, "format True is not supported"),
        ({"inputs": {"image": ["image"]}}, "'inputs.image' must be a string"),
        ({"inputs": {"style": "style"}}, "'inputs.image' is required"),
        ({"model": 7}, "invalid path"),
        ({"training": {"loss": float("nan")}}, "numbers must be finite"),
        ({"title": "clear\x1b[2Jscreen"}, "'title' must be text without control characters"),
    ],
)
def test_look_json_field_checks(tmp_path, patch, fragment):
    look = make_look(tmp_path, "fields", with_style=True)
    data = json.loads((look.root / "look.json").read_text()) | patch
    with pytest.raises(LookError, match=None) as err:
        parse_manifest(data, look.root)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_look_json_unknown_keys_are_ignored_and_known_ones_round_trip(tmp_path):
    look = make_look(tmp_path, "future", with_style=True)
    edit_manifest(look.root, input_sizes=[128, 256], future_field={"x": 1}, edits=None)
    loaded = load_look(look.root)
    assert loaded.edits.is_identity and loaded.style_code == [0.1, 0.2, 0.3, 0.4]
    assert parse_manifest(loaded.manifest(), look.root) == loaded


def test_saving_a_look_writes_infinite_metrics_as_text_not_bare_infinity(tmp_path):
    look = make_look(tmp_path, "identical")
    look.metrics = {"teacher_student_psnr_db": float("inf")}
    look.save()
    assert "Infinity" not in (look.root / "look.json").read_text()
    assert load_look(look.root).metrics == {"teacher_student_psnr_db": "inf"}
    look.style_code = [float("nan")]
    with pytest.raises(LookError, match="finite"):
        look.save()


# --- item 7: untrusted text is printed escaped; our own brackets survive ------------------------------


def test_looks_list_prints_pack_text_literally_and_never_raw_control_characters(tmp_path):
    look = make_look(tmp_path, "markup")
    edit_manifest(look.root, title="[link=https://evil.example]Free[/link] [bold red]x",
                  description="[blink]desc[/blink]")
    # Control characters never get past the validator; one written into the looks folder by hand is
    # skipped with a warning, and the warning shows them escaped.
    evil = make_look(user_looks_dir(), "esc")
    edit_manifest(evil.root, description="line\x1b[2J\x9b31m\r\u202egone")
    assert cli("looks", "install", str(look.root)).returncode == 0
    r = cli("looks", "list")
    assert r.returncode == 0, r.stderr
    assert "[link=https://evil.example]Free[/link] [bold red]x" in r.stdout
    assert "[blink]desc[/blink]" in r.stdout
    for ch in ("\x1b", "\x9b", "\r", "\u202e"):
        assert ch not in r.stdout + r.stderr
    assert "skipping look esc" in r.stderr and "\\x1b[2J" in r.stderr
    shown = cli("looks", "show", "markup")
    assert shown.returncode == 0 and "[link=https://evil.example]Free[/link]" in shown.stdout


def test_error_lines_keep_brackets_and_escape_control_characters(tmp_path):
    line = assert_one_line_error(cli("looks", "remove", "Not A Name"))
    assert NAME_RE.pattern in line  # the look-name pattern, brackets and all
    weird = tmp_path / "pack\x1b]0;owned\x07\x1b[2J.lfpack"
    line = assert_one_line_error(cli("looks", "install", str(weird)), "does not exist")
    assert "\x1b" not in line and "\x07" not in line and "\\x1b]0;owned\\x07\\x1b[2J" in line
    r = cli("export", "glam", "--backend", "tensorrt")  # tensorrt is not installed on the test machines
    if "not installed" in r.stdout:
        assert "pip install 'livefilter[gpu]'" in r.stdout


def test_printable_escapes_every_control_character():
    assert printable("a\x1b[2Jb\r\n\x00\u202e\u2028") == "a\\x1b[2Jb\\x0d\\x0a\\x00\\u202e\\u2028"
    assert printable("t\tab\nnext\x07", keep_newlines=True) == "t\tab\nnext\\x07"
    assert printable("pip install 'livefilter[gpu]'") == "pip install 'livefilter[gpu]'"


# --- item 8: an ONNX that points at external data is refused at install ---------------------------------


@pytest.mark.parametrize("location", ["/etc/hostname", "../../../secret.bin", "weights.bin"])
def test_onnx_with_external_data_is_refused_at_install(tmp_path, location):
    look = make_look(tmp_path, "external", kind="shift")
    model = onnx.load(str(look.model_path))
    tensor = next(t for t in model.graph.initializer if t.name == "w")
    set_external_data(tensor, location=location)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    look.model_path.write_bytes(model.SerializeToString())
    if location == "weights.bin":
        (look.root / "weights.bin").write_bytes(b"\x00" * 36)
    look.onnx_sha256 = sha256_file(look.model_path)
    look.save()
    assert_one_line_error(cli("looks", "install", str(look.root)), "external file", repr(location))
    assert not (user_looks_dir() / "external").exists()


# --- item 10: a damaged zip is one line, never a traceback ----------------------------------------------


def _stored_pack(tmp_path: Path, name: str = "zipped") -> Path:
    look = make_look(tmp_path / "src", name)
    pack = tmp_path / f"{name}.lfpack"
    with zipfile.ZipFile(pack, "w", compression=zipfile.ZIP_STORED) as zf:
        for f in sorted(look.root.iterdir()):
            zf.write(f, f"{name}/{f.name}")
    return pack


def _patch_central(pack: Path, member_suffix: str, offset: int, fmt: str, value: int) -> None:
    """Overwrite one field of a member's central-directory record (and its local header where the
    field exists there too), as a hostile tool would."""
    data = bytearray(pack.read_bytes())
    with zipfile.ZipFile(pack) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(member_suffix))
    pos = data.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if bytes(data[pos + 46:pos + 46 + name_len]).decode() == info.filename:
            struct.pack_into(fmt, data, pos + offset, value)
            local = {8: 6, 10: 8, 16: 14, 20: 18, 24: 22}.get(offset)
            if local is not None:
                struct.pack_into(fmt, data, info.header_offset + local, value)
            break
        pos = data.find(b"PK\x01\x02", pos + 4)
    pack.write_bytes(bytes(data))


def test_damaged_zip_members_are_one_line_errors(tmp_path):
    bad_crc = _stored_pack(tmp_path / "crc")
    raw = bytearray(bad_crc.read_bytes())
    i = raw.find(b'"description"')
    raw[i + 1] ^= 0x20
    bad_crc.write_bytes(bytes(raw))

    encrypted = _stored_pack(tmp_path / "enc")
    _patch_central(encrypted, "look.json", 8, "<H", 0x1)

    odd_method = _stored_pack(tmp_path / "ppmd")
    _patch_central(odd_method, "look.json", 10, "<H", 98)

    lying = _stored_pack(tmp_path / "lie")
    with zipfile.ZipFile(lying) as zf:
        real = zf.getinfo("zipped/student.onnx").file_size
    _patch_central(lying, "student.onnx", 24, "<I", real - 40)

    long_name = tmp_path / "long.lfpack"
    with zipfile.ZipFile(long_name, "w") as zf, zipfile.ZipFile(_stored_pack(tmp_path / "ln")) as src:
        for info in src.infolist():
            zf.writestr(info.filename, src.read(info))
        zf.writestr("zipped/" + "é" * 200 + ".jpg", b"x")

    cases = {
        bad_crc: "Bad CRC-32",
        encrypted: "is encrypted",
        odd_method: "unsupported compression method (98)",
        lying: "cannot be extracted",
        long_name: "longer than 255 bytes",
    }
    for pack, fragment in cases.items():
        assert_one_line_error(cli("looks", "install", str(pack)), fragment)
    assert not (user_looks_dir() / "zipped").exists()
    assert not [p for p in user_looks_dir().iterdir()]
