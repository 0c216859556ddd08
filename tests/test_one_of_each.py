"""The concepts the code holds once: the stage registry, the affine inverse, the settings store, the
private atomic write and the FaceMesh topology."""

import os
import stat
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from livefilter.align.host import invert_affine
from livefilter.detect import registry as detectors
from livefilter.detect import topology
from livefilter.errors import InputError, SettingError
from livefilter.infra.atomic import write_text
from livefilter.infra.registry import Registry
from livefilter.settings.store import JsonFile
from livefilter.sinks import registry as sinks
from livefilter.sources import registry as sources
from livefilter.translate import backends


@dataclass(frozen=True)
class Spec:
    name: str
    note: str = ""
    size: int = 0


def test_a_registry_keeps_order_checks_names_and_lists_every_entry_in_its_error():
    reg: Registry[Spec] = Registry("widget", reserved=("auto",), forbidden=",")
    for s in (Spec("a", "first", 1), Spec("b", "", 2), Spec("c", "third", 3)):
        reg.register(s)
    assert reg.names() == ("a", "b", "c") and reg.find("b").size == 2 and reg.find(3) is None
    assert reg.first(lambda s: s.size > 1).name == "b" and reg.first(lambda s: s.size > 9) is None
    assert reg.help_items(lambda s: s.note) == ("a (first)", "b", "c (third)")
    with pytest.raises(SettingError, match=r"^widget must be a, b or c, got 'd'$"):
        reg.check("d")
    for bad in ("", "auto", "x y", "a,b"):
        with pytest.raises(ValueError):
            reg.register(Spec(bad))
    scratch = reg.copy()
    scratch.register(Spec("d"))
    assert "d" not in reg and scratch.names()[-1] == "d" and isinstance(scratch, Registry)


def test_every_stage_registry_is_the_one_registry_type():
    for module in (detectors, sinks, sources, backends):
        assert isinstance(module.REGISTRY, Registry), module.__name__
    with pytest.raises(InputError):  # inputs keep their own error type
        Registry("input", key="kind", error=InputError).check("nope")


def test_the_affine_inverse_inverts_one_matrix_or_a_stack_as_opencv_does():
    rng = np.random.default_rng(3)
    stack = np.concatenate([rng.normal(size=(5, 2, 2)) + 2 * np.eye(2), rng.normal(size=(5, 2, 1)) * 50], axis=2)
    inv = invert_affine(stack)
    assert inv.shape == (5, 2, 3) and inv.dtype == np.float64
    for m, i in zip(stack, inv):
        assert np.allclose(i, cv2.invertAffineTransform(m), atol=1e-9)
        assert np.allclose(invert_affine(m), i)
        pts = rng.normal(size=(4, 2)) * 100
        there = pts @ m[:, :2].T + m[:, 2]
        assert np.allclose(there @ i[:, :2].T + i[:, 2], pts)


def test_a_settings_file_that_is_corrupt_is_reported_and_never_overwritten(tmp_path):
    path = tmp_path / "s.json"
    store = JsonFile(path, what="test file", max_bytes=1024)
    assert store.read() is None
    store.update(lambda data: {"n": 1} if data is None else data)
    assert store.read() == {"n": 1}
    path.write_text("{broken")
    with pytest.raises(SettingError, match="test file .* is not valid JSON"):
        store.update(lambda data: {"n": 2})
    assert path.read_text() == "{broken"
    path.write_text("x" * 2048)
    with pytest.raises(SettingError, match="cannot read test file"):
        store.read()


def test_private_files_are_0600_from_the_start_and_links_are_replaced_unless_followed(tmp_path):
    secret = write_text(tmp_path / "token.json", "{}", private=True)
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    outside = tmp_path / "outside.json"
    outside.write_text('{"keep": true}')
    link = tmp_path / "link.json"
    link.symlink_to(outside)
    JsonFile(link, what="control file", max_bytes=1024, private=True).write({"a": 1})
    assert outside.read_text() == '{"keep": true}' and not link.is_symlink()  # the link itself was replaced
    link.unlink()
    link.symlink_to(outside)
    JsonFile(link, what="settings file", max_bytes=1024, private=True, through_links=True).write({"a": 2})
    assert link.is_symlink() and '"a": 2' in outside.read_text()


def test_the_topology_index_sets_are_valid_facemesh_indices_and_pair_by_side():
    for name in dir(topology):
        value = getattr(topology, name)
        if name.isupper() and isinstance(value, tuple):
            flat = [i for part in (value if value and isinstance(value[0], tuple) else (value,)) for i in part]
            assert all(0 <= i < topology.NUM_LANDMARKS for i in flat), name
    for pair in (topology.UPPER_LID, topology.LOWER_LID, topology.BROW_LOWER, topology.CHEEK_APPLE, topology.BROWS):
        assert len(pair) == 2 and len(pair[0]) == len(pair[1]) and not set(pair[0]) & set(pair[1])
    assert topology.BROWS == (topology.LEFT_BROW, topology.RIGHT_BROW)
    # the eye openings are the lids' union (the frame step's eye polygons)
    for eye, upper, lower in zip((topology.LEFT_EYE, topology.RIGHT_EYE), topology.UPPER_LID, topology.LOWER_LID):
        assert set(eye) == set(upper) | set(lower)
