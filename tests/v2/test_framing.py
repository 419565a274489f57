"""The wire codec of protocol V2 (core-v2.md §1.1 and §7.12).

Upstream ``service_protocol/header.rs`` (7 header round-trips) and
``service_protocol/encoding.rs`` (3 decoder tests), plus the test vectors of §1.1.
"""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from restate_core import VMError
from restate_core.protocol import (
    COMPLETED,
    REQUIRES_ACK,
    Decoder,
    Encoder,
    MessageHeader,
    RawMessage,
    Version,
    encode_frame,
    v2,
)

T = v2.MessageType
CUSTOM_ENTRY = 0xFC00


def decode_message(raw: RawMessage) -> Message:
    return v2.MESSAGE_CLASSES[raw.type].FromString(raw.body)


def kind(message_type: int) -> str:
    """The message kind of §1.2, by code block."""
    if message_type >= 0xFC00 or message_type not in v2.MESSAGE_CLASSES:
        return "Custom" if v2.is_entry(message_type) else "Unknown"
    return {0x00: "Core", 0x04: "IO", 0x08: "State", 0x0C: "Syscall"}[message_type >> 8]


# ---- header round-trips (header.rs) ----


@pytest.mark.parametrize(
    ("header", "expected_type", "expected_kind", "length", "completed", "requires_ack"),
    [
        pytest.param(MessageHeader(T.COMPLETION, 0, 22), T.COMPLETION, "Core", 22, None, None, id="completion"),
        pytest.param(
            MessageHeader(T.GET_STATE_ENTRY, COMPLETED, 0),
            T.GET_STATE_ENTRY,
            "State",
            0,
            True,
            False,
            id="completed_get_state",
        ),
        pytest.param(
            MessageHeader(T.GET_STATE_ENTRY, 0, 0),
            T.GET_STATE_ENTRY,
            "State",
            0,
            False,
            False,
            id="not_completed_get_state",
        ),
        pytest.param(
            MessageHeader(T.GET_STATE_ENTRY, COMPLETED, 10341),
            T.GET_STATE_ENTRY,
            "State",
            10341,
            True,
            False,
            id="completed_get_state_with_len",
        ),
        pytest.param(
            MessageHeader(T.SET_STATE_ENTRY, REQUIRES_ACK, 10341),
            T.SET_STATE_ENTRY,
            "State",
            10341,
            None,
            True,
            id="set_state_with_requires_ack",
        ),
        pytest.param(
            MessageHeader(CUSTOM_ENTRY, 0, 10341), CUSTOM_ENTRY, "Custom", 10341, None, False, id="custom_entry"
        ),
        pytest.param(
            MessageHeader(CUSTOM_ENTRY, REQUIRES_ACK, 10341),
            CUSTOM_ENTRY,
            "Custom",
            10341,
            None,
            True,
            id="custom_entry_with_requires_ack",
        ),
    ],
)
def test_header_roundtrip(
    header: MessageHeader,
    expected_type: int,
    expected_kind: str,
    length: int,
    completed: bool | None,
    requires_ack: bool | None,
) -> None:
    encoded = header.encode()
    assert len(encoded) == 8
    decoded = MessageHeader.decode(encoded)

    assert decoded == header
    assert decoded.type == expected_type
    assert kind(decoded.type) == expected_kind
    assert decoded.length == length
    # Rust's Option<bool>: COMPLETED is read for completable entries only, REQUIRES_ACK for entries only.
    assert (decoded.completed if decoded.type in v2.COMPLETABLE else None) == completed
    assert (decoded.requires_ack if v2.is_entry(decoded.type) else None) == requires_ack


