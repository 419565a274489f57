"""Argument checks shared by the journal models: wrong types raise TypeError, bad values ValueError."""

from __future__ import annotations

from datetime import timedelta

from .._values import Failure, Success, Target

__all__ = ["as_bytes", "bad_target", "check_duration", "check_failure", "check_non_empty_value", "check_target", "utf8"]


def utf8(text: str, what: str) -> bytes:
    """``text`` encoded as UTF-8; TypeError unless it is a str."""
    try:
        return text.encode()
    except AttributeError:
        raise TypeError(f"{what} must be str, not {type(text).__name__}") from None


def check_str(text: str, what: str) -> str:
    if isinstance(text, str):
        return text
    raise TypeError(f"{what} must be str, not {type(text).__name__}")


def check_handle(handle: int) -> None:
    """TypeError unless ``handle`` is an int (what the ``sys_*`` calls return)."""
    if not isinstance(handle, int):
        raise TypeError(f"handle must be an int, not {type(handle).__name__}")


def as_bytes(data: bytes | bytearray | memoryview, what: str) -> bytes:
    """``data`` as ``bytes``; TypeError unless it is bytes-like."""
    if data.__class__ is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be bytes-like, not {type(data).__name__}")


def check_failure(failure: Failure) -> Failure:
    """``failure`` if its code fits the protocol's u16 and its message is a str."""
    if not 0 <= failure.code <= 0xFFFF:
        raise ValueError(f"a failure code must be within 0..65535, got {failure.code}")
    if not isinstance(failure.message, str):
        raise TypeError(f"a failure message must be str, not {type(failure.message).__name__}")
    return failure


def check_non_empty_value(value: Success | Failure, what: str) -> Success | Failure:
    """``value`` if it is a ``Success`` (with bytes-like content) or a valid ``Failure``."""
    if value.__class__ is Success:
        content = value.value
        if content.__class__ is bytes or isinstance(content, (bytearray, memoryview)):
            return value
        raise TypeError(f"Success.value must be bytes-like, not {type(content).__name__}")
    if value.__class__ is Failure:
        return check_failure(value)
    raise TypeError(f"{what} must be Success or Failure, not {type(value).__name__}")


def check_target(target: Target) -> Target:
    """``target`` if it is a ``Target`` with str service and handler, and a str or ``None`` key."""
    if target.__class__ is not Target:
        raise TypeError(f"target must be a Target, not {type(target).__name__}")
    if not (isinstance(target.service, str) and isinstance(target.handler, str)) or not (
        target.key is None or isinstance(target.key, str)
    ):
        raise bad_target(target)
    return target


def bad_target(target: Target) -> TypeError:
    """The error for a ``Target`` whose fields are not all str (``key`` may be ``None``)."""
    kinds = ", ".join(f"{name}={type(getattr(target, name)).__name__}" for name in ("service", "handler", "key"))
    return TypeError(f"Target.service and Target.handler must be str, Target.key str or None; got {kinds}")


def check_duration(duration: timedelta, what: str) -> timedelta:
    if not isinstance(duration, timedelta):
        raise TypeError(f"{what} must be a datetime.timedelta, not {type(duration).__name__}")
    if duration < timedelta(0):
        raise ValueError(f"{what} must not be negative, got {duration}")
    return duration
