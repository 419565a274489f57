"""The invocation state machine: ``CoreVM`` and its two journal models."""

from __future__ import annotations

from . import _legacy  # noqa: F401  (registers V1/V2)
from ._core import CoreVM

__all__ = ["CoreVM"]
