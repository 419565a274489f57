"""Hand-written protobuf encoders for the messages on the VM's hot paths.

The VM writes a handful of message types over and over (state reads and
writes, runs, sleeps, calls, output). Building a protobuf object for each
costs more than the rest of a syscall together, so these functions write the
bytes directly. They produce exactly the bytes the generated classes produce
(proto3, fields in number order, default scalars omitted, oneof members and
message fields written whenever set); ``tests/test_wire.py`` proves it with
property tests against ``v2_pb2`` / ``v5_pb2`` for arbitrary field values.

Each function takes field values and returns the message body; field tags are
spelled out in comments as ``field number: wire type``.
"""

from __future__ import annotations

import struct
from typing import Final

from ._framing import SMALL_BODY, header_table

__all__ = [
    "bytes_field",
    "content_start",
    "failure",
    "packed_field",
    "read_varint",
    "single_field",
    "uint_field",
    "v2_call",
    "v2_get_state",
    "v2_output",
    "v2_output_value_frame",
    "v2_run",
    "v2_run_frame",
    "v2_set_state",
    "v2_sleep_frame",
    "v2_suspension_frame",
    "v5_call",
    "v5_get_eager_state",
    "v5_get_lazy_state",
    "v5_output",
    "v5_output_value_frame",
    "v5_propose_run_completion",
    "v5_propose_run_frame",
    "v5_run",
    "v5_run_frame",
    "v5_set_state",
    "v5_sleep",
    "v5_sleep_frame",
    "v5_suspension_frame",
    "varint",
]

_SMALL: Final = [bytes((n,)) for n in range(128)]
_pack_header = struct.Struct(">HHI").pack

# Message type codes of the frames built here (see v2.MessageType / v5.MessageType), and flags.
_V2_OUTPUT: Final = 0x0401
_V2_GET_STATE: Final = 0x0800
_V2_SET_STATE: Final = 0x0801
_V2_SLEEP: Final = 0x0C00
_V2_RUN: Final = 0x0C05
_V5_PROPOSE_RUN_COMPLETION: Final = 0x0005
_V5_OUTPUT: Final = 0x0401
_V5_SET_STATE: Final = 0x0403
_V5_GET_EAGER_STATE: Final = 0x0407
_V5_SLEEP: Final = 0x040C
_V5_RUN: Final = 0x0411
_V2_SUSPENSION: Final = 0x0002
_V5_SUSPENSION: Final = 0x0001
_COMPLETED: Final = 0x0001
_REQUIRES_ACK: Final = 0x8000

# The headers of those frames for bodies under SMALL_BODY bytes (see header_table).
_V2_OUTPUT_HEADERS: Final = header_table(_V2_OUTPUT)
_V2_GET_STATE_VALUE_HEADERS: Final = header_table(_V2_GET_STATE, _COMPLETED)
_V2_SET_STATE_HEADERS: Final = header_table(_V2_SET_STATE)
_V2_SLEEP_HEADERS: Final = header_table(_V2_SLEEP)
_V2_SLEEP_FRAME_START: Final = _V2_SLEEP_HEADERS[7] + b"\x08"  # a six-byte wake-up time follows
_V2_RUN_HEADERS: Final = header_table(_V2_RUN, _REQUIRES_ACK)
_V5_PROPOSE_RUN_COMPLETION_HEADERS: Final = header_table(_V5_PROPOSE_RUN_COMPLETION)
_V5_OUTPUT_HEADERS: Final = header_table(_V5_OUTPUT)
_V5_SET_STATE_HEADERS: Final = header_table(_V5_SET_STATE)
_V5_GET_EAGER_STATE_HEADERS: Final = header_table(_V5_GET_EAGER_STATE)
_V5_SLEEP_HEADERS: Final = header_table(_V5_SLEEP)
_V5_SLEEP_FRAME_START: Final = _V5_SLEEP_HEADERS[9] + b"\x08"  # a six-byte wake-up time and a one-byte id follow
_V5_RUN_HEADERS: Final = header_table(_V5_RUN)
_V2_SUSPENSION_HEADERS: Final = header_table(_V2_SUSPENSION)
_V5_SUSPENSION_HEADERS: Final = header_table(_V5_SUSPENSION)

