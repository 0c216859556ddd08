"""Where OBS's WebSocket server is (``--obs ws://HOST:PORT``) and its password (``--obs-password-file``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from livefilter.errors import SettingError
from livefilter.infra.strict_json import UnreadableFile, read_regular

DEFAULT_PORT = 4455
MAX_PASSWORD_BYTES = 4096


@dataclass(frozen=True)
class ObsTarget:
    host: str
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> "ObsTarget":
        """``ws://HOST[:PORT]`` (obs-websocket 5 speaks plain WebSocket; OBS's default port is 4455)."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError:
            raise SettingError(f"--obs must look like ws://127.0.0.1:4455, got {url!r}") from None
        if parts.scheme != "ws" or not parts.hostname or parts.path not in ("", "/") or parts.query \
                or parts.username or parts.password:
            raise SettingError(f"--obs must look like ws://127.0.0.1:4455, got {url!r}")
        if port == 0:
            raise SettingError(f"--obs port must be 1-65535, got 0 in {url!r}")
        return cls(parts.hostname, DEFAULT_PORT if port is None else port, password)


def read_password_file(path: str | Path) -> str:
    """The password on the file's first line (a trailing newline is not part of it)."""
    p = Path(path).expanduser()
    try:
        raw = read_regular(p, MAX_PASSWORD_BYTES)
    except FileNotFoundError:
        raise SettingError(f"cannot read the OBS password file {p}: it does not exist") from None
    except UnreadableFile as e:
        raise SettingError(f"cannot read the OBS password file {p}: {e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SettingError(f"the OBS password file {p} is not UTF-8 text") from None
    lines = text.splitlines()
    password = lines[0].rstrip("\r\n") if lines else ""
    if not password:
        raise SettingError(f"the OBS password file {p} is empty")
    return password
