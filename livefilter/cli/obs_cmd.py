"""``livefilter obs``: the control panel as an OBS dock, looks per OBS scene, the OBS hotkey script."""

from __future__ import annotations

from dataclasses import replace

import typer
from rich.markup import escape
from rich.table import Table

from livefilter.cli import app
from livefilter.cli.common import out
from livefilter.control.endpoint import stable_endpoint
from livefilter.errors import SettingError
from livefilter.looks.registry import LookRegistry
from livefilter.obs.dock import SCRIPT_PATH, dock_steps, script_steps
from livefilter.settings.userconfig import ConfigError, ConfigStore, ObsSettings, check_scene_background, check_scene_name

obs_app = typer.Typer(help="Use livefilter inside OBS: dock, scene-linked looks, hotkey script.", no_args_is_help=True)
app.add_typer(obs_app, name="obs")


def _print_steps(steps: list[str]) -> None:
    for i, step in enumerate(steps, 1):
        out.print(f"  {i}. {escape(step)}", highlight=False, soft_wrap=True)


@obs_app.command("dock")
def dock() -> None:
    """Print the URL for an OBS Custom Browser Dock and how to add it."""
    endpoint = stable_endpoint()
    out.print("OBS dock URL (keep it private):", highlight=False)
    out.print(endpoint.dock_url, highlight=False, soft_wrap=True, markup=False)
    _print_steps(dock_steps(endpoint))


@obs_app.command("script")
def script() -> None:
    """Print the path of the OBS Python script with livefilter hotkeys (OBS: Tools → Scripts)."""
    out.print(str(SCRIPT_PATH), highlight=False, soft_wrap=True, markup=False)
    _print_steps(script_steps())


def _parse_pair(pair: str, looks: set[str]) -> tuple[str, str]:
    scene, sep, look = pair.rpartition("=")  # look names never hold '=', scene names may
    if not sep or not scene:
        raise SettingError(f"expected \"SCENE=LOOK\", e.g. \"Just Chatting=glam\", got {pair!r}")
    check_scene_name(scene)
    if look not in looks:
        avail = ", ".join(sorted(looks)) or "none installed"
        raise SettingError(f"unknown look {look!r} for scene {scene!r} (available: {avail})")
    return scene, look


def _show(settings: ObsSettings) -> None:
    if not settings.scene_looks and not settings.pause_scenes and not settings.scene_backgrounds:
        out.print("no OBS scenes mapped yet — e.g. livefilter obs map \"Just Chatting=glam\" \"Gaming=natural\"",
                  highlight=False, markup=False)
        return
    t = Table(title="OBS scenes")
    t.add_column("scene")
    t.add_column("livefilter")
    for scene, look in sorted(settings.scene_looks.items()):
        t.add_row(escape(scene), f"look {escape(look)}")
    for scene in sorted(settings.pause_scenes):
        t.add_row(escape(scene), "pause the look")
    for scene, bg in sorted(settings.scene_backgrounds.items()):
        what = bg["background"] + (f" {bg['blur']:.2f}" if bg["background"] == "blur" else "") + \
            (f" with {bg['source']}" if bg.get("source") else "")
        t.add_row(escape(scene), f"background {escape(what)}")
    out.print(t)


@obs_app.command("map")
def map_scenes(
    pairs: list[str] = typer.Argument(None, help='"SCENE=LOOK" pairs, e.g. "Just Chatting=glam" "Gaming=natural".'),
) -> None:
    """Switch looks with OBS scenes (used by `livefilter run --obs ...`); no pairs: show the mapping."""
    store = ConfigStore()
    if not pairs:
        _show(store.load().obs)
        return
    looks = {lk.name for lk in LookRegistry().list()}
    parsed = dict(_parse_pair(p, looks) for p in pairs)

    def change(s: ObsSettings) -> ObsSettings:
        return replace(s, scene_looks={**s.scene_looks, **parsed},
                       pause_scenes=tuple(x for x in s.pause_scenes if x not in parsed))

    _show(store.update_obs(change))


@obs_app.command("background")
def background_scenes(
    pairs: list[str] = typer.Argument(..., help='"SCENE=keep", "SCENE=blur" or "SCENE=replace:FILE" (FILE: an image or '
                                                'video in your backgrounds folder), e.g. "Just Chatting=blur".'),
    blur: float = typer.Option(0.6, "--blur", help="Blur strength 0..1 for the scenes set to blur."),
) -> None:
    """Switch the background (keep, blur, replace) with OBS scenes."""
    parsed = {}
    for pair in pairs:
        scene, sep, what = pair.rpartition("=")
        if not sep or not scene:
            raise SettingError(f"expected \"SCENE=blur\", \"SCENE=keep\" or \"SCENE=replace:FILE\", got {pair!r}")
        mode, _, source = what.partition(":")
        bg: dict = {"background": mode}
        if mode == "blur":
            bg["blur"] = blur
        if source or mode == "replace":
            bg["source"] = source or None
        try:
            parsed[check_scene_name(scene)] = check_scene_background(bg, scene)
        except ConfigError as e:
            raise SettingError(str(e)) from None

    def change(s: ObsSettings) -> ObsSettings:
        return replace(s, scene_backgrounds={**s.scene_backgrounds, **parsed})

    _show(ConfigStore().update_obs(change))


@obs_app.command("pause")
def pause_scenes(
    scenes: list[str] = typer.Argument(..., help='Scenes on which the look is paused, e.g. "BRB" "Starting soon".'),
) -> None:
    """Pause the look while one of these OBS scenes is live (nobody on camera)."""
    names = [check_scene_name(s) for s in scenes]

    def change(s: ObsSettings) -> ObsSettings:
        looks = {k: v for k, v in s.scene_looks.items() if k not in names}
        return replace(s, scene_looks=looks, pause_scenes=tuple(dict.fromkeys([*s.pause_scenes, *names])))

    _show(ConfigStore().update_obs(change))


@obs_app.command("unmap")
def unmap_scenes(scenes: list[str] = typer.Argument(..., help="Scenes to forget.")) -> None:
    """Forget OBS scenes (their look or pause)."""
    store = ConfigStore()
    current = store.load().obs
    unknown = [s for s in scenes if s not in current.scene_looks and s not in current.pause_scenes
               and s not in current.scene_backgrounds]
    if unknown:
        raise SettingError(f"not mapped: {', '.join(map(repr, unknown))}")

    def change(s: ObsSettings) -> ObsSettings:
        return replace(s, scene_looks={k: v for k, v in s.scene_looks.items() if k not in scenes},
                       pause_scenes=tuple(x for x in s.pause_scenes if x not in scenes),
                       scene_backgrounds={k: v for k, v in s.scene_backgrounds.items() if k not in scenes})

    _show(store.update_obs(change))