#: ``[n]``: a one-byte tag and the one-byte length ``n`` (n < 128) of a length-delimited field.
_FIELD_1: Final = [b"\x0a" + size for size in _SMALL]  # field 1
_FIELD_2: Final = [b"\x12" + size for size in _SMALL]  # field 2
_FIELD_3: Final = [b"\x1a" + size for size in _SMALL]  # field 3
_FIELD_12: Final = [b"\x62" + size for size in _SMALL]  # field 12
_FIELD_14: Final = [b"\x72" + size for size in _SMALL]  # field 14
#: ``[n]``: a varint field of value ``n`` (n < 128).
_FIELD_1_VARINT: Final = [b"\x08" + value for value in _SMALL]  # field 1
_FIELD_11_VARINT: Final = [b"\x58" + value for value in _SMALL]  # field 11


def frame(message_type: int, flags: int, body: bytes) -> bytes:
    """The 8-byte header followed by ``body``."""
    return _pack_header(message_type, flags, len(body)) + body


#: The last four bytes of the last six-byte varint written, and the value >> 14 they encode.
_EPOCH_HIGH: tuple[int, bytes] = (-1, b"")
#: ``[n]``: the varint byte of the seven bits ``n`` with more bytes to follow.
_MORE: Final = [bytes((n | 0x80,)) for n in range(128)]


def _epoch_high(high: int) -> bytes:
    """The last four bytes of a six-byte varint whose value >> 14 is ``high``, kept for the next call."""
    global _EPOCH_HIGH
    known, encoded = _EPOCH_HIGH
    if known != high:
        encoded = bytes((high & 0x7F | 0x80, high >> 7 & 0x7F | 0x80, high >> 14 & 0x7F | 0x80, high >> 21))
        _EPOCH_HIGH = (high, encoded)  # (one tuple: a reader never sees bytes of another value)
    return encoded


def _epoch_millis(value: int) -> bytes:
    # The varint of 0x800000000 <= value < 0x40000000000: milliseconds since the epoch, of which
    # all but the last 14 bits change only every 16 seconds, so their four bytes are kept.
    known, encoded = _EPOCH_HIGH
    if known != value >> 14:
        encoded = _epoch_high(value >> 14)
    return b"".join((_MORE[value & 0x7F], _MORE[value >> 7 & 0x7F], encoded))


def varint(value: int) -> bytes:
    """Unsigned LEB128 encoding of ``value`` (0 <= value < 2**64)."""
    if value < 128:
        return _SMALL[value]
    if value < 0x4000:  # two bytes: completion ids and lengths up to 16383
        return bytes((value & 0x7F | 0x80, value >> 7))
    if 0x800000000 <= value < 0x40000000000:  # six bytes: milliseconds since the epoch, for a long while
        return _epoch_millis(value)
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def bytes_field(tag: bytes, data: bytes) -> bytes:
    """A length-delimited field (bytes, string or message) with a one-byte ``tag``, always written."""
    size = len(data)
    if size < 128:
        return tag + _SMALL[size] + data
    return tag + varint(size) + data


def uint_field(tag: bytes, value: int) -> bytes:
    """A varint field with a one-byte ``tag``; omitted when 0 (the proto3 default)."""
    if not value:
        return b""
    if value < 128:
        return tag + _SMALL[value]
    return tag + varint(value)


#: ``[n]``: the length 1 and the value ``n`` (n < 128): a packed field's content of one small value.
_ONE_SMALL: Final = [b"\x01" + value for value in _SMALL]


def packed_field(tag: bytes, values: list[int]) -> bytes:
    """A packed repeated varint field (proto3's encoding of ``repeated uint32``) with a one-byte
    ``tag``; omitted when ``values`` is empty."""
    if len(values) == 1:
        value = values[0]
        if 0 <= value < 128:  # (the usual: one small id)
            return tag + _ONE_SMALL[value]
        return bytes_field(tag, varint(value))
    if not values:
        return b""
    return bytes_field(tag, b"".join([varint(value) for value in values]))


