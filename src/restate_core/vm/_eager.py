"""Eager state: the state values the runtime sent along with the StartMessage."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from .._errors import INTERNAL, VMError

__all__ = ["UNKNOWN", "EagerState"]


class _Unknown:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


#: ``EagerState.get`` result when only the runtime knows the value (partial state).
UNKNOWN: Final = _Unknown()


class EagerState:
    """Known state values: ``bytes`` for a value, ``None`` for a key known to be empty.

    The values the runtime sent stay in the StartMessage's own map (``base``,
    read-only, looked up on demand); what the handler sets or clears goes into
    ``values``, which takes precedence. ``partial`` means the runtime may hold
    keys that are in neither; then such a key is ``UNKNOWN`` and must be
    fetched. Once complete (not partial), a key in neither is known to be
    empty. Set, clear and clear-all update the state (also while replaying);
    values fetched from the runtime do not.
    """

    __slots__ = ("base", "partial", "values")

    def __init__(self, values: dict[str, bytes | None] | None = None, partial: bool = True) -> None:
        self.values: dict[str, bytes | None] = {} if values is None else values
        #: The runtime's values, as a mapping of str keys to bytes (a protobuf map), if any.
        self.base: Mapping[str, bytes] | None = None
        self.partial = partial

    def use(self, base: Mapping[str, bytes], partial: bool) -> None:
        """Take the eager state of a StartMessage read as a view: ``base`` maps keys to values."""
        if base:
            self.base = base
        self.partial = partial

    def load(self, entries: Sequence[Any], partial: bool) -> None:
        """Take the eager state a StartMessage carries (``state_map`` entries with bytes ``key`` and
        ``value``) and whether it is ``partial``.

        Raises ``VMError`` (500) for a key that is not UTF-8.
        """
        if entries:
            values = self.values
            for entry in entries:
                try:
                    values[entry.key.decode("utf-8")] = entry.value
                except UnicodeDecodeError as error:
                    raise VMError(INTERNAL, f"Cannot convert a eager state key into UTF-8 String: {error}") from None
        self.partial = partial

    def get(self, key: str) -> bytes | _Unknown | None:
        """The value, ``None`` if known empty, or ``UNKNOWN``."""
        values = self.values
        if key in values:
            return values[key]
        base = self.base
        if base is not None and key in base:
            return base[key]
        return UNKNOWN if self.partial else None

    def keys(self) -> list[str] | None:
        """All keys that hold a value, sorted, or ``None`` if the state is partial.

        A key cleared by ``clear`` is not listed. (The Rust core lists it; we
        answer what the runtime itself would answer.)
        """
        if self.partial:
            return None
        values = self.values
        keys = [key for key, value in values.items() if value is not None]
        if self.base is not None:
            keys += [key for key in self.base if key not in values]
        return sorted(keys)

    def set(self, key: str, value: bytes) -> None:
        self.values[key] = value

    def clear(self, key: str) -> None:
        self.values[key] = None

    def clear_all(self) -> None:
        self.values.clear()
        self.base = None
        self.partial = False
