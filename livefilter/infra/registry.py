"""One registry type for every kind of stage chosen by name (backends, detectors, inputs, outputs).

A :class:`Registry` holds frozen spec dataclasses by name, in registration order (which is also
their matching order and ``auto`` order), and gives every kind the same verbs: ``register``,
``specs``, ``names``, ``find``, ``check`` (the one "must be a, b or c" error), ``first`` (the
first spec a predicate accepts) and ``help_items`` (``name (note)`` for an option's help).
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from livefilter.errors import SettingError
from livefilter.infra.terminal_text import listed

S = TypeVar("S")


class Registry(dict, Generic[S]):
    """Specs of one kind of stage by name (a ``dict``: tests may patch entries), in registration order."""

    def __init__(self, what: str, key: str = "name", *, reserved: tuple[str, ...] = (), forbidden: str = "",
                 error: type[Exception] = SettingError, before_read: Callable[[], None] | None = None) -> None:
        """``what`` names the kind in messages ("detector"); ``key`` is the spec field that names an
        entry; ``reserved`` names that no entry may take ("auto"); ``forbidden`` characters no name may
        hold (besides whitespace); ``before_read`` runs before every read (plugins loaded on first use)."""
        super().__init__()
        self.what, self.key, self.reserved, self.forbidden = what, key, reserved, forbidden
        self.error = error
        self._before_read = before_read

    def copy(self) -> "Registry[S]":
        """The same registry, entries copied (a test's scratch registry)."""
        new = Registry(self.what, self.key, reserved=self.reserved, forbidden=self.forbidden, error=self.error,
                       before_read=self._before_read)
        new.update(self)
        return new

    def name_of(self, spec: S) -> str:
        return getattr(spec, self.key)

    def register(self, spec: S) -> S:
        """Add (or replace) an entry; a new one comes after those registered before it."""
        name = self.name_of(spec)
        if (not isinstance(name, str) or not name or name in self.reserved
                or any(c.isspace() or c in self.forbidden for c in name)):
            raise ValueError(f"invalid {self.what} {self.key} {name!r}")
        self[name] = spec
        return spec

    def _ready(self) -> None:
        if self._before_read is not None:
            self._before_read()

    def specs(self) -> list[S]:
        """Every entry, in registration order."""
        self._ready()
        return list(self.values())

    def names(self) -> tuple[str, ...]:
        return tuple(self.name_of(s) for s in self.specs())

    def find(self, name: object) -> S | None:
        """The entry called ``name``, or None (also for a name that is not a string)."""
        self._ready()
        return self.get(name) if isinstance(name, str) else None

    def check(self, name: object, label: str | None = None) -> S:
        """The entry called ``name``, or the one-line error naming every entry."""
        spec = self.find(name)
        if spec is None:
            raise self.error(f"{label or self.what} must be {listed(self.names())}, got {name!r}")
        return spec

    def first(self, accepts: Callable[[S], bool]) -> S | None:
        """The first entry (registration order) that ``accepts`` takes."""
        return next((s for s in self.specs() if accepts(s)), None)

    def help_items(self, note: Callable[[S], str]) -> tuple[str, ...]:
        """``name (note)`` per entry, for an option's help."""
        return tuple(f"{self.name_of(s)} ({note(s)})" if note(s) else self.name_of(s) for s in self.specs())