def v2_suspension_frame(entry_indexes: list[int]) -> bytes:
    """SuspensionMessage V1/V2 ``{entry_indexes: 1}``, framed."""
    body = packed_field(b"\x0a", entry_indexes)
    return _V2_SUSPENSION_HEADERS[len(body)] + body if len(body) < SMALL_BODY else frame(_V2_SUSPENSION, 0, body)


def v5_suspension_frame(completions: list[int], signals: list[int], named_signals: list[str]) -> bytes:
    """SuspensionMessage V5+ ``{waiting_completions: 1, waiting_signals: 2, waiting_named_signals: 3}``,
    framed."""
    body = packed_field(b"\x0a", completions) + packed_field(b"\x12", signals)
    if named_signals:
        body += b"".join([bytes_field(b"\x1a", name.encode()) for name in named_signals])
    return _V5_SUSPENSION_HEADERS[len(body)] + body if len(body) < SMALL_BODY else frame(_V5_SUSPENSION, 0, body)


def _opt_bytes(tag: bytes, data: bytes) -> bytes:
    # A proto3 scalar bytes/string field: omitted when empty.
    return bytes_field(tag, data) if data else b""


def failure(code: int, message: str) -> bytes:
    """``Failure{code: 1: varint, message: 2: string}`` (V1/V2 and V5; V6 metadata omitted)."""
    return uint_field(b"\x08", code) + _opt_bytes(b"\x12", message.encode())


# ---- V1/V2 journal entries ----

# GetStateEntryMessage result kinds
V2_NO_RESULT: Final = 0
V2_EMPTY: Final = 1
V2_VALUE: Final = 2


def v2_get_state(key: bytes, result: int, value: bytes = b"") -> bytes:
    """``GetStateEntryMessage{key: 1, empty: 13 | value: 14}``."""
    body = _opt_bytes(b"\x0a", key)
    if result == V2_VALUE:
        return body + bytes_field(b"\x72", value)
    if result == V2_EMPTY:
        return body + b"\x6a\x00"
    return body


def v2_get_state_value_frame(key: bytes, value: bytes) -> bytes:
    """The whole frame (header included) of a completed ``GetStateEntryMessage`` with a value."""
    key_size = len(key)
    value_size = len(value)
    if 0 < key_size < 128 and value_size < 128:
        header = _V2_GET_STATE_VALUE_HEADERS[key_size + value_size + 4]
        return b"".join((header, _FIELD_1[key_size], key, _FIELD_14[value_size], value))
    return frame(_V2_GET_STATE, _COMPLETED, v2_get_state(key, V2_VALUE, value))


def v2_set_state(key: bytes, value: bytes) -> bytes:
    """``SetStateEntryMessage{key: 1, value: 3}``."""
    return _opt_bytes(b"\x0a", key) + _opt_bytes(b"\x1a", value)


def v2_set_state_frame(key: bytes, value: bytes) -> bytes:
    """The whole frame (header included) of a ``SetStateEntryMessage``."""
    key_size = len(key)
    value_size = len(value)
    if 0 < key_size < 128 and 0 < value_size < 128:
        header = _V2_SET_STATE_HEADERS[key_size + value_size + 4]
        return b"".join((header, _FIELD_1[key_size], key, _FIELD_3[value_size], value))
    return frame(_V2_SET_STATE, 0, v2_set_state(key, value))


def v2_output(value: bytes | None, failure_body: bytes = b"") -> bytes:
    """``OutputEntryMessage{value: 14 | failure: 15}``; ``value=None`` means the failure."""
    if value is None:
        return bytes_field(b"\x7a", failure_body)
    return bytes_field(b"\x72", value)


def v2_output_value_frame(value: bytes) -> bytes:
    """The whole frame (header included) of an ``OutputEntryMessage`` with a value."""
    size = len(value)
    if size < 128:
        return b"".join((_V2_OUTPUT_HEADERS[size + 2], _FIELD_14[size], value))
    return frame(_V2_OUTPUT, 0, v2_output(value))


