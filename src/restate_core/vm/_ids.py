"""Derived identifiers and times: awakeable ids, the random seed, wake-up times."""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Callable
from datetime import timedelta

__all__ = ["awakeable_id", "epoch_millis_after", "sha256_random_seed"]

_U32 = struct.Struct(">I")
_unpack_u64 = struct.Struct(">Q").unpack_from
_sha256 = hashlib.sha256


def awakeable_id(prefix: str, invocation_id: bytes, index: int) -> str:
    """``prefix`` + unpadded URL-safe base64 of the invocation id and the big-endian u32 index.

    V1/V2 use prefix ``prom_1`` and the entry index; V5+ ``sign_1`` and the signal id.
    """
    raw = invocation_id + _U32.pack(index)
    return prefix + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sha256_random_seed(invocation_id: bytes) -> int:
    """The first 8 bytes of SHA-256(invocation id), big-endian (V1/V2 and V5)."""
    seed: int = _unpack_u64(_sha256(invocation_id).digest())[0]
    return seed


def epoch_millis_after(clock: Callable[[], float], delay: timedelta) -> int:
    """Milliseconds since the UNIX epoch at ``clock() + delay``, truncated."""
    now_us = round(clock() * 1_000_000)
    delay_us = (delay.days * 86_400 + delay.seconds) * 1_000_000 + delay.microseconds
    return (now_us + delay_us) // 1000
