import json
import zipfile

import pytest

from livefilter.errors import LookError
from livefilter.looks.pack import check_member_path, load_look
from livefilter.looks.registry import LookRegistry, extract_pack, make_pack
from onnx_looks import make_look


def test_valid_look_loads_and_roundtrips(tmp_path):
    look = make_look(tmp_path, "roundtrip", kind="shift", with_style=True, with_strength=True)
    loaded = load_look(look.root)
    assert loaded.name == "roundtrip" and loaded.style_code == [0.1, 0.2, 0.3, 0.4]
    assert loaded.input_names["strength"] == "strength"


def test_corrupt_model_bytes_are_detected_by_sha(tmp_path):
    look = make_look(tmp_path, "corrupt")
    with open(look.model_path, "r+b") as f:
        f.seek(20)
        f.write(b"\x00garbage\x00")
    with pytest.raises(LookError, match="sha256"):
        load_look(look.root)


def test_garbage_onnx_without_sha_is_a_clear_error(tmp_path):
    look = make_look(tmp_path, "garbage")
    look.model_path.write_bytes(b"this is not onnx")
    data = json.loads((look.root / "look.json").read_text())
    data["onnx_sha256"] = None
    (look.root / "look.json").write_text(json.dumps(data))
    with pytest.raises(LookError, match="not a valid ONNX"):
        load_look(look.root)


@pytest.mark.parametrize(
    "patch,msg",
    [
        ({"name": "../evil"}, "name"),
        ({"model": "../../etc/passwd"}, "escapes"),
        ({"model": "/abs/student.onnx"}, "escapes"),
        ({"input_size": 7}, "input_size"),
        ({"default_strength": 3}, "default_strength"),
        ({"edits": {"brightness": 5}}, "brightness"),
        ({"edits": {"exec": 1}}, "edits"),
        ({"inputs": {"image": "nope"}}, "no input 'nope'"),
        ({"format": 99}, "format"),
    ],
)
def test_bad_manifest_fields(tmp_path, patch, msg):
    look = make_look(tmp_path, "bad")
    data = json.loads((look.root / "look.json").read_text())
    data.update(patch)
    (look.root / "look.json").write_text(json.dumps(data))
    with pytest.raises(LookError, match=msg):
        load_look(look.root)


def test_invalid_json(tmp_path):
    look = make_look(tmp_path, "badjson")
    (look.root / "look.json").write_text("{not json")
    with pytest.raises(LookError, match="invalid JSON"):
        load_look(look.root)


def test_wrong_onnx_input_size_is_rejected(tmp_path):
    look = make_look(tmp_path, "size", size=64)
    data = json.loads((look.root / "look.json").read_text())
    data["input_size"] = 128
    (look.root / "look.json").write_text(json.dumps(data))
    with pytest.raises(LookError, match=r"\[N,3,128,128\]"):
        load_look(look.root)


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../b", "C:/x", "a\\b", ""])
def test_member_paths_that_escape(name):
    with pytest.raises(LookError):
        check_member_path(name)


def test_pack_install_remove(tmp_path):
    look = make_look(tmp_path / "src", "packme", kind="shift")
    pack = make_pack(look.root, tmp_path / "packme.lfpack")
    reg = LookRegistry()
    installed = reg.install(pack)
    assert installed.name == "packme" and "packme" in reg.names()
    with pytest.raises(LookError, match="already installed"):
        reg.install(pack)
    reg.install(pack, replace=True)
    reg.remove("packme")
    assert "packme" not in reg.names()
    with pytest.raises(LookError, match="not installed"):
        reg.remove("packme")


def test_zip_slip_pack_is_refused_and_writes_nothing_outside(tmp_path):
    look = make_look(tmp_path / "src", "slip")
    evil = tmp_path / "evil.lfpack"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.write(look.root / "look.json", "look.json")
        zf.write(look.model_path, "student.onnx")
        zf.writestr("../../escaped.txt", "pwned")
    with pytest.raises(LookError, match="escapes"):
        LookRegistry().install(evil)
    assert not (tmp_path / "escaped.txt").exists()
    assert not list(tmp_path.parent.glob("escaped.txt"))


def test_oversized_and_too_many_members(tmp_path, monkeypatch):
    import livefilter.looks.pack_files as reg_mod

    look = make_look(tmp_path / "src", "big")
    pack = make_pack(look.root, tmp_path / "big.lfpack")
    monkeypatch.setattr(reg_mod, "MAX_PREVIEW_BYTES", 10)
    with pytest.raises(LookError, match="too large"):
        extract_pack(pack, tmp_path / "out1")
    many = tmp_path / "many.lfpack"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(40):
            zf.writestr(f"f{i}.txt", "x")
    with pytest.raises(LookError, match="files"):
        extract_pack(many, tmp_path / "out2")


def test_not_a_zip(tmp_path):
    bad = tmp_path / "bad.lfpack"
    bad.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(LookError, match="not a valid look pack"):
        LookRegistry().install(bad)


def test_unknown_look_lists_available(tmp_path):
    make_look(tmp_path, "one")
    reg = LookRegistry([tmp_path])
    with pytest.raises(LookError, match="available: one"):
        reg.get("two")