def v2_run(name: str, value: bytes | None, failure_body: bytes = b"") -> bytes:
    """``RunEntryMessage{name: 12, value: 14 | failure: 15}``; ``value=None`` means the failure."""
    return _opt_bytes(b"\x62", name.encode()) + v2_output(value, failure_body)


def v2_call(service: str, handler: str, parameter: bytes, key: str) -> bytes:
    """``CallEntryMessage{service_name: 1, handler_name: 2, parameter: 3, key: 5}``."""
    return (
        _opt_bytes(b"\x0a", service.encode())
        + _opt_bytes(b"\x12", handler.encode())
        + _opt_bytes(b"\x1a", parameter)
        + _opt_bytes(b"\x2a", key.encode())
    )


def v2_run_frame(name: str, value: bytes) -> bytes:
    """The whole frame (header included, REQUIRES_ACK) of a ``RunEntryMessage`` with a value."""
    size_bytes = _SMALL[len(value)] if len(value) < 128 else varint(len(value))
    if not name:
        size = len(size_bytes) + len(value) + 1
        header = _V2_RUN_HEADERS[size] if size < SMALL_BODY else _pack_header(_V2_RUN, _REQUIRES_ACK, size)
        return b"".join((header, b"\x72", size_bytes, value))
    name_bytes = name.encode()
    if len(name_bytes) < 128:
        size = len(name_bytes) + len(size_bytes) + len(value) + 3
        header = _V2_RUN_HEADERS[size] if size < SMALL_BODY else _pack_header(_V2_RUN, _REQUIRES_ACK, size)
        parts = (header, _FIELD_12[len(name_bytes)], name_bytes, b"\x72", size_bytes, value)
        return b"".join(parts)
    return frame(_V2_RUN, _REQUIRES_ACK, v2_run(name, value))


# ---- V5/V6 commands and control messages ----


def _value(content: bytes) -> bytes:
    # Value{content: 1}
    return _opt_bytes(b"\x0a", content)


def v5_get_eager_state(key: bytes, value: bytes | None) -> bytes:
    """``GetEagerStateCommandMessage{key: 1, void: 13 | value: 14 (Value)}``; ``None`` means void."""
    body = _opt_bytes(b"\x0a", key)
    if value is None:
        return body + b"\x6a\x00"
    return body + bytes_field(b"\x72", _value(value))


def v5_get_eager_state_frame(key: bytes, value: bytes | None) -> bytes:
    """The whole frame (header included) of a ``GetEagerStateCommandMessage``."""
    key_size = len(key)
    value_size = len(value) if value else 0
    if 0 < key_size < 128 and 0 < value_size < 126 and value is not None:
        header = _V5_GET_EAGER_STATE_HEADERS[key_size + value_size + 6]
        return b"".join((header, _FIELD_1[key_size], key, _FIELD_14[value_size + 2], _FIELD_1[value_size], value))
    return frame(_V5_GET_EAGER_STATE, 0, v5_get_eager_state(key, value))


def v5_get_lazy_state(key: bytes, completion_id: int) -> bytes:
    """``GetLazyStateCommandMessage{key: 1, result_completion_id: 11}``."""
    return _opt_bytes(b"\x0a", key) + uint_field(b"\x58", completion_id)


def v5_set_state(key: bytes, value: bytes) -> bytes:
    """``SetStateCommandMessage{key: 1, value: 3 (Value)}``."""
    return _opt_bytes(b"\x0a", key) + bytes_field(b"\x1a", _value(value))


def v5_set_state_frame(key: bytes, value: bytes) -> bytes:
    """The whole frame (header included) of a ``SetStateCommandMessage``."""
    key_size = len(key)
    value_size = len(value)
    if 0 < key_size < 128 and 0 < value_size < 126:
        header = _V5_SET_STATE_HEADERS[key_size + value_size + 6]
        return b"".join((header, _FIELD_1[key_size], key, _FIELD_3[value_size + 2], _FIELD_1[value_size], value))
    return frame(_V5_SET_STATE, 0, v5_set_state(key, value))


