"""The invocation state machine: ``CoreVM`` and its two journal models."""

from __future__ import annotations

from . import _current, _legacy  # noqa: F401  (they register the versions they speak)
from ._core import CoreVM

__all__ = ["CoreVM"]
