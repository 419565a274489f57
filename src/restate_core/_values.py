"""Immutable value objects of the public API.

All of them are frozen, slotted dataclasses: compared by value, hashable where
their fields are, and usable in ``match`` statements by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

__all__ = [
    "VOID",
    "EntryRetryInfo",
    "Executed",
    "Failure",
    "Header",
    "Input",
    "NonEmptyValue",
    "NotExecuted",
    "ResponseHead",
    "RetryableFailure",
    "StateKeys",
    "Success",
    "Target",
    "Value",
    "Void",
]


@dataclass(frozen=True, slots=True)
class Void:
    """An empty success (a state key with no value, a finished sleep, ...)."""

    def __repr__(self) -> str:
        return "VOID"


VOID = Void()


@dataclass(frozen=True, slots=True)
class Success:
    """A successful result carrying bytes (possibly empty)."""

    value: bytes

    def __init__(self, value: bytes) -> None:
        # The generated __init__ of a frozen dataclass goes through object.__setattr__; the
        # slot's own setter (taken from the class below it) does the same for less.
        _set_success_value(self, value)


@dataclass(frozen=True, slots=True)
class Failure:
    """A terminal failure: a numeric code and a message."""

    code: int
    message: str

    def __init__(self, code: int, message: str) -> None:
        _set_failure_code(self, code)
        _set_failure_message(self, message)


@dataclass(frozen=True, slots=True)
class StateKeys:
    """The state keys of a virtual object, sorted (only from ``sys_state_get_keys``)."""

    keys: list[str]

    def __hash__(self) -> int:
        return hash(tuple(self.keys))


# Slot setters. The generated __init__ of a frozen dataclass sets each field through
# object.__setattr__, which is slow; the value objects built most often set their slots through
# these instead: Success, Failure, Target, Header and ResponseHead in their own __init__ (SDKs build
# them for every run result, output and call; the VM a Header for each header of every invocation's
# input, and a ResponseHead for every response), and the VM's internal builders below.
_object_new = object.__new__
_set_success_value = Success.__dict__["value"].__set__
_set_failure_code = Failure.__dict__["code"].__set__
_set_failure_message = Failure.__dict__["message"].__set__


def new_success(value: bytes) -> Success:
    """``Success(value)`` without the frozen-dataclass ``__init__``."""
    success = _object_new(Success)
    _set_success_value(success, value)
    return success


Value = Void | Success | Failure | StateKeys
NonEmptyValue = Success | Failure


@dataclass(frozen=True, slots=True)
class RetryableFailure:
    """A failed run attempt that the retry policy may retry."""

    failure: Failure
    attempt_duration: timedelta


@dataclass(frozen=True, slots=True)
class EntryRetryInfo:
    """How often, and for how long, the current run has been retried so far."""

    retry_count: int = 0
    retry_loop_duration: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class Executed:
    """``sys_run_enter`` result: the run is already journaled; do not execute it."""

    value: Success | Failure


@dataclass(frozen=True, slots=True)
class NotExecuted:
    """``sys_run_enter`` result: execute the run, then call ``sys_run_exit``."""

    retry_info: EntryRetryInfo = field(default_factory=EntryRetryInfo)


@dataclass(frozen=True, slots=True)
class Target:
    """The handler a call or send goes to; ``key`` for virtual objects and workflows."""

    service: str
    handler: str
    key: str | None = None

    def __init__(self, service: str, handler: str, key: str | None = None) -> None:
        _set_target_service(self, service)
        _set_target_handler(self, handler)
        _set_target_key(self, key)


_set_target_service = Target.__dict__["service"].__set__
_set_target_handler = Target.__dict__["handler"].__set__
_set_target_key = Target.__dict__["key"].__set__


@dataclass(frozen=True, slots=True)
class Header:
    """One HTTP or invocation header."""

    key: str
    value: str

    def __init__(self, key: str, value: str) -> None:
        _set_header_key(self, key)
        _set_header_value(self, value)


_set_header_key = Header.__dict__["key"].__set__
_set_header_value = Header.__dict__["value"].__set__


@dataclass(frozen=True, slots=True)
class ResponseHead:
    """Status and headers the SDK must answer the invocation request with."""

    status_code: int
    headers: list[Header]

    def __init__(self, status_code: int, headers: list[Header]) -> None:
        _set_status_code(self, status_code)
        _set_response_headers(self, headers)

    def __hash__(self) -> int:
        return hash((self.status_code, tuple(self.headers)))


_set_status_code = ResponseHead.__dict__["status_code"].__set__
_set_response_headers = ResponseHead.__dict__["headers"].__set__


@dataclass(frozen=True, slots=True)
class Input:
    """What ``sys_input`` returns: the invocation's identity and its input."""

    invocation_id: str
    random_seed: int
    key: str
    headers: list[Header]
    input: bytes

    def __hash__(self) -> int:
        return hash((self.invocation_id, self.random_seed, self.key, tuple(self.headers), self.input))


_set_executed_value = Executed.__dict__["value"].__set__
_set_input_fields = tuple(
    Input.__dict__[name].__set__ for name in ("invocation_id", "random_seed", "key", "headers", "input")
)


def new_executed(value: Success | Failure) -> Executed:
    """``Executed(value)`` without the frozen-dataclass ``__init__``."""
    executed = _object_new(Executed)
    _set_executed_value(executed, value)
    return executed


def new_input(invocation_id: str, random_seed: int, key: str, headers: list[Header], input: bytes) -> Input:
    """``Input(...)`` without the frozen-dataclass ``__init__``."""
    value = _object_new(Input)
    set_id, set_seed, set_key, set_headers, set_input = _set_input_fields
    set_id(value, invocation_id)
    set_seed(value, random_seed)
    set_key(value, key)
    set_headers(value, headers)
    set_input(value, input)
    return value
