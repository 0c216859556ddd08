"""The control panel's stable address: one port and one token per user, kept in the settings file.

An OBS Custom Browser Dock (or a Stream Deck button) stores a URL once, so the URL must not change
between runs. The first run picks a free port in ``PORT_RANGE`` (below the ephemeral range, so an
outgoing connection never takes it meanwhile) and a random token, and stores both;
``livefilter control --new-token`` replaces the token (the old URL stops working).
"""

from __future__ import annotations

import random
import secrets
import socket
from dataclasses import dataclass, replace
from urllib.parse import quote

from livefilter.settings.userconfig import ConfigStore, ControlSettings, UserConfig

HOST = "127.0.0.1"
PORT_RANGE = (20000, 29999)
PORT_TRIES = 64


@dataclass(frozen=True)
class Endpoint:
    port: int
    token: str

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """The full control panel (token included: keep it private)."""
        return panel_url(self.port, self.token)

    @property
    def dock_url(self) -> str:
        """The compact panel for an OBS Custom Browser Dock."""
        return panel_url(self.port, self.token, dock=True)


def panel_url(port: int, token: str, *, dock: bool = False) -> str:
    return f"http://{HOST}:{port}/?token={quote(token, safe='')}" + ("&layout=dock" if dock else "")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def pick_free_port(rng: random.Random | None = None) -> int:
    rng = rng or random.SystemRandom()
    for _ in range(PORT_TRIES):
        port = rng.randint(*PORT_RANGE)
        if port_is_free(port):
            return port
    raise OSError(f"no free port found in {PORT_RANGE[0]}..{PORT_RANGE[1]}")


def new_token() -> str:
    return secrets.token_urlsafe(24)


def stable_endpoint(store: ConfigStore | None = None) -> Endpoint:
    """This user's port and token, created (and saved) on first use."""
    store = store or ConfigStore()
    control = store.load().control
    if control.port is None or control.token is None:
        def fill(config: UserConfig) -> UserConfig:
            c = config.control
            return replace(config, control=ControlSettings(
                c.port if c.port is not None else pick_free_port(),
                c.token if c.token is not None else new_token()))

        control = store.update(fill).control
    assert control.port is not None and control.token is not None
    return Endpoint(control.port, control.token)


def rotate_token(store: ConfigStore | None = None) -> Endpoint:
    """A new token (the port stays); every saved URL with the old token stops working."""
    store = store or ConfigStore()
    stable_endpoint(store)
    control = store.update_control(token=new_token())
    assert control.port is not None and control.token is not None
    return Endpoint(control.port, control.token)


def set_port(port: int, store: ConfigStore | None = None) -> Endpoint:
    store = store or ConfigStore()
    stable_endpoint(store)
    control = store.update_control(port=port)
    assert control.port is not None and control.token is not None
    return Endpoint(control.port, control.token)
