"""Property tests over the codec and both journal models.

* Any valid message stream decodes to the same messages, and drives a VM to
  the same output, however it is split into chunks.
* Random bytes, and random sequences of well-formed messages in a wrong
  order, never make the public API raise anything but ``VMError`` or
  ``SuspendedError``; and whenever the VM fails, its output ends with exactly
  one ErrorMessage, then EOF.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

import pytest
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restate_core import CoreVM, Success, SuspendedError, Target, VMError
from restate_core.protocol import Decoder, Version, v2, v5
from restate_core.testing import Frame, decode_output, encode_input, notification

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]
payloads = st.binary(max_size=200)
names = st.text(alphabet="abcxyz", min_size=1, max_size=6)


# ---- valid streams, per journal model ----


def _v2_entry(draw: st.DrawFn) -> Message:
    kind = draw(st.sampled_from(["get", "set", "clear", "sleep", "call", "run", "awakeable"]))
    key = draw(names).encode()
    if kind == "get":
        return v2.GetStateEntryMessage(key=key, value=draw(payloads))
    if kind == "set":
        return v2.SetStateEntryMessage(key=key, value=draw(payloads))
    if kind == "clear":
        return v2.ClearStateEntryMessage(key=key)
    if kind == "sleep":
        return v2.SleepEntryMessage(wake_up_time=draw(st.integers(0, 2**40)), empty=v2.Empty())
    if kind == "call":
        return v2.CallEntryMessage(service_name="S", handler_name="h", parameter=draw(payloads), value=draw(payloads))
    if kind == "run":
        return v2.RunEntryMessage(name=draw(names), value=draw(payloads))
    return v2.AwakeableEntryMessage(value=draw(payloads))


def _v5_item(draw: st.DrawFn) -> Message | Frame:
    kind = draw(st.sampled_from(["set", "clear", "sleep", "run", "notification", "signal"]))
    key = draw(names).encode()
    if kind == "set":
        return v5.SetStateCommandMessage(key=key, value=v5.Value(content=draw(payloads)))
    if kind == "clear":
        return v5.ClearStateCommandMessage(key=key)
    if kind == "sleep":
        return v5.SleepCommandMessage(
            wake_up_time=draw(st.integers(0, 2**40)), result_completion_id=draw(st.integers(1, 300))
        )
    if kind == "run":
        return v5.RunCommandMessage(result_completion_id=draw(st.integers(1, 300)), name=draw(names))
    if kind == "notification":
        return notification(0x8011, completion_id=draw(st.integers(1, 300)), value=draw(payloads))
    return notification(0xFBFF, signal_id=draw(st.integers(17, 300)), value=draw(payloads))


@st.composite
def valid_streams(draw: st.DrawFn) -> tuple[Version, list[Message | Frame]]:
    version = draw(st.sampled_from(VERSIONS))
    if version.is_legacy:
        entries: list[Message | Frame] = [_v2_entry(draw) for _ in range(draw(st.integers(0, 12)))]
        start = v2.StartMessage(id=b"inv", debug_id="inv", known_entries=1 + len(entries), partial_state=True)
        return version, [start, v2.InputEntryMessage(value=draw(payloads)), *entries]
    items: list[Message | Frame] = [_v5_item(draw) for _ in range(draw(st.integers(0, 12)))]
    start = v5.StartMessage(id=b"inv", debug_id="inv", known_entries=1 + len(items), partial_state=True)
    return version, [start, v5.InputCommandMessage(value=v5.Value(content=draw(payloads))), *items]


def fed_vm(version: Version, chunks: list[bytes] | list[memoryview]) -> CoreVM:
    """A VM (with a fixed clock) fed ``chunks``, its input then closed."""
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    for chunk in chunks:
        vm.notify_input(chunk)
    vm.notify_input_closed()
    return vm


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    pieces, previous = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[previous:point])
        previous = point
    return pieces


@given(valid_streams(), st.lists(st.integers(0, 5000), max_size=30))
def test_decoder_is_independent_of_chunking(stream: tuple[Version, list[Message | Frame]], cuts: list[int]) -> None:
    version, messages = stream
    data = encode_input(version, messages)
    whole = Decoder()
    whole.push(data)
    expected = list(whole)
    assert len(expected) == len(messages)

    split = Decoder()
    got: list[bytes] = []
    for chunk in _chunks(data, cuts):
        got += split.feed(chunk)
    assert [((frame[0] << 8) | frame[1], frame[8:]) for frame in got] == [(raw.type, raw.body) for raw in expected]
    assert split.buffered() == 0


@given(valid_streams(), st.lists(st.integers(0, 5000), max_size=30), st.binary(max_size=20))
def test_decoder_fed_from_an_offset_ignores_the_bytes_before_it(
    stream: tuple[Version, list[Message | Frame]], cuts: list[int], junk: bytes
) -> None:
    version, messages = stream
    data = encode_input(version, messages)
    plain, offset = Decoder(), Decoder()
    expected: list[bytes] = []
    got: list[bytes] = []
    for chunk in _chunks(data, cuts):
        expected += plain.feed(chunk)
        got += offset.feed_from(junk + chunk, len(junk))
    assert got == expected
    assert offset.buffered() == plain.buffered() == 0


@given(valid_streams(), st.lists(st.integers(0, 5000), max_size=30), st.booleans(), st.integers(0, 4))
def test_decoder_joined_then_fed_back_gives_the_same_frames(
    stream: tuple[Version, list[Message | Frame]], cuts: list[int], memoryviews: bool, most: int
) -> None:
    # notify_input's way with bytes pending: join() until the pending message completes. The
    # joined bytes, or a chunk when nothing is pending, then go back to the decoder; but first
    # the caller takes up to `most` whole frames from their start itself, and feeds the decoder
    # the rest from that offset.
    version, messages = stream
    data = encode_input(version, messages)
    plain, joining = Decoder(), Decoder()
    expected: list[bytes] = []
    got: list[bytes] = []
    for chunk in _chunks(data, cuts):
        expected += plain.feed(chunk)
        piece: bytes | memoryview = memoryview(chunk) if memoryviews else chunk
        if joining.buffered():
            joined = joining.join(piece)
            if joined is None:
                assert joining.buffered() == plain.buffered()
                assert got == expected  # (each frame is given as soon as it is whole)
                continue
            assert joining.buffered() == 0
            piece = joined
        offset = 0
        for _ in range(most):
            if len(piece) - offset < 8:
                break
            end = offset + 8 + int.from_bytes(piece[offset + 4 : offset + 8], "big")
            if end > len(piece):
                break
            got.append(bytes(piece[offset:end]))
            offset = end
        got += joining.feed_from(piece, offset) if offset else joining.feed(piece)
        assert joining.buffered() == plain.buffered()
        assert got == expected
    assert joining.buffered() == plain.buffered() == 0


def test_decoder_start_must_lie_within_the_chunk() -> None:  # (feed_from)
    for start in (-1, 4):
        with pytest.raises(ValueError):
            Decoder().feed_from(b"abc", start)


@given(valid_streams(), st.lists(st.integers(0, 5000), max_size=30), st.integers(0, 3))
def test_vm_output_is_independent_of_chunking(
    stream: tuple[Version, list[Message | Frame]], cuts: list[int], fewer: int
) -> None:
    version, messages = stream
    # Now and then a StartMessage announces fewer journal messages than follow it (an error).
    start = messages[0]
    start.known_entries = max(1, start.known_entries - fewer)  # type: ignore[union-attr]
    data = encode_input(version, messages)

    def run(chunks: list[bytes] | list[memoryview]) -> tuple[list[Message], object]:
        vm = fed_vm(version, chunks)
        observed: object
        try:
            observed = vm.is_ready_to_execute()
            observed = (observed, vm.sys_input())
            vm.sys_write_output(Success(b"done"))
            vm.sys_end()
        except VMError as error:
            observed = ("error", error.code)
        output = b""
        while (chunk := vm.take_output()) is not None:
            output += chunk
        return decode_output(version, output), observed

    whole = run([data])
    assert whole == run(_chunks(data, cuts))
    # bytes chunks that begin with a frame are partly read in place (the StartMessage and the
    # journal behind it); other buffers go through the decoder, frame by frame: the same VM.
    assert whole == run([memoryview(data)])
    assert run(_chunks(data, cuts)) == run([memoryview(chunk) for chunk in _chunks(data, cuts)])
    # A runtime in request-response mode sends one message a chunk: bytes chunks that are one
    # whole journal message are taken as they are.
    frames = Decoder().feed(data)
    assert whole == run(frames)
    assert whole == run([memoryview(frame) for frame in frames])


# ---- garbage in: only VMError / SuspendedError out, one ErrorMessage, EOF ----


def _drive(vm: CoreVM, calls: list[Callable[[CoreVM], object]]) -> None:
    """Call each in turn as an SDK would: anything but VMError / SuspendedError fails the test."""
    for call in calls:
        with contextlib.suppress(VMError, SuspendedError):
            call(vm)


def _await(handle_of: Callable[[CoreVM], int]) -> Callable[[CoreVM], object]:
    def call(vm: CoreVM) -> object:
        handle = handle_of(vm)
        vm.notify_await_point(handle)
        return vm.take_async_result(handle)

    return call


HANDLER: list[Callable[[CoreVM], object]] = [
    lambda vm: vm.is_ready_to_execute(),
    lambda vm: vm.sys_input(),
    _await(lambda vm: vm.sys_state_get("a")),
    lambda vm: vm.sys_state_set("a", b"x"),
    _await(lambda vm: vm.sys_sleep(timedelta(seconds=1))),
    _await(lambda vm: vm.sys_call(Target("S", "h"), b"")),
    lambda vm: vm.sys_run_enter("r"),
    lambda vm: vm.sys_write_output(Success(b"out")),
    lambda vm: vm.sys_end(),
]

CLOSING = (v2.EndMessage, v2.SuspensionMessage, v2.ErrorMessage, v5.EndMessage, v5.SuspensionMessage, v5.ErrorMessage)
ERRORS = (v2.ErrorMessage, v5.ErrorMessage)


def _check_output(version: Version, vm: CoreVM) -> list[Message]:
    """Drain the output. Once closed: exactly one End, Suspension or ErrorMessage, last, then EOF.

    After an ErrorMessage the failure is sticky: every call that can fail
    raises the same ``VMError``, with the ErrorMessage's code.
    """
    output = b""
    closed = False
    for _ in range(1000):
        chunk = vm.take_output()
        if chunk is None:
            closed = True
            break
        if not chunk:
            break
        output += chunk
    messages = decode_output(version, output)
    closing = [m for m in messages if isinstance(m, CLOSING)]
    if closed:
        assert len(closing) == 1, messages
        assert messages[-1] is closing[0], messages
        assert vm.take_output() is None
    else:
        assert not closing, messages
    if closing and isinstance(closing[0], ERRORS):
        try:
            vm.is_ready_to_execute()
        except VMError as first:
            assert first.code == closing[0].code
            try:
                vm.sys_input()
            except VMError as second:
                assert second is first
            else:
                raise AssertionError("a failed VM accepted sys_input") from None
        else:
            raise AssertionError("a failed VM says it is ready")
    return messages


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VERSIONS), st.binary(max_size=300), st.booleans())
def test_random_bytes(version: Version, data: bytes, valid_start: bool) -> None:
    vm = CoreVM([("content-type", version.content_type)])
    if valid_start:
        start: Message = (
            v2.StartMessage(id=b"i", debug_id="i", known_entries=1)
            if version.is_legacy
            else v5.StartMessage(id=b"i", debug_id="i", known_entries=1)
        )
        vm.notify_input(encode_input(version, [start]))
    vm.notify_input(data)
    vm.notify_input_closed()
    _drive(vm, HANDLER)
    messages = _check_output(version, vm)
    # The handler ran to its end, so the output closed one way or another.
    assert messages and isinstance(messages[-1], CLOSING)


@st.composite
def wrong_sequences(draw: st.DrawFn) -> tuple[Version, list[Message | Frame]]:
    version, messages = draw(valid_streams())
    pool: list[Message | Frame] = list(messages)
    if version.is_legacy:
        pool += [
            v2.CompletionMessage(entry_index=draw(st.integers(0, 20)), value=b"x"),
            v2.CompletionMessage(entry_index=1),  # no result
            v2.EntryAckMessage(entry_index=draw(st.integers(0, 20))),
            v2.SuspensionMessage(entry_indexes=[1]),
            v2.EndMessage(),
            v2.StartMessage(id=b"x", debug_id="x", known_entries=draw(st.integers(0, 3))),
            Frame(0xFC07, v2.EndMessage()),  # a custom entry
        ]
    else:
        pool += [
            notification(0x800C, completion_id=draw(st.integers(1, 400)), void=True),
            notification(0x8002, completion_id=1),  # no result
            v5.SuspensionMessage(waiting_completions=[1]),
            v5.EndMessage(),
            v5.ProposeRunCompletionMessage(result_completion_id=1, value=b"x"),
            v5.StartMessage(id=b"x", debug_id="x", known_entries=draw(st.integers(0, 3))),
            Frame(0x0006, v5.EndMessage()),  # an unknown control message
            Frame(0xFC01, v5.EndMessage()),  # a custom entry
        ]
    return version, draw(st.lists(st.sampled_from(pool), min_size=1, max_size=20))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(wrong_sequences(), st.integers(0, len(HANDLER)), st.booleans())
def test_wrong_message_sequences(sequence: tuple[Version, list[Message | Frame]], split: int, close: bool) -> None:
    version, messages = sequence
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    data = encode_input(version, messages)
    vm.notify_input(data[: len(data) // 2])
    _drive(vm, HANDLER[:split])
    vm.notify_input(data[len(data) // 2 :])
    if close:
        vm.notify_input_closed()
    _drive(vm, HANDLER[split:])
    vm.notify_error("the handler gave up")  # as an SDK does when the handler could not finish
    messages = _check_output(version, vm)
    # Whatever happened, the output is closed now: End, Suspension or Error.
    assert messages and isinstance(messages[-1], CLOSING)