# ---- test vectors (§1.1) ----


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(MessageHeader(T.END, 0, 0), "00 05 00 00 00 00 00 00", id="end"),
        pytest.param(MessageHeader(T.COMPLETION, 0, 22), "00 01 00 00 00 00 00 16", id="completion_len_22"),
        pytest.param(
            MessageHeader(T.GET_STATE_ENTRY, COMPLETED, 10341), "08 00 00 01 00 00 28 65", id="completed_get_state"
        ),
        pytest.param(MessageHeader(T.RUN_ENTRY, REQUIRES_ACK, 5), "0c 05 80 00 00 00 00 05", id="run_len_5"),
    ],
)
def test_header_vectors(header: MessageHeader, expected: str) -> None:
    assert header.encode() == bytes.fromhex(expected)
    assert MessageHeader.decode(bytes.fromhex(expected)) == header


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param(v2.EndMessage(), "00 05 00 00 00 00 00 00", id="end"),
        pytest.param(v2.SuspensionMessage(entry_indexes=[1]), "00 02 00 00 00 00 00 03 0a 01 01", id="suspension"),
        pytest.param(
            v2.CompletionMessage(entry_index=1, empty=v2.Empty()),
            "00 01 00 00 00 00 00 04 08 01 6a 00",
            id="completion_empty",
        ),
        pytest.param(
            v2.RunEntryMessage(name="my-side-effect", value=b"123"),
            "0c 05 80 00 00 00 00 15 62 0e" + b"my-side-effect".hex() + "72 03" + b"123".hex(),
            id="run_entry",
        ),
    ],
)
def test_encoded_frame_vectors(message: Message, expected: str) -> None:
    frame = Encoder(Version.V2).encode(message)

    assert frame == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("message", "flags"),
    [
        pytest.param(v2.GetStateEntryMessage(key=b"k"), 0, id="get_state_without_result"),
        pytest.param(v2.GetStateEntryMessage(key=b"k", value=b"v"), COMPLETED, id="get_state_with_value"),
        pytest.param(v2.GetStateEntryMessage(key=b"k", empty=v2.Empty()), COMPLETED, id="get_state_with_empty"),
        pytest.param(v2.GetStateKeysEntryMessage(), 0, id="get_state_keys_without_result"),
        pytest.param(v2.SleepEntryMessage(wake_up_time=1), 0, id="sleep_without_result"),
        pytest.param(v2.SleepEntryMessage(wake_up_time=1, empty=v2.Empty()), COMPLETED, id="sleep_completed"),
        pytest.param(v2.CallEntryMessage(service_name="s", value=b""), COMPLETED, id="call_with_empty_value"),
        pytest.param(v2.RunEntryMessage(name="r", value=b"1"), REQUIRES_ACK, id="run_requires_ack"),
        pytest.param(v2.OutputEntryMessage(value=b"1"), 0, id="output_not_completable"),
        pytest.param(v2.InputEntryMessage(value=b"1"), 0, id="input_not_completable"),
        pytest.param(v2.StartMessage(known_entries=1), 0, id="start"),
    ],
)
def test_encoder_flags(message: Message, flags: int) -> None:
    """§1.1: COMPLETED iff a completable entry has its result; REQUIRES_ACK on run entries only."""
    frame = Encoder(Version.V2).encode(message)

    assert MessageHeader.decode(frame).flags == flags


# ---- the streaming decoder (encoding.rs) ----


def _several_messages() -> list[Message]:
    return [
        v2.StartMessage(id=b"key", debug_id="key", known_entries=1, partial_state=True, key="key"),
        v2.InputEntryMessage(value=b"input"),
        v2.CompletionMessage(entry_index=1, empty=v2.Empty()),
    ]


def _assert_decodes_to(decoder: Decoder, expected: list[Message]) -> None:
    for message in expected:
        raw = decoder.next()
        assert raw is not None
        assert raw.type == v2.message_type_of(message)
        assert decode_message(raw) == message
        if isinstance(message, v2.InputEntryMessage):
            # Not completable: the frame carries no COMPLETED flag.
            assert raw.flags == 0
            assert raw.type not in v2.COMPLETABLE
    assert decoder.next() is None
    assert decoder.buffered() == 0


def test_fill_decoder_with_several_messages() -> None:
    encoder = Encoder(Version.V2)
    decoder = Decoder()
    messages = _several_messages()

    for message in messages:
        decoder.push(encoder.encode(message))

    _assert_decodes_to(decoder, messages)


def test_fill_decoder_with_several_messages_in_one_push() -> None:
    encoder = Encoder(Version.V2)
    decoder = Decoder()
    messages = _several_messages()

    decoder.push(b"".join(encoder.encode(message) for message in messages))

    _assert_decodes_to(decoder, messages)