def v5_output(value: bytes | None, failure_body: bytes = b"") -> bytes:
    """``OutputCommandMessage{value: 14 (Value) | failure: 15}``; ``value=None`` means the failure."""
    if value is None:
        return bytes_field(b"\x7a", failure_body)
    return bytes_field(b"\x72", _value(value))


def v5_output_value_frame(value: bytes) -> bytes:
    """The whole frame (header included) of an ``OutputCommandMessage`` with a value."""
    size = len(value)
    if 0 < size < 126:
        return b"".join((_V5_OUTPUT_HEADERS[size + 4], _FIELD_14[size + 2], _FIELD_1[size], value))
    return frame(_V5_OUTPUT, 0, v5_output(value))


def v5_run(completion_id: int, name: str) -> bytes:
    """``RunCommandMessage{result_completion_id: 11, name: 12}``."""
    return uint_field(b"\x58", completion_id) + _opt_bytes(b"\x62", name.encode())


def v5_run_frame(completion_id: int, name: str) -> bytes:
    """The whole frame (header included) of a ``RunCommandMessage``."""
    name_bytes = name.encode()
    size = len(name_bytes)
    if 0 < completion_id < 128 and 0 < size < 128:  # the usual: one-byte id and name length
        return b"".join((_V5_RUN_HEADERS[size + 4], _FIELD_11_VARINT[completion_id], _FIELD_12[size], name_bytes))
    if completion_id > 0:
        id_bytes = _SMALL[completion_id] if completion_id < 128 else varint(completion_id)
        if not name_bytes:
            return _V5_RUN_HEADERS[len(id_bytes) + 1] + b"\x58" + id_bytes  # (at most 11 bytes)
        if len(name_bytes) < 128:
            size = len(id_bytes) + len(name_bytes) + 3
            parts = (_V5_RUN_HEADERS[size], b"\x58", id_bytes, _FIELD_12[len(name_bytes)], name_bytes)
            return b"".join(parts)
    return frame(_V5_RUN, 0, v5_run(completion_id, name))


def v5_propose_run_frame(completion_id: int, value: bytes) -> bytes:
    """The whole frame (header included) of a ``ProposeRunCompletionMessage`` with a value."""
    size = len(value)
    if 0 < completion_id < 128 and size < 128:  # the usual: one-byte id and value length
        header = _V5_PROPOSE_RUN_COMPLETION_HEADERS[size + 4]
        return b"".join((header, _FIELD_1_VARINT[completion_id], _FIELD_14[size], value))
    if completion_id > 0:
        id_bytes = _SMALL[completion_id] if completion_id < 128 else varint(completion_id)
        size_bytes = _SMALL[size] if size < 128 else varint(size)
        body_size = len(id_bytes) + len(size_bytes) + size + 2
        if body_size < SMALL_BODY:
            header = _V5_PROPOSE_RUN_COMPLETION_HEADERS[body_size]
        else:
            header = _pack_header(_V5_PROPOSE_RUN_COMPLETION, 0, body_size)
        parts = (header, b"\x08", id_bytes, b"\x72", size_bytes, value)
        return b"".join(parts)
    return frame(_V5_PROPOSE_RUN_COMPLETION, 0, v5_propose_run_completion(completion_id, value))


def v5_propose_run_completion(completion_id: int, value: bytes | None, failure_body: bytes = b"") -> bytes:
    """``ProposeRunCompletionMessage{result_completion_id: 1, value: 14 (raw bytes) | failure: 15}``."""
    if value is None:
        return uint_field(b"\x08", completion_id) + bytes_field(b"\x7a", failure_body)
    return uint_field(b"\x08", completion_id) + bytes_field(b"\x72", value)


def v5_sleep(wake_up_time: int, completion_id: int) -> bytes:
    """``SleepCommandMessage{wake_up_time: 1, result_completion_id: 11}``."""
    return uint_field(b"\x08", wake_up_time) + uint_field(b"\x58", completion_id)


