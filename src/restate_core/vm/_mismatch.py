"""Journal mismatch detection and the messages that explain it.

While replaying, each syscall must find, at the same position of the journal,
the entry (V1/V2) or command (V5+) that it would write now. A ``Comparison``
knows which fields of one message type take part in that check (results,
times and completion ids of some types do not) and, when they differ, names
each differing field with the recorded and the current value.

Payloads are shown as text when they are UTF-8, as bytes otherwise, and cut
after ``_PREVIEW`` characters so that a megabyte value does not end up in an
error message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from .._errors import JOURNAL_MISMATCH, VMError

__all__ = ["Comparison", "describe", "field_mismatch", "type_mismatch"]

_PREVIEW = 64
_PLAIN, _ONEOF, _OPTIONAL = 0, 1, 2

_HINT = (
    "The handler took a different path than in the recorded execution: its code is not deterministic, "
    "or it changed without being registered as a new deployment."
)


def _preview_bytes(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if len(data) <= _PREVIEW:
            return repr(data)
        return f"{data[:_PREVIEW]!r}... ({len(data)} bytes)"
    if len(text) <= _PREVIEW:
        return repr(text)
    return f"{text[:_PREVIEW]!r}... ({len(data)} bytes)"


def describe(value: object) -> str:
    """A short human-readable rendering of a field value."""
    if isinstance(value, bytes):
        return _preview_bytes(value)
    if isinstance(value, str):
        if len(value) <= _PREVIEW:
            return repr(value)
        return f"{value[:_PREVIEW]!r}... ({len(value)} characters)"
    if isinstance(value, Message):
        descriptor = value.DESCRIPTOR
        fields: Any = value  # the generated classes of both protocol versions
        if descriptor.name == "Failure":
            return f"failure [{fields.code}] {describe(fields.message)}"
        if descriptor.name == "Value":
            return describe(fields.content)
        if descriptor.name in ("Empty", "Void"):
            return "empty"
        if descriptor.name == "Header":
            return f"{fields.key}: {fields.value}"
        parts = [f"{field.name}={describe(field_value)}" for field, field_value in value.ListFields()]
        return f"{descriptor.name}({', '.join(parts)})"
    if isinstance(value, Sequence) or (hasattr(value, "__len__") and hasattr(value, "__iter__")):
        return "[" + ", ".join(describe(item) for item in value) + "]"
    return repr(value)


class Comparison:
    """The replay check of one message type: which fields must be equal."""

    __slots__ = ("_plan", "fields")

    def __init__(self, cls: type[Message], fields: Sequence[str]) -> None:
        descriptor = cls.DESCRIPTOR
        plan: list[tuple[str, int]] = []
        for name in fields:
            if name in descriptor.oneofs_by_name and not name.startswith("_"):
                plan.append((name, _ONEOF))
            elif descriptor.fields_by_name[name].has_presence and descriptor.fields_by_name[name].message_type is None:
                plan.append((name, _OPTIONAL))
            else:
                plan.append((name, _PLAIN))
        self._plan = tuple(plan)
        self.fields = tuple(fields)

    def differences(self, recorded: Message, current: Message) -> list[tuple[str, str, str]]:
        """``(field, recorded, current)`` renderings for every compared field that differs."""
        found = []
        for name, kind in self._plan:
            if kind == _ONEOF:
                recorded_member = recorded.WhichOneof(name)
                current_member = current.WhichOneof(name)
                if recorded_member != current_member or (
                    recorded_member is not None
                    and getattr(recorded, recorded_member) != getattr(current, recorded_member)
                ):
                    found.append((name, _oneof_text(recorded, recorded_member), _oneof_text(current, current_member)))
            elif kind == _OPTIONAL:
                recorded_set = recorded.HasField(name)
                current_set = current.HasField(name)
                if recorded_set != current_set or getattr(recorded, name) != getattr(current, name):
                    found.append(
                        (
                            name,
                            describe(getattr(recorded, name)) if recorded_set else "unset",
                            describe(getattr(current, name)) if current_set else "unset",
                        )
                    )
            else:
                recorded_value = getattr(recorded, name)
                current_value = getattr(current, name)
                if recorded_value != current_value:
                    found.append((name, describe(recorded_value), describe(current_value)))
        return found

    def matches(self, recorded: Message, current: Message) -> bool:
        """True if every compared field is equal."""
        for name, kind in self._plan:
            if kind == _ONEOF:
                member = recorded.WhichOneof(name)
                if member != current.WhichOneof(name) or (
                    member is not None and getattr(recorded, member) != getattr(current, member)
                ):
                    return False
            elif kind == _OPTIONAL:
                if recorded.HasField(name) != current.HasField(name) or getattr(recorded, name) != getattr(
                    current, name
                ):
                    return False
            elif getattr(recorded, name) != getattr(current, name):
                return False
        return True


def _oneof_text(message: Message, member: str | None) -> str:
    if member is None:
        return "unset"
    return f"{member} {describe(getattr(message, member))}"


def field_mismatch(
    position: str,
    what: str,
    comparison: Comparison,
    recorded: Message,
    current: Message,
) -> VMError:
    """570 for an entry of the right type whose compared fields differ.

    ``position`` names the place in the journal (e.g. ``entry 3``), ``what``
    the operation (e.g. ``set state``).
    """
    lines = [
        f"Journal mismatch at {position} ({what}, {type(recorded).__name__}): "
        "the recorded entry differs from what the code does now."
    ]
    for name, recorded_text, current_text in comparison.differences(recorded, current):
        lines.append(f"  {name}: recorded {recorded_text}, now {current_text}")
    lines.append(_HINT)
    return VMError(JOURNAL_MISMATCH, "\n".join(lines))


def type_mismatch(position: str, recorded: str, current: str) -> VMError:
    """570 for a journal entry of another type than the one the code produces now."""
    return VMError(
        JOURNAL_MISMATCH,
        f"Journal mismatch at {position}: the journal recorded {recorded}, but the code now does {current}.\n{_HINT}",
    )


def missing_entry(position: str, current: str) -> VMError:
    """570 for a syscall replayed past the end of the recorded journal."""
    return VMError(
        JOURNAL_MISMATCH,
        f"Journal mismatch at {position}: the code now does {current}, "
        f"but the recorded journal has no more entries to replay.\n{_HINT}",
    )
