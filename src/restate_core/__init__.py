"""restate-core: a pure-Python, sans-IO implementation of the Restate SDK core.

The public API is re-exported here; see the project README for the contract.
"""

from __future__ import annotations

from ._errors import SuspendedError, VMError
from ._values import (
    VOID,
    EntryRetryInfo,
    Executed,
    Failure,
    Header,
    Input,
    NonEmptyValue,
    NotExecuted,
    ResponseHead,
    RetryableFailure,
    StateKeys,
    Success,
    Target,
    Value,
    Void,
)
from .identity import IdentityKeyError, IdentityVerificationError, IdentityVerifier
from .retries import RetryPolicy
from .vm import CoreVM

__all__ = [
    "VOID",
    "CoreVM",
    "EntryRetryInfo",
    "Executed",
    "Failure",
    "Header",
    "IdentityKeyError",
    "IdentityVerificationError",
    "IdentityVerifier",
    "Input",
    "NonEmptyValue",
    "NotExecuted",
    "ResponseHead",
    "RetryPolicy",
    "RetryableFailure",
    "StateKeys",
    "Success",
    "SuspendedError",
    "Target",
    "VMError",
    "Value",
    "Void",
]
