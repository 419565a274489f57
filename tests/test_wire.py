"""The hand-written encoders of protocol/_wire.py write exactly what the generated classes write.

For arbitrary field values (empty, short, long enough to need multi-byte
lengths, large integers), each encoder's output must equal
``SerializeToString()`` of the generated message, and each frame builder must
equal ``encode_frame`` of it with the type and flags the protocol assigns.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from restate_core.protocol import COMPLETED, REQUIRES_ACK, MessageHeader, encode_frame, v2, v5
from restate_core.protocol import _wire as wire
from restate_core.protocol._framing import SMALL_BODY, header_table

data = st.one_of(st.binary(max_size=300), st.binary(min_size=120, max_size=140))
text = st.text(max_size=200)
u32 = st.integers(min_value=0, max_value=2**32 - 1)
u64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(st.one_of(u64, st.integers(min_value=0, max_value=0x5000)))  # (and the two-byte case at its edges)
def test_varint_matches_protobuf(value: int) -> None:
    check_varint(value)


def check_varint(value: int) -> None:
    # A uint64 field 1 is the tag byte 0x08 and the varint; protobuf omits a zero.
    serialized = v5.SleepCommandMessage(wake_up_time=value).SerializeToString()
    assert wire.varint(value) == (serialized[1:] if value else b"\x00")
    assert wire.uint_field(b"\x08", value) == serialized


def test_varint_at_the_two_byte_edges() -> None:
    for value in (127, 128, 0x3FFF, 0x4000):
        check_varint(value)


@given(u32, text)
def test_failure(code: int, message: str) -> None:
    assert wire.failure(code, message) == v2.Failure(code=code, message=message).SerializeToString()
    assert wire.failure(code, message) == v5.Failure(code=code, message=message).SerializeToString()


@given(data, st.sampled_from([wire.V2_NO_RESULT, wire.V2_EMPTY, wire.V2_VALUE]), data)
def test_v2_get_state(key: bytes, result: int, value: bytes) -> None:
    message = v2.GetStateEntryMessage(key=key)
    if result == wire.V2_VALUE:
        message.value = value
    elif result == wire.V2_EMPTY:
        message.empty.SetInParent()
    else:
        value = b""
    assert wire.v2_get_state(key, result, value) == message.SerializeToString()


@given(data, data)
def test_v2_get_state_value_frame(key: bytes, value: bytes) -> None:
    check_v2_get_state_value_frame(key, value)


def check_v2_get_state_value_frame(key: bytes, value: bytes) -> None:
    expected = encode_frame(
        v2.MessageType.GET_STATE_ENTRY, v2.GetStateEntryMessage(key=key, value=value).SerializeToString(), COMPLETED
    )
    assert wire.v2_get_state_value_frame(key, value) == expected


@given(data, data)
def test_v2_set_state(key: bytes, value: bytes) -> None:
    check_v2_set_state(key, value)


def check_v2_set_state(key: bytes, value: bytes) -> None:
    body = v2.SetStateEntryMessage(key=key, value=value).SerializeToString()
    assert wire.v2_set_state(key, value) == body
    assert wire.v2_set_state_frame(key, value) == encode_frame(v2.MessageType.SET_STATE_ENTRY, body)


@given(st.one_of(st.none(), data), u32, text)
def test_v2_output(value: bytes | None, code: int, message: str) -> None:
    expected = v2.OutputEntryMessage()
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v2_output(value, wire.failure(code, message)) == expected.SerializeToString()


@given(st.one_of(u64, st.integers(min_value=0x800000000, max_value=0x40000000000)))
def test_varint_of_epoch_milliseconds(value: int) -> None:
    serialized = v2.SleepEntryMessage(wake_up_time=value).SerializeToString()
    assert wire.uint_field(b"\x08", value) == serialized


@given(text, text, data, text)
def test_v2_call(service: str, handler: str, parameter: bytes, key: str) -> None:
    expected = v2.CallEntryMessage(service_name=service, handler_name=handler, parameter=parameter, key=key)
    assert wire.v2_call(service, handler, parameter, key) == expected.SerializeToString()


@given(text, st.one_of(st.none(), data), u32, text)
def test_v2_run(name: str, value: bytes | None, code: int, message: str) -> None:
    expected = v2.RunEntryMessage(name=name)
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v2_run(name, value, wire.failure(code, message)) == expected.SerializeToString()


small_ids = st.one_of(st.integers(min_value=0, max_value=300), u32)


@given(text, data)
def test_v2_run_frame(name: str, value: bytes) -> None:
    check_v2_run_frame(name, value)


def check_v2_run_frame(name: str, value: bytes) -> None:
    expected = encode_frame(
        v2.MessageType.RUN_ENTRY, v2.RunEntryMessage(name=name, value=value).SerializeToString(), REQUIRES_ACK
    )
    assert wire.v2_run_frame(name, value) == expected


@given(data, st.one_of(st.none(), data))
def test_v5_get_eager_state(key: bytes, value: bytes | None) -> None:
    check_v5_get_eager_state(key, value)


def eager_state_command(key: bytes, value: bytes | None) -> v5.GetEagerStateCommandMessage:
    """The command that reads ``key`` and found ``value`` (``None``: the key has none)."""
    message = v5.GetEagerStateCommandMessage(key=key)
    if value is None:
        message.void.SetInParent()
    else:
        message.value.content = value
    return message


def check_v5_get_eager_state(key: bytes, value: bytes | None) -> None:
    body = eager_state_command(key, value).SerializeToString()
    assert wire.v5_get_eager_state(key, value) == body
    assert wire.v5_get_eager_state_frame(key, value) == encode_frame(v5.MessageType.GET_EAGER_STATE_COMMAND, body)


@given(data, u32)
def test_v5_get_lazy_state(key: bytes, completion_id: int) -> None:
    expected = v5.GetLazyStateCommandMessage(key=key, result_completion_id=completion_id)
    assert wire.v5_get_lazy_state(key, completion_id) == expected.SerializeToString()


@given(data, data)
def test_v5_set_state(key: bytes, value: bytes) -> None:
    check_v5_set_state(key, value)


def check_v5_set_state(key: bytes, value: bytes) -> None:
    message = v5.SetStateCommandMessage(key=key)
    message.value.content = value
    body = message.SerializeToString()
    assert wire.v5_set_state(key, value) == body
    assert wire.v5_set_state_frame(key, value) == encode_frame(v5.MessageType.SET_STATE_COMMAND, body)


@given(st.one_of(st.none(), data), u32, text)
def test_v5_output(value: bytes | None, code: int, message: str) -> None:
    expected = v5.OutputCommandMessage()
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value.content = value
    assert wire.v5_output(value, wire.failure(code, message)) == expected.SerializeToString()


@given(u32, text)
def test_v5_run(completion_id: int, name: str) -> None:
    expected = v5.RunCommandMessage(result_completion_id=completion_id, name=name)
    assert wire.v5_run(completion_id, name) == expected.SerializeToString()


@given(small_ids, text)
def test_v5_run_frame(completion_id: int, name: str) -> None:
    body = v5.RunCommandMessage(result_completion_id=completion_id, name=name).SerializeToString()
    assert wire.v5_run_frame(completion_id, name) == encode_frame(v5.MessageType.RUN_COMMAND, body)


@given(small_ids, data)
def test_v5_propose_run_frame(completion_id: int, value: bytes) -> None:
    check_v5_propose_run_frame(completion_id, value)


def check_v5_propose_run_frame(completion_id: int, value: bytes) -> None:
    body = v5.ProposeRunCompletionMessage(result_completion_id=completion_id, value=value).SerializeToString()
    expected = encode_frame(v5.MessageType.PROPOSE_RUN_COMPLETION, body)
    assert wire.v5_propose_run_frame(completion_id, value) == expected


@given(u32, st.one_of(st.none(), data), u32, text)
def test_v5_propose_run_completion(completion_id: int, value: bytes | None, code: int, message: str) -> None:
    expected = v5.ProposeRunCompletionMessage(result_completion_id=completion_id)
    if value is None:
        expected.failure.code, expected.failure.message = code, message
    else:
        expected.value = value
    assert wire.v5_propose_run_completion(completion_id, value, wire.failure(code, message)) == (
        expected.SerializeToString()
    )


@given(u64, u32)
def test_v5_sleep(wake_up_time: int, completion_id: int) -> None:
    expected = v5.SleepCommandMessage(wake_up_time=wake_up_time, result_completion_id=completion_id)
    assert wire.v5_sleep(wake_up_time, completion_id) == expected.SerializeToString()


@given(st.one_of(u64, st.integers(min_value=0x800000000, max_value=0x40000000000)), small_ids)
def test_v5_sleep_frame(wake_up_time: int, completion_id: int) -> None:
    body = v5.SleepCommandMessage(wake_up_time=wake_up_time, result_completion_id=completion_id).SerializeToString()
    assert wire.v5_sleep_frame(wake_up_time, completion_id) == encode_frame(v5.MessageType.SLEEP_COMMAND, body)


@given(text, text, data, text, small_ids, small_ids)
def test_v5_call(service: str, handler: str, parameter: bytes, key: str, id_completion: int, result: int) -> None:
    expected = v5.CallCommandMessage(
        service_name=service,
        handler_name=handler,
        parameter=parameter,
        key=key,
        invocation_id_notification_idx=id_completion,
        result_completion_id=result,
    )
    assert wire.v5_call(service, handler, parameter, key, id_completion, result) == expected.SerializeToString()


# ---- the hand-written readers agree with the generated classes ----

# What lies around a completion's or notification's body in its chunk: the rest of the chunk.
around = st.binary(max_size=12)

results = st.one_of(
    st.just(("empty", None)),
    st.tuples(st.just("value"), data),
    st.tuples(st.just("failure"), st.tuples(u32, text)),
)


@given(u32, results)
def test_v2_completion_reader(index: int, result: tuple[str, object]) -> None:
    from restate_core import VOID, Failure, Success
    from restate_core.vm._legacy import _completion

    message = v2.CompletionMessage(entry_index=index)
    kind, payload = result
    if kind == "empty":
        message.empty.SetInParent()
        expected: object = VOID
    elif kind == "value":
        message.value = payload  # type: ignore[assignment]
        expected = Success(payload)  # type: ignore[arg-type]
    else:
        code, text_ = payload  # type: ignore[misc]
        message.failure.code, message.failure.message = code, text_
        expected = Failure(code & 0xFFFF, text_)
    assert _completion(message.SerializeToString()) == (index, expected)


# (Entry 0 is the input, which no completion is for; protobuf writes no field for index 0.)
@given(st.integers(min_value=1, max_value=2**32 - 1), st.one_of(st.just(None), data), around, around)
def test_v2_completion_reader_in_a_chunk(index: int, value: bytes | None, before: bytes, after: bytes) -> None:
    from restate_core import VOID, Success
    from restate_core.vm._legacy import _completion_at

    message = v2.CompletionMessage(entry_index=index)
    if value is None:
        message.empty.SetInParent()
        expected: object = VOID
    else:
        message.value = value
        expected = Success(value)
    # The shapes of a sleep's and a call's completion are read without protobuf, wherever they lie.
    body = message.SerializeToString()
    chunk = before + body + after
    assert _completion_at(chunk, len(before), len(before) + len(body)) == (index, expected)


@given(u32, st.one_of(st.just(None), data), around, around)
def test_v5_completion_notification_reader(
    completion_id: int, content: bytes | None, before: bytes, after: bytes
) -> None:
    from restate_core import VOID, Success
    from restate_core.vm._current import _completion_notification

    message = v5.NotificationTemplate(completion_id=completion_id)
    if content is None:
        message.void.SetInParent()
        expected: object = VOID
    else:
        message.value.content = content
        expected = Success(content)
    # Every shape the runtime writes is read without protobuf, and read right, wherever it lies.
    body = message.SerializeToString()
    chunk = before + body + after
    assert _completion_notification(chunk, len(before), len(before) + len(body)) == (completion_id, expected)


@given(u32, text, around, around)
def test_v5_invocation_id_notification_reader(
    completion_id: int, invocation_id: str, before: bytes, after: bytes
) -> None:
    from restate_core.vm._current import _completion_notification

    body = v5.NotificationTemplate(completion_id=completion_id, invocation_id=invocation_id).SerializeToString()
    chunk = before + body + after
    assert _completion_notification(chunk, len(before), len(before) + len(body)) == (completion_id, invocation_id)


@given(
    st.one_of(
        st.binary(max_size=40),
        st.builds(lambda head, rest: b"\x08" + head + rest, st.binary(max_size=6), st.binary(max_size=300)),
    ),
    around,
    around,
)
# A length that runs past the body's end, then one more byte that continues it to the chunk's end.
@example(b"\x08\x01\x2a\x80", b"", b"\x80")
@example(b"\x08\x01\x2a\x06\x0a\x80", b"", b"\x80")
@example(b"\x08\x01\x82\x01\x80", b"", b"\x80")
def test_fast_readers_never_accept_garbage_protobuf_would_read_differently(
    body: bytes, before: bytes, after: bytes
) -> None:
    from google.protobuf.message import DecodeError

    from restate_core import VOID, Success
    from restate_core.vm._current import _completion_notification

    read = _completion_notification(body, 0, len(body))
    # Inside a chunk, the bytes around the body change nothing (a varint that runs past the
    # body's end must not read on into them).
    assert _completion_notification(before + body + after, len(before), len(before) + len(body)) == read
    if read is None:
        return
    message = v5.NotificationTemplate()
    try:
        message.ParseFromString(body)
    except DecodeError:
        raise AssertionError(f"accepted {body!r}, which protobuf rejects") from None
    assert message.completion_id == read[0]
    which = message.WhichOneof("result")
    if which == "void":
        assert read[1] == VOID
    elif which == "invocation_id":
        assert read[1] == message.invocation_id
    else:
        assert read[1] == Success(message.value.content)


# single_field reads what protobuf reads, or declines.
field_like = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda length, rest: b"\x72" + length + rest, st.binary(min_size=1, max_size=11), st.binary(max_size=300)
    ),
    st.builds(lambda value: b"\x72" + wire.varint(len(value)) + value, data),
)


@given(field_like)
def test_single_field_never_disagrees_with_protobuf(body: bytes) -> None:
    got = wire.single_field(body, 0x72)
    if got is not None:
        message = v2.InputEntryMessage.FromString(body)
        assert (message.value, list(message.headers), message.name) == (got, [], "")


@given(data)
def test_single_field_reads_every_encoded_value(value: bytes) -> None:
    body = v2.InputEntryMessage(value=value).SerializeToString()
    assert wire.single_field(body, 0x72) == (value if value else None)
    # Non-minimal length varints are valid protobuf too.
    padded = b"\x72" + bytes([(len(value) & 0x7F) | 0x80, len(value) >> 7 | 0x80, 0x00]) + value
    assert v2.InputEntryMessage.FromString(padded).value == value
    assert wire.single_field(padded, 0x72) == value


completion_like = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda head, rest: b"\x08" + head + rest, st.binary(max_size=6), st.binary(max_size=300)),
)


@given(completion_like, around, around)
# A length that runs past the body's end, then one more byte that continues it to the chunk's end.
@example(b"\x08\x01\x72\x80", b"", b"\x80")
@example(b"\x08\x01\x7a\x80", b"", b"\x80")
# A two-byte length whose first byte, read as a one-byte length, would end the value at the body's end.
@example(b"\x08\x01\x72\x80\x01" + b"x" * 127, b"", b"")
# An entry index that ends past the body's end, followed by an empty result.
@example(b"\x08\x80\x80\x80", b"", b"\x01\x6a\x00")
def test_v2_completion_reader_agrees_with_protobuf_on_any_bytes(body: bytes, before: bytes, after: bytes) -> None:
    from google.protobuf.message import DecodeError

    from restate_core import VMError
    from restate_core.vm._legacy import _completion, _completion_at, _result_value

    # In a chunk, the bytes around the body change nothing; what the usual-shape reader takes,
    # the general one reads the same.
    usual = _completion_at(body, 0, len(body))
    assert _completion_at(before + body + after, len(before), len(before) + len(body)) == usual

    try:
        message = v2.CompletionMessage.FromString(body)
        value = _result_value(message)
        expected: object = "error" if value is None else (message.entry_index, value)
    except DecodeError:
        expected = "error"
    try:
        got: object = _completion(body)
    except VMError:
        got = "error"
    assert got == expected
    if usual is not None:
        assert usual == expected


# ---- precomputed headers ----


def test_header_table_matches_packed_headers() -> None:
    table = header_table(0x0C05, REQUIRES_ACK)
    assert len(table) == SMALL_BODY
    for size in range(SMALL_BODY):
        assert table[size] == MessageHeader(0x0C05, REQUIRES_ACK, size).encode()


# Body sizes on both sides of SMALL_BODY, where the builders stop looking headers up.
around_the_table = st.integers(min_value=SMALL_BODY - 4, max_value=SMALL_BODY + 4)


@given(around_the_table, st.text(alphabet="ab", max_size=127))
def test_v2_run_frame_around_the_header_table(size: int, name: str) -> None:
    check_v2_run_frame(name, b"v" * max(0, size - len(name) - 5))


@given(around_the_table, st.integers(min_value=1, max_value=300))
def test_v5_propose_run_frame_around_the_header_table(size: int, completion_id: int) -> None:
    check_v5_propose_run_frame(completion_id, b"v" * (size - 6))


@given(st.integers(min_value=120, max_value=127), st.integers(min_value=120, max_value=127))
def test_state_frames_with_the_largest_looked_up_headers(key_size: int, value_size: int) -> None:
    key, value = b"k" * key_size, b"v" * value_size
    check_v2_get_state_value_frame(key, value)
    check_v2_set_state(key, value)
    check_v5_get_eager_state(key, value)
    check_v5_set_state(key, value)


@given(data)
def test_v2_output_value_frame(value: bytes) -> None:
    body = v2.OutputEntryMessage(value=value).SerializeToString()
    assert wire.v2_output_value_frame(value) == encode_frame(v2.MessageType.OUTPUT_ENTRY, body)


@given(data)
def test_v5_output_value_frame(value: bytes) -> None:
    message = v5.OutputCommandMessage()
    message.value.content = value
    assert wire.v5_output_value_frame(value) == encode_frame(v5.MessageType.OUTPUT_COMMAND, message.SerializeToString())


# Frames with a header and more after the one field: content_start reads from an offset.
@given(st.binary(max_size=12), data, st.binary(max_size=3))
def test_content_start_at_an_offset(prefix: bytes, value: bytes, suffix: bytes) -> None:
    field = v2.OutputEntryMessage(value=value).SerializeToString()
    position = wire.content_start(prefix + field, 0x72, len(prefix))
    assert position == len(prefix) + len(field) - len(value)
    assert wire.single_field(prefix + field, 0x72, len(prefix)) == value
    if suffix:  # the field no longer ends where the data ends
        assert wire.content_start(prefix + field + suffix, 0x72, len(prefix)) == -1
    assert wire.content_start(prefix + field, 0x7A, len(prefix)) == -1


@given(st.one_of(u64, st.integers(min_value=0x800000000, max_value=0x40000000000)))
def test_v2_sleep_frame(wake_up_time: int) -> None:
    body = v2.SleepEntryMessage(wake_up_time=wake_up_time).SerializeToString()
    assert wire.v2_sleep_frame(wake_up_time) == encode_frame(v2.MessageType.SLEEP_ENTRY, body)


# Six-byte varints reuse the encoding of their high bits from the previous call: runs of close
# values (same high bits), far ones, and values on both sides of a 16,384 boundary.
epoch_millis = st.integers(min_value=0x800000000, max_value=0x40000000000 - 1)


@given(st.lists(st.one_of(epoch_millis, st.builds(lambda v, d: v - v % 16384 + d, epoch_millis, st.integers(-3, 3))),
                min_size=1, max_size=20))  # fmt: skip
def test_epoch_millisecond_varints_in_a_row(values: list[int]) -> None:
    for value in values:
        check_varint(value)
        check_varint(value + 1)


# The one-join paths of the run builders end where an id or a length needs a second byte.
@pytest.mark.parametrize("completion_id", [1, 127, 128, 300])
@pytest.mark.parametrize("size", [0, 1, 127, 128])
def test_run_frames_at_the_one_byte_edges(completion_id: int, size: int) -> None:
    name = "n" * size
    body = v5.RunCommandMessage(result_completion_id=completion_id, name=name).SerializeToString()
    assert wire.v5_run_frame(completion_id, name) == encode_frame(v5.MessageType.RUN_COMMAND, body)
    check_v5_propose_run_frame(completion_id, b"v" * size)


# ---- suspensions ----


@given(st.lists(u32, max_size=5))
def test_v2_suspension_frame(indexes: list[int]) -> None:
    expected = encode_frame(v2.MessageType.SUSPENSION, v2.SuspensionMessage(entry_indexes=indexes).SerializeToString())
    assert wire.v2_suspension_frame(indexes) == expected


@given(st.lists(u32, max_size=5), st.lists(u32, max_size=5), st.lists(text, max_size=3))
@example([1], [1], [])  # the usual: one completion and the cancel signal
@example([127], [128], [])
@example([], [], [])
def test_v5_suspension_frame(completions: list[int], signals: list[int], named: list[str]) -> None:
    message = v5.SuspensionMessage(
        waiting_completions=completions, waiting_signals=signals, waiting_named_signals=named
    )
    assert wire.v5_suspension_frame(completions, signals, named) == encode_frame(
        v5.MessageType.SUSPENSION, message.SerializeToString()
    )


# ---- recorded commands read without protobuf (V5+ replay) ----

u64 = st.integers(min_value=0, max_value=2**64 - 1)
sleep_like = st.one_of(
    st.binary(max_size=30),
    st.builds(
        lambda wake, rest: b"\x08" + wire.varint(wake) + rest,
        u64,
        st.one_of(st.just(b""), st.binary(max_size=14), st.builds(lambda i: b"\x58" + wire.varint(i), u32)),
    ),
    st.builds(lambda body: body + b"\x80", st.binary(max_size=12)),
)


@given(sleep_like)
@example(b"\x08" + b"\xff" * 9 + b"\x7f")  # ten bytes: protobuf reads it (truncated)
@example(b"\x08" + b"\xff" * 10 + b"\x01")  # eleven: protobuf rejects it
@example(b"\x58\x01\x08\x01")  # the fields in the other order
@example(b"\x08\x01\x58\x01\x62\x00")  # an empty name written out
def test_unnamed_sleep_reader_agrees_with_protobuf(body: bytes) -> None:
    from google.protobuf.message import DecodeError

    from restate_core.vm._current import _unnamed_sleep

    frame = encode_frame(v5.MessageType.SLEEP_COMMAND, body)
    if not _unnamed_sleep(frame):
        return
    try:
        message = v5.SleepCommandMessage.FromString(body)
    except DecodeError:
        raise AssertionError(f"accepted {body!r}, which protobuf rejects") from None
    assert message.name == ""


@given(u64, u32)
def test_unnamed_sleep_reader_takes_every_unnamed_sleep(wake_up_time: int, completion_id: int) -> None:
    from restate_core.vm._current import _unnamed_sleep

    message = v5.SleepCommandMessage(wake_up_time=wake_up_time, result_completion_id=completion_id)
    assert _unnamed_sleep(encode_frame(v5.MessageType.SLEEP_COMMAND, message.SerializeToString()))
    assert not _unnamed_sleep(encode_frame(v5.MessageType.OUTPUT_COMMAND, message.SerializeToString()))
    message.name = "named"
    assert not _unnamed_sleep(encode_frame(v5.MessageType.SLEEP_COMMAND, message.SerializeToString()))


eager_like = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda key, rest: b"\x0a" + bytes([len(key)]) + key + rest, st.binary(max_size=5), st.binary(max_size=20)
    ),
)


@given(st.binary(max_size=5), eager_like)
@example(b"k", b"\x0a\x01k\x72\x00")  # Value{}
@example(b"k", b"\x0a\x01k\x72\x03\x0a\x01v")
@example(b"k", b"\x0a\x01k\x72\x03\x0a\x02v")  # content longer than its Value
@example(b"k", b"\x0a\x01k\x6a\x00\x62\x01n")  # named
@example(b"k", b"\x0a\x01j\x6a\x00")  # another key of the same length
@example(b"k", b"\x0a\x01k\x6a\x01\x00")  # a void that is not empty (and not a message)
def test_eager_state_reader_agrees_with_protobuf(key: bytes, body: bytes) -> None:
    from google.protobuf.message import DecodeError

    from restate_core import VOID, Success
    from restate_core.vm._current import _recorded_eager_state

    read = _recorded_eager_state(encode_frame(v5.MessageType.GET_EAGER_STATE_COMMAND, body), key)
    if read is None:
        return
    try:
        message = v5.GetEagerStateCommandMessage.FromString(body)
    except DecodeError:
        raise AssertionError(f"accepted {body!r}, which protobuf rejects") from None
    assert (message.key, message.name) == (key, "")
    which = message.WhichOneof("result")
    assert read == (VOID if which == "void" else Success(message.value.content))
    assert which is not None


# (An empty key is not written by protobuf, and lengths over 127 take two bytes: such commands
# go the general way, which the test above covers.)
@given(st.binary(min_size=1, max_size=100), st.one_of(st.none(), st.binary(max_size=100)))
def test_eager_state_reader_takes_the_usual_shapes(key: bytes, value: bytes | None) -> None:
    from restate_core import VOID, Success
    from restate_core.vm._current import _recorded_eager_state

    frame = encode_frame(v5.MessageType.GET_EAGER_STATE_COMMAND, eager_state_command(key, value).SerializeToString())
    assert _recorded_eager_state(frame, key) == (VOID if value is None else Success(value))
    assert _recorded_eager_state(frame, key + b"x") is None


# ---- input headers read without protobuf ----

header_pairs = st.lists(st.tuples(st.text(max_size=30), st.text(max_size=30)), max_size=6)
headers_like = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda pairs, rest: (
            b"".join(v5.InputCommandMessage(headers=[v5.Header(key=k, value=v)]).SerializeToString() for k, v in pairs)
            + rest
        ),
        header_pairs,
        st.binary(max_size=8),
    ),
)


@given(headers_like)
@example(b"\x0a\x03\x0a\x01\xff")  # a key that is not UTF-8
@example(b"\x0a\x05\x0a\x03\xed\xa0\x80")  # a surrogate, encoded: not UTF-8 either
@example(b"\x0a\x04\x12\x02\xc0\x80")  # an overlong encoding
@example(b"\x0a\x04\x12\x01v\x00")  # a byte after the value
@example(b"\x0a\x02\x12\x01")  # a value longer than its header
@example(b"\x0a\x04\x12\x00\x0a\x00")  # the value before the key
@example(b"\x0a")  # a tag and nothing more
# A two-byte length whose first byte, read as a one-byte length, frames a well-formed header.
@example(b"\x0a\x80\x0a\x0a" + b"k" * 10 + b"\x12\x72" + b"v" * 114)
def test_input_headers_reader_agrees_with_protobuf(data: bytes) -> None:
    from google.protobuf.message import DecodeError

    from restate_core.vm._core import read_headers

    read = read_headers(data, 0)
    if read is None:
        return
    headers, end = read
    try:
        message = v5.InputCommandMessage.FromString(data[:end])
    except DecodeError:
        raise AssertionError(f"accepted {data[:end]!r}, which protobuf rejects") from None
    assert [(h.key, h.value) for h in headers] == [(h.key, h.value) for h in message.headers]
    assert end == len(data) or data[end] != 0x0A


@given(header_pairs, data)
def test_input_headers_reader_takes_the_usual_headers(pairs: list[tuple[str, str]], value: bytes) -> None:
    from restate_core.vm._core import read_headers

    headers = [v5.Header(key=k, value=v) for k, v in pairs]
    body = v5.InputCommandMessage(headers=headers, value=v5.Value(content=value)).SerializeToString()
    prefix = b"".join(v5.InputCommandMessage(headers=[header]).SerializeToString() for header in headers)
    if any(len(header.SerializeToString()) >= 0x80 for header in headers):
        return  # two-byte lengths: protobuf reads those
    read = read_headers(b"xx" + body, 2)
    assert read is not None
    assert [(h.key, h.value) for h in read[0]] == pairs
    assert read[1] == 2 + len(prefix)


def test_input_headers_are_shared_and_bounded() -> None:
    from restate_core.vm import _core

    encoded = v5.InputCommandMessage(headers=[v5.Header(key="k", value="v")]).SerializeToString()
    first = _core.read_headers(encoded, 0)
    second = _core.read_headers(encoded, 0)
    assert first is not None and second is not None
    assert first[0][0] is second[0][0]  # one immutable Header serves every invocation
    for number in range(_core._HEADERS_LIMIT + 10):
        _core.read_headers(v5.InputCommandMessage(headers=[v5.Header(key=f"k{number}")]).SerializeToString(), 0)
    assert len(_core._HEADERS) <= _core._HEADERS_LIMIT
