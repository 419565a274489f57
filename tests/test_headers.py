"""header_value: every accepted header shape, against a plain reference lookup."""

from __future__ import annotations

import email.message
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from restate_core.headers import header_value

latin1 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=12)
names = st.one_of(latin1, st.sampled_from(["content-type", "Content-Type", "CONTENT-TYPE", "x-restate-jwt-v1"]))


def reference(pairs: list[tuple[str, str]], name: str) -> str | None:
    for key, value in pairs:
        if key.lower() == name.lower():
            return value
    return None


@given(st.lists(st.tuples(names, latin1), max_size=6), names, st.sampled_from(["str", "bytes", "mixed", "lists"]))
def test_pairs_in_every_encoding_agree_with_the_reference(pairs: list[tuple[str, str]], name: str, shape: str) -> None:
    if shape == "str":
        given_pairs: list[object] = list(pairs)
    elif shape == "bytes":
        given_pairs = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]
    elif shape == "mixed":
        given_pairs = [
            (k.encode("latin-1"), v) if i % 2 else (k, v.encode("latin-1")) for i, (k, v) in enumerate(pairs)
        ]
    else:  # ASGI servers also hand out [name, value] lists
        given_pairs = [[k.encode("latin-1"), bytearray(v.encode("latin-1"))] for k, v in pairs]
    assert header_value(given_pairs, name) == reference(pairs, name)  # type: ignore[arg-type]
    assert header_value(tuple(given_pairs), name) == reference(pairs, name)  # type: ignore[arg-type]
    assert header_value(iter(given_pairs), name) == reference(pairs, name)  # type: ignore[arg-type]


def test_mappings_and_objects_with_get() -> None:
    assert header_value({"Content-Type": "a"}, "content-type") == "a"
    assert header_value({b"content-type": b"b"}, "Content-Type") == "b"
    message = email.message.Message()
    message["Content-Type"] = "c"
    assert header_value(message, "content-type") == "c"

    class Headers:
        def get(self, name: str) -> str | None:
            return {"content-type": "d"}.get(name)

    assert header_value(Headers(), "Content-Type") == "d"
    assert header_value(Headers(), "x-missing") is None


def test_the_first_occurrence_wins_and_a_missing_name_is_none() -> None:
    pairs = [(b"X-A", b"1"), (b"x-a", b"2")]
    assert header_value(pairs, "x-a") == "1"
    assert header_value(pairs, "x-b") is None
    assert header_value([], "x-a") is None


def test_a_name_outside_latin1_matches_no_bytes_key() -> None:
    assert header_value([(b"x-\xe2\x82\xac", b"1")], "x-\u20ac") is None
    assert header_value([("x-\u20ac", "1")], "X-\u20ac") == "1"


@pytest.mark.parametrize("headers", ["content-type: x", b"content-type", 42, None])
def test_shapes_that_are_not_headers_raise_type_error(headers: object) -> None:
    with pytest.raises(TypeError):
        header_value(headers, "content-type")  # type: ignore[arg-type]


@pytest.mark.parametrize("pairs", [[("a", "b", "c")], [42], [("content-type", 1)], [(1, "b")]])
def test_malformed_pairs_raise_type_error(pairs: list[object]) -> None:
    with pytest.raises(TypeError):
        header_value([*pairs, ("content-type", "x")], "content-type")  # type: ignore[arg-type]


def test_mapping_subclasses_are_mappings() -> None:
    class Ordered(Mapping[str, str]):
        def __init__(self) -> None:
            self._items = {"Content-Type": "e"}

        def __getitem__(self, key: str) -> str:
            return self._items[key]

        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(self._items)

        def __len__(self) -> int:
            return len(self._items)

    assert header_value(Ordered(), "content-type") == "e"