@pytest.mark.parametrize(
    "split_index",
    [pytest.param(4, id="fill_decoder_with_partial_header"), pytest.param(10, id="fill_decoder_with_partial_body")],
)
def test_partial_decoding(split_index: int) -> None:
    message = v2.InputEntryMessage(value=b"input")
    frame = Encoder(Version.V2).encode(message)
    decoder = Decoder()

    decoder.push(frame[:split_index])
    assert decoder.next() is None
    decoder.push(frame[split_index:])

    _assert_decodes_to(decoder, [message])


def test_zero_length_body_is_returned_right_after_its_header() -> None:
    decoder = Decoder()
    decoder.push(encode_frame(T.END, b"") + encode_frame(T.INPUT_ENTRY, b"")[:7])

    assert decoder.next() == RawMessage(T.END, 0, b"")
    assert decoder.next() is None
    decoder.push(b"\x00")
    assert decoder.next() == RawMessage(T.INPUT_ENTRY, 0, b"")
    assert decoder.next() is None


def test_decoder_fed_one_byte_at_a_time() -> None:
    encoder = Encoder(Version.V2)
    messages = _several_messages()
    data = b"".join(encoder.encode(message) for message in messages)
    decoder = Decoder()
    raws: list[RawMessage] = []

    for i in range(len(data)):
        decoder.push(data[i : i + 1])
        while (raw := decoder.next()) is not None:
            raws.append(raw)

    assert [decode_message(raw) for raw in raws] == messages


def test_decoder_rejects_a_body_over_the_limit() -> None:
    decoder = Decoder(max_message_size=16)
    decoder.push(MessageHeader(T.INPUT_ENTRY, 0, 17).encode())

    with pytest.raises(VMError) as raised:
        decoder.next()
    assert raised.value.code == 571


@pytest.mark.parametrize("body", [b"", b"xyz"], ids=["empty", "three bytes"])
def test_decoder_fed_from_an_offset_completes_a_message_cut_anywhere(body: bytes) -> None:
    # As notify_input uses it: the caller took the whole frame before the offset itself.
    first = MessageHeader(T.INPUT_ENTRY, 0, 3).encode() + b"abc"
    second = MessageHeader(T.INPUT_ENTRY, 0, len(body)).encode() + body
    for cut in range(1, len(second)):
        fed, fed_from = Decoder(), Decoder()
        assert fed.feed(first + second[:cut]) == [first]
        assert fed_from.feed_from(first + second[:cut], len(first)) == []
        assert fed_from.buffered() == fed.buffered() == cut
        assert fed.feed(second[cut:]) == [second]
        assert fed_from.join(second[cut:]) == second  # complete at once: not one byte later


@pytest.mark.parametrize("start", ["at the header", "after a whole frame"])
def test_decoder_fed_from_an_offset_rejects_a_body_over_the_limit_before_it_arrives(start: str) -> None:
    # The header is all there is of the message: the decoder must not wait for its body.
    frame = MessageHeader(T.INPUT_ENTRY, 0, 3).encode() + b"abc"
    over = MessageHeader(T.INPUT_ENTRY, 0, 17).encode() + b"xy"
    decoder = Decoder(max_message_size=16)
    if start == "at the header":
        with pytest.raises(VMError) as raised:
            decoder.feed_from(frame + over, len(frame))
    else:
        assert decoder.feed_from(b"junk" + frame + over, 4) == [frame]
        with pytest.raises(VMError) as raised:
            decoder.frames()
    assert raised.value.code == 571


@pytest.mark.parametrize("bad", [5, [1, 2, 3], "abc", None], ids=repr)
@pytest.mark.parametrize(
    ("method", "pending"),
    [(method, pending) for method in ("push", "feed", "join") for pending in (0, 2, 9) if pending or method != "join"],
)
def test_decoder_takes_only_bytes_like_chunks(bad: object, method: str, pending: int) -> None:
    # bytes(5) would be five zero bytes, bytes([1, 2, 3]) three bytes: neither is a chunk. (join
    # is for bytes pending.)
    frame = MessageHeader(T.INPUT_ENTRY, 0, 3).encode() + b"abc"
    decoder = Decoder()
    decoder.push(frame[:pending])
    with pytest.raises(TypeError):
        getattr(decoder, method)(bad)
    assert decoder.buffered() == pending  # as before the call
    assert decoder.feed(frame[pending:]) == [frame]