def v5_sleep_frame(wake_up_time: int, completion_id: int) -> bytes:
    """The whole frame (header included) of a ``SleepCommandMessage``."""
    if 0x800000000 <= wake_up_time < 0x40000000000 and 0 < completion_id < 128:
        # The usual: a wake-up time in epoch milliseconds (six bytes) and a one-byte id.
        return b"".join((_V5_SLEEP_FRAME_START, _epoch_millis(wake_up_time), _FIELD_11_VARINT[completion_id]))
    body = uint_field(b"\x08", wake_up_time) + uint_field(b"\x58", completion_id)
    return _V5_SLEEP_HEADERS[len(body)] + body  # (at most 22 bytes)


def v2_sleep_frame(wake_up_time: int) -> bytes:
    """The whole frame (header included) of a ``SleepEntryMessage`` (``wake_up_time: 1``)."""
    if 0x800000000 <= wake_up_time < 0x40000000000:
        return _V2_SLEEP_FRAME_START + _epoch_millis(wake_up_time)
    body = uint_field(b"\x08", wake_up_time)
    return _V2_SLEEP_HEADERS[len(body)] + body  # (at most 11 bytes)


def v5_call(
    service: str, handler: str, parameter: bytes, key: str, invocation_id_completion: int, result_completion: int
) -> bytes:
    """``CallCommandMessage{service_name: 1, handler_name: 2, parameter: 3, key: 5,
    invocation_id_notification_idx: 10, result_completion_id: 11}``."""
    service_bytes = service.encode()
    handler_bytes = handler.encode()
    key_bytes = key.encode()
    if (
        0 < len(service_bytes) < 128
        and 0 < len(handler_bytes) < 128
        and 0 < len(parameter) < 128
        and invocation_id_completion > 0
        and result_completion > 0
    ):
        # The usual shape: short names and input (one join instead of a dozen concatenations).
        parts = (_FIELD_1[len(service_bytes)], service_bytes, _FIELD_2[len(handler_bytes)], handler_bytes,
                 _FIELD_3[len(parameter)], parameter, _opt_bytes(b"\x2a", key_bytes),
                 b"\x50", varint(invocation_id_completion), b"\x58", varint(result_completion))  # fmt: skip
        return b"".join(parts)
    return (
        _opt_bytes(b"\x0a", service_bytes)
        + _opt_bytes(b"\x12", handler_bytes)
        + _opt_bytes(b"\x1a", parameter)
        + _opt_bytes(b"\x2a", key_bytes)
        + uint_field(b"\x50", invocation_id_completion)
        + uint_field(b"\x58", result_completion)
    )


# ---- readers ----


def read_varint(data: bytes, position: int) -> tuple[int, int]:
    """The varint at ``data[position]`` and the position after it; ``(-1, position)`` when it runs
    past the end of ``data`` or past ten bytes. Callers check the range their field allows."""
    result = 0
    shift = 0
    end = len(data)
    while position < end and shift < 70:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, position
        shift += 7
    return -1, position


def single_field(data: bytes, tag: int, start: int = 0) -> bytes | None:
    """The content of ``data[start:]`` if that is exactly one length-delimited field with the
    one-byte ``tag``.

    ``None`` when it is anything else (other fields, a repeated field, a
    length that does not end where ``data`` ends): the caller then decodes it
    with protobuf, which gives the same answer for the shapes accepted here.
    """
    position = content_start(data, tag, start)
    return data[position:] if position >= 0 else None


def content_start(data: bytes, tag: int, start: int = 0) -> int:
    """Where the content begins if ``data[start:]`` is exactly one length-delimited field with the
    one-byte ``tag`` (see ``single_field``), else -1."""
    size = len(data)
    if size < start + 2 or data[start] != tag:
        return -1
    length = data[start + 1]
    if length < 0x80:
        return start + 2 if size == start + length + 2 else -1
    length, position = read_varint(data, start + 1)
    return position if length >= 0 and size == position + length else -1
