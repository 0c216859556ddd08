"""What ``livefilter obs dock`` and ``livefilter obs script`` print."""

from __future__ import annotations

from pathlib import Path

from livefilter.control.endpoint import Endpoint

SCRIPT_PATH = Path(__file__).resolve().parent / "scripts" / "livefilter_obs.py"


def dock_steps(endpoint: Endpoint) -> list[str]:
    return [
        "Start livefilter (`livefilter run ...`); the dock shows the panel while it runs.",
        "In OBS (28 or newer): Docks → Custom Browser Docks…",
        "Dock Name: livefilter — URL: the address above — Apply.",
        "Drag the new dock where you want it; it keeps its place and its URL across runs.",
        "Keep the URL private (it holds your token); `livefilter control --new-token` replaces it.",
    ]


def script_steps() -> list[str]:
    return [
        "In OBS: Tools → Scripts → Python Settings: point it at a Python 3 install.",
        "Tools → Scripts → + and pick the file above.",
        "Settings → Hotkeys: set keys for 'livefilter: next look', 'previous look', 'strength up',"
        " 'strength down' and 'pause / resume'.",
        "The script finds the running livefilter by itself (or paste the dock URL into its settings).",
    ]
