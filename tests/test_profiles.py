"""Personal profiles: saved per look, validated on load, written atomically, used by `run --profile`."""

import json

import pytest

from livefilter.errors import SettingError
from livefilter.looks.pack import ColorEdits
from livefilter.infra.paths import user_profiles_path
from livefilter.pipeline.host import LiveControls
from livefilter.settings.profiles import (
    LookPrefs,
    Profile,
    ProfileError,
    ProfileStore,
    apply_profile_to_settings,
    check_profile_name,
)
from livefilter.pipeline.session import PipelineSettings


def test_save_and_load_round_trip_in_the_user_profiles_file():
    store = ProfileStore()
    edits = ColorEdits(brightness=0.1, contrast=-0.2, saturation=0.3, warmth=-0.4)
    saved = store.save_controls("Evening stream", LiveControls(look="glam", strength=0.6, edits=edits))
    assert store.path == user_profiles_path() and store.path.is_file()
    loaded = ProfileStore().get("Evening stream")
    assert loaded == saved
    assert loaded.look == "glam" and loaded.prefs() == LookPrefs(0.6, edits)
    data = json.loads(store.path.read_text())
    assert data["format"] == 1 and set(data["profiles"]) == {"Evening stream"}


def test_saving_again_keeps_the_settings_of_other_looks():
    store = ProfileStore()
    store.save_controls("p", LiveControls(look="glam", strength=0.3))
    store.save_controls("p", LiveControls(look="noir", strength=0.9, edits=ColorEdits(warmth=0.5)))
    p = store.get("p")
    assert p.look == "noir"
    assert p.prefs("glam").strength == 0.3 and p.prefs("noir") == LookPrefs(0.9, ColorEdits(warmth=0.5))
    store.save_controls("other", LiveControls(look="glam"))
    assert store.names() == ["other", "p"]
    store.delete("other")
    assert store.names() == ["p"]


def test_write_is_atomic_and_leaves_no_temporary_files(tmp_path):
    store = ProfileStore(tmp_path / "sub" / "profiles.json")
    for i in range(5):
        store.save_controls(f"p{i}", LiveControls(look="glam", strength=i / 10))
    assert sorted(f.name for f in (tmp_path / "sub").iterdir()) == ["profiles.json"]
    assert len(store.names()) == 5


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "not a livefilter profiles file"),
        ('{"format": 2, "profiles": {}}', "not a livefilter profiles file"),
        ('{"format": 1, "profiles": {"a": {"look": "glam", "looks": {"glam": {"strength": 1.5}}}}}', "strength"),
        ('{"format": 1, "profiles": {"a": {"look": "glam", "looks": {"glam": {"strength": true}}}}}', "strength"),
        ('{"format": 1, "profiles": {"a": {"look": "glam", "looks": {"glam": {"strength": 0.5, "edits": {"warmth": 2}}}}}}',
         "edits.warmth"),
        ('{"format": 1, "profiles": {"a": {"look": "glam", "looks": {"glam": {"strength": 0.5, "edits": {"hue": 0.1}}}}}}',
         "unknown key"),
        ('{"format": 1, "profiles": {"a": {"look": "../x", "looks": {}}}}', "look name"),
        ('{"format": 1, "profiles": {"a": {"look": "glam", "looks": {}}}}', "no settings for its own look"),
        ('{"format": 1, "profiles": {"../../etc": {"look": "glam", "looks": {"glam": {"strength": 0.5}}}}}',
         "profile name"),
    ],
)
def test_a_corrupt_or_hand_edited_file_is_reported_not_half_used(content, message):
    path = user_profiles_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(ProfileError, match=message) as e:
        ProfileStore().get("a")
    assert isinstance(e.value, SettingError)
    # ... and never silently overwritten by a save
    with pytest.raises(ProfileError):
        ProfileStore().save_controls("b", LiveControls(look="glam"))
    assert path.read_text() == content


@pytest.mark.parametrize("name", ["", " lead", "a/b", "..", "x" * 65, "new\nline", 3, None])
def test_bad_profile_names_are_refused(name):
    with pytest.raises(ProfileError, match="profile name"):
        check_profile_name(name)


def test_unknown_profile_lists_the_available_ones():
    store = ProfileStore()
    with pytest.raises(ProfileError, match="none saved yet"):
        store.get("x")
    store.save_controls("mine", LiveControls(look="glam"))
    with pytest.raises(ProfileError, match=r"unknown profile 'x' \(available: mine\)"):
        store.get("x")


def test_run_profile_fills_in_only_what_the_command_line_left_open():
    p = Profile("p", "glam", {"glam": LookPrefs(0.4, ColorEdits(warmth=0.3)), "noir": LookPrefs(0.8)})
    s = apply_profile_to_settings(PipelineSettings(), p)
    assert (s.look, s.strength, s.edits) == ("glam", 0.4, ColorEdits(warmth=0.3))
    s = apply_profile_to_settings(PipelineSettings(look="noir", strength=0.1), p)
    assert (s.look, s.strength, s.edits) == ("noir", 0.1, ColorEdits())
    s = apply_profile_to_settings(PipelineSettings(look="other"), p)
    assert (s.look, s.strength, s.edits) == ("other", None, None)


def test_livefilter_run_with_profile_and_control_server(tmp_path):
    """The real command: --profile sets look/strength/edits; the control panel URL is printed."""
    import os
    import subprocess
    import sys

    from conftest import REPO_ROOT, shared_path
    from onnx_looks import make_look

    video = shared_path("video", "liveportrait", "d0.mp4")
    home = tmp_path / "home"
    make_look(home / "data" / "looks", "shift", kind="shift")
    make_look(home / "data" / "looks", "ident", kind="identity")
    env = dict(os.environ, LIVEFILTER_HOME=str(home), COLUMNS="200")
    store = ProfileStore(home / "data" / "profiles.json")
    store.save_controls("evening", LiveControls(look="ident", strength=0.35, edits=ColorEdits(warmth=0.5)))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "livefilter", "run", "-i", str(video), "-o", "null",
                               "--max-frames", "2", *args], capture_output=True, text=True, env=env,
                              cwd=REPO_ROOT, timeout=120)

    r = run("--profile", "evening")
    assert r.returncode == 0, r.stderr
    assert "look ident strength 0.35" in r.stdout
    assert "control panel (keep this address private): http://127.0.0.1:" in r.stdout and "?token=" in r.stdout
    assert not (home / "data" / "control.json").exists()  # removed when the run ends
    r = run("--profile", "nope", "--no-control")
    assert r.returncode != 0 and "unknown profile 'nope' (available: evening)" in r.stderr + r.stdout
