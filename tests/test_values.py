"""The value objects behave as the frozen, slotted dataclasses the API promises.

Success, Failure, Target, Header and ResponseHead have hand-written ``__init__``
methods (faster than the generated ones); they must accept exactly what the
generated ones accept and build the same objects.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_core import Failure, Header, ResponseHead, Success, Target

# Reference classes: the same fields, with the __init__ dataclasses generates.


@dataclasses.dataclass(frozen=True, slots=True)
class GeneratedSuccess:
    value: bytes


@dataclasses.dataclass(frozen=True, slots=True)
class GeneratedFailure:
    code: int
    message: str


@dataclasses.dataclass(frozen=True, slots=True)
class GeneratedTarget:
    service: str
    handler: str
    key: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class GeneratedHeader:
    key: str
    value: str


@dataclasses.dataclass(frozen=True, slots=True)
class GeneratedResponseHead:
    status_code: int
    headers: list[Header]

    def __hash__(self) -> int:
        return hash((self.status_code, tuple(self.headers)))


PAIRS = [
    (Success, GeneratedSuccess),
    (Failure, GeneratedFailure),
    (Target, GeneratedTarget),
    (Header, GeneratedHeader),
    (ResponseHead, GeneratedResponseHead),
]


@pytest.mark.parametrize(("cls", "generated"), PAIRS, ids=lambda c: c.__name__)
def test_same_signature_as_the_generated_init(cls: Any, generated: Any) -> None:
    assert inspect.signature(cls).parameters == inspect.signature(generated).parameters
    assert cls.__match_args__ == generated.__match_args__
    assert [f.name for f in dataclasses.fields(cls)] == [f.name for f in dataclasses.fields(generated)]
    assert not hasattr(cls(*_arguments(cls)), "__dict__")


def _arguments(cls: Any) -> tuple[Any, ...]:
    return {  # type: ignore[index,no-any-return]
        Success: (b"v",),
        Failure: (500, "m"),
        Target: ("S", "h", "k"),
        Header: ("k", "v"),
        ResponseHead: (200, [Header("content-type", "t")]),
    }[cls]


@given(st.binary(), st.integers(0, 0xFFFF), st.text(), st.text(), st.text(), st.one_of(st.none(), st.text()))
def test_built_by_position_and_keyword_like_the_generated_init(
    value: bytes, code: int, message: str, service: str, handler: str, key: str | None
) -> None:
    built = [
        (Success(value), Success(value=value), GeneratedSuccess(value)),
        (Failure(code, message), Failure(message=message, code=code), GeneratedFailure(code, message)),
        (
            Target(service, handler, key),
            Target(service, handler=handler, key=key),
            GeneratedTarget(service, handler, key),
        ),
        (Target(service, handler), Target(handler=handler, service=service), GeneratedTarget(service, handler)),
        (Header(service, handler), Header(value=handler, key=service), GeneratedHeader(service, handler)),
        (
            ResponseHead(code, [Header(service, handler)]),
            ResponseHead(headers=[Header(service, handler)], status_code=code),
            GeneratedResponseHead(code, [Header(service, handler)]),
        ),
    ]
    for ours, by_keyword, reference in built:
        assert ours == by_keyword
        assert dataclasses.astuple(ours) == dataclasses.astuple(reference)
        assert repr(ours) == repr(reference).replace("Generated", "")
        assert hash(ours) == hash(by_keyword)
        assert pickle.loads(pickle.dumps(ours)) == ours
        assert copy.copy(ours) == ours


@pytest.mark.parametrize(("cls", "generated"), PAIRS, ids=lambda c: c.__name__)
def test_frozen(cls: Any, generated: Any) -> None:
    value = cls(*_arguments(cls))
    for field in dataclasses.fields(cls):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field.name, None)
    assert dataclasses.replace(value) == value


@pytest.mark.parametrize(("cls", "generated"), PAIRS, ids=lambda c: c.__name__)
def test_wrong_arguments_fail_as_with_the_generated_init(cls: Any, generated: Any) -> None:
    for args, kwargs in [((), {}), ((*_arguments(cls), "extra", "more"), {}), (_arguments(cls), {"nope": 1})]:
        with pytest.raises(TypeError):
            generated(*args, **kwargs)
        with pytest.raises(TypeError):
            cls(*args, **kwargs)
