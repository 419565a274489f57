"""Case-insensitive header lookup over the header shapes SDKs have at hand.

Accepted shapes (``HeadersLike``):

* a mapping of names to values (``dict``, Starlette's ``Headers``, ...);
* an iterable of ``(name, value)`` pairs, each ``str`` or ``bytes`` (ASGI's
  ``scope["headers"]``, ``http.client`` header lists, ...);
* any other object with ``get(name) -> str | None`` (``email.message.Message``,
  WSGI-style wrappers, ...); such an object is trusted to match names itself.

Bytes are decoded as Latin-1, as HTTP/1.1 and ASGI define header bytes. When a
name occurs more than once the first occurrence wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

__all__ = ["HeadersLike", "SupportsGet", "header_value"]


@runtime_checkable
class SupportsGet(Protocol):
    """Anything with a ``get(name)`` that returns the header's value or ``None``."""

    def get(self, name: str, /) -> str | None: ...


HeadersLike = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]] | SupportsGet


def _text(value: str | bytes | bytearray | memoryview) -> str:
    if value.__class__ is str or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("latin-1")
    raise TypeError(f"header names and values must be str or bytes, not {type(value).__name__}")


#: Header names as ASCII bytes, for comparing with ASCII bytes keys as they come (a handful of names).
_NAME_BYTES: dict[str, bytes | None] = {}


def _name_bytes(name: str) -> bytes | None:
    try:
        encoded: bytes | None = name.encode("ascii")
    except UnicodeEncodeError:
        encoded = None  # no ASCII key can match it
    if len(_NAME_BYTES) < 64:
        _NAME_BYTES[name] = encoded
    return encoded


#: Stands for "not looked up yet" in ``_scan``.
_LATER: Any = object()


def _scan(pairs: Iterable[tuple[object, object]], name: str) -> str | None:
    # ``name`` is lower case. ASGI gives bytes and most other sources str: both are compared
    # without conversion; anything else goes through _text.
    name_bytes: bytes | None = _LATER  # (the name as bytes, once a bytes key comes)
    for pair in pairs:
        if pair.__class__ is tuple and len(pair) == 2:
            key, value = pair
        else:
            try:
                key, value = pair
            except (TypeError, ValueError):
                raise TypeError(f"headers must be (name, value) pairs, got {pair!r}") from None
        if key.__class__ is str:
            if key.lower() == name:
                return value if value.__class__ is str else _text(value)  # type: ignore[arg-type]
        elif key.__class__ is bytes and key.isascii():  # (bytes.lower() folds ASCII letters only)
            if name_bytes is _LATER:
                name_bytes = _NAME_BYTES[name] if name in _NAME_BYTES else _name_bytes(name)
            if key.lower() == name_bytes:
                return value.decode("latin-1") if value.__class__ is bytes else _text(value)  # type: ignore[arg-type]
        elif _text(key).lower() == name:  # type: ignore[arg-type]
            return _text(value)  # type: ignore[arg-type]
    return None


def header_value(headers: HeadersLike, name: str) -> str | None:
    """Return the value of header ``name`` (matched case-insensitively), or ``None``.

    Raises ``TypeError`` when ``headers`` has none of the accepted shapes.
    """
    return lookup(headers, name.lower())


def lookup(headers: HeadersLike, name: str) -> str | None:
    """``header_value`` for a ``name`` already in lower case."""
    if headers.__class__ is list or headers.__class__ is tuple:  # ASGI: the common case first
        return _scan(headers, name)
    if headers.__class__ is dict or isinstance(headers, Mapping):
        return _scan(headers.items(), name)
    if isinstance(headers, (str, bytes, bytearray)):
        raise TypeError("headers must be a mapping, (name, value) pairs or an object with get()")
    get = getattr(headers, "get", None)
    if callable(get):
        value = get(name)
        return None if value is None else _text(value)
    if isinstance(headers, Iterable):
        return _scan(headers, name)
    raise TypeError(
        f"headers must be a mapping, (name, value) pairs or an object with get(), not {type(headers).__name__}"
    )
