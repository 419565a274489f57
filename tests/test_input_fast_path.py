"""While the handler runs, both journal models read completions, acks and notifications
straight from the chunk they arrive in when it is ``bytes`` (``notify_input``'s fast path).
Any other buffer type goes the general way: through the decoder, frame by frame.

The property: for any stream of such messages (well-formed or not, for entries that exist or
not, mixed with other messages), cut anywhere, the two ways leave the VM in the same place:
same output, same results for every handle, same errors.
"""

from __future__ import annotations

import struct
from datetime import timedelta

from hypothesis import example, given
from hypothesis import strategies as st

from restate_core import CoreVM, Success, SuspendedError, Target, VMError
from restate_core.protocol import Version, v2, v5
from restate_core.retries import RetryPolicy
from restate_core.testing import encode_input, notification

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]
payloads = st.binary(max_size=150)
CALL = 0x800D  # V5: CallCompletionNotificationMessage
CALL_ID = 0x800E  # V5: CallInvocationIdCompletionNotificationMessage
SLEEP = 0x800C
RUN = 0x8011
SIGNAL = 0xFBFF


def raw(message_type: int, body: bytes) -> bytes:
    return struct.pack(">HHI", message_type, 0, len(body)) + body


def _v2_message(draw: st.DrawFn, entries: int) -> bytes:
    index = draw(st.integers(0, entries + 2))
    kind = draw(st.sampled_from(["value", "empty", "failure", "ack", "garbage", "other"]))
    if kind == "value":
        message = v2.CompletionMessage(entry_index=index, value=draw(payloads))
    elif kind == "empty":
        message = v2.CompletionMessage(entry_index=index, empty=v2.Empty())
    elif kind == "failure":
        message = v2.CompletionMessage(entry_index=index, failure=v2.Failure(code=500, message="no"))
    elif kind == "ack":
        message = v2.EntryAckMessage(entry_index=draw(st.sampled_from([index, 200, 70_000])))
    elif kind == "garbage":
        # (Two bytes, as many as the usual ack has.)
        body = draw(st.one_of(st.binary(max_size=12), st.binary(min_size=2, max_size=2)))
        return raw(draw(st.sampled_from([0x0003, 0x0004])), body)
    else:  # a journal entry or a StartMessage: not allowed here
        message = draw(st.sampled_from([v2.SleepEntryMessage(wake_up_time=5), v2.StartMessage(known_entries=1)]))
    return encode_input(Version.V2, [message])


def _v5_message(draw: st.DrawFn, completion_ids: int) -> bytes:
    completion_id = draw(st.integers(0, completion_ids + 2))
    kind = draw(st.sampled_from(["value", "void", "failure", "invocation id", "signal", "garbage", "other"]))
    if kind == "value":
        frame = notification(draw(st.sampled_from([CALL, RUN])), completion_id=completion_id, value=draw(payloads))
    elif kind == "void":
        frame = notification(SLEEP, completion_id=completion_id, void=True)
    elif kind == "failure":
        frame = notification(RUN, completion_id=completion_id, failure=(500, "no"))
    elif kind == "invocation id":
        frame = notification(CALL_ID, completion_id=completion_id, invocation_id=draw(st.text(max_size=8)))
    elif kind == "signal":
        frame = notification(SIGNAL, signal_id=draw(st.integers(1, 20)), value=b"x")
    elif kind == "garbage":
        return raw(draw(st.sampled_from([SLEEP, RUN, CALL])), draw(st.binary(max_size=12)))
    else:  # a command: not allowed here
        return encode_input(Version.V6, [v5.SleepCommandMessage(wake_up_time=5, result_completion_id=1)])
    return encode_input(Version.V6, [frame])


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Version, list[str], bytes, list[int], int]:
    version = draw(st.sampled_from(VERSIONS))
    operations = draw(st.lists(st.sampled_from(["sleep", "call", "run"]), min_size=1, max_size=6))
    if version.is_legacy:
        messages = [_v2_message(draw, len(operations)) for _ in range(draw(st.integers(1, 10)))]
    else:
        messages = [_v5_message(draw, 2 * len(operations)) for _ in range(draw(st.integers(1, 10)))]
    data = b"".join(messages)
    cuts = draw(st.lists(st.integers(0, len(data)), max_size=6))
    awaited = draw(st.integers(0, len(operations)))  # the handle awaited before the input comes (or none)
    return version, operations, data, cuts, awaited


def observe(version: Version, operations: list[str], chunks: list[bytes], awaited: int, as_bytes: bool) -> object:
    start = encode_input(
        version,
        [
            (v2 if version.is_legacy else v5).StartMessage(id=b"inv", debug_id="inv", known_entries=1),
            v2.InputEntryMessage(value=b"in") if version.is_legacy else v5.InputCommandMessage(),
        ],
    )
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    vm.notify_input(start)
    assert vm.is_ready_to_execute()
    vm.sys_input()
    handles = []
    for operation in operations:
        if operation == "sleep":
            handles.append(vm.sys_sleep(timedelta(seconds=1)))
        elif operation == "call":
            handles.append(vm.sys_call(Target("S", "h"), b"arg"))
        else:
            vm.sys_run_enter("r")
            handles.append(vm.sys_run_exit(Success(b"ran"), RetryPolicy.infinite()))
    seen: list[object] = []
    try:
        if awaited < len(handles):
            vm.notify_await_point(handles[awaited])
        for chunk in chunks:
            vm.notify_input(chunk if as_bytes else memoryview(bytearray(chunk)))
            if awaited < len(handles):
                seen.append(vm.take_async_result(handles[awaited]))
        vm.notify_input_closed()
        for handle in handles:
            vm.notify_await_point(handle)
            seen.append(vm.take_async_result(handle))
    except VMError as error:
        seen.append(("error", error.code, error.message))
    except SuspendedError:
        seen.append("suspended")
    output = b""
    while piece := vm.take_output():
        output += piece
    return seen, output, vm.take_output() is None  # (None: the output is closed)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted(set(cuts))
    pieces, previous = [], 0
    for point in [*points, len(data)]:
        pieces.append(data[previous:point])
        previous = point
    return pieces


@given(scenarios())
# A two-byte ack body that is not {entry_index: 1} (field 2 here): acks nothing.
@example((Version.V2, ["run"], raw(0x0004, b"\x10\x01"), [], 0))
# Two results for one completion id: the second must not simply replace the first.
@example(
    (
        Version.V6,
        ["run"],
        encode_input(
            Version.V6,
            [notification(RUN, completion_id=1, value=b"a"), notification(RUN, completion_id=1, value=b"b")],
        ),
        [],
        0,
    )
)
def test_completions_read_in_the_chunk_match_the_general_way(
    scenario: tuple[Version, list[str], bytes, list[int], int],
) -> None:
    version, operations, data, cuts, awaited = scenario
    chunks = _chunks(data, cuts)
    fast = observe(version, operations, chunks, awaited, as_bytes=True)
    general = observe(version, operations, chunks, awaited, as_bytes=False)
    assert fast == general
    # Whole chunks, too (the fast path's own case: every frame in one chunk).
    assert observe(version, operations, [data], awaited, True) == observe(version, operations, [data], awaited, False)


# ---- the input entry or command, with headers ----


@given(
    st.sampled_from(VERSIONS),
    st.lists(st.tuples(st.text(max_size=20), st.text(max_size=150)), max_size=5),
    payloads,
    st.sampled_from(["", "a name"]),
)
def test_input_with_headers_read_as_protobuf_reads_it(
    version: Version, pairs: list[tuple[str, str]], value: bytes, name: str
) -> None:
    # Headers of any length (a long one goes the general way), a value or none, a name or none.
    if version.is_legacy:
        start: object = v2.StartMessage(id=b"id", debug_id="inv", known_entries=1, key="k")
        entry: object = v2.InputEntryMessage(
            headers=[v2.Header(key=k, value=v) for k, v in pairs], value=value, name=name
        )
    else:
        start = v5.StartMessage(id=b"id", debug_id="inv", known_entries=1, key="k")
        entry = v5.InputCommandMessage(
            headers=[v5.Header(key=k, value=v) for k, v in pairs], value=v5.Value(content=value), name=name
        )
    vm = CoreVM([("content-type", version.content_type)])
    vm.notify_input(encode_input(version, [start, entry]))
    vm.notify_input_closed()
    assert vm.is_ready_to_execute()
    got = vm.sys_input()
    assert [(h.key, h.value) for h in got.headers] == pairs
    assert (got.input, got.invocation_id, got.key) == (value, "inv", "k")


# ---- a journal sent one message a chunk ----


@given(st.sampled_from(VERSIONS), st.integers(0, 40))
def test_a_journal_message_over_the_size_limit_fails_as_through_the_decoder(version: Version, size: int) -> None:
    from restate_core.protocol import Decoder

    if version.is_legacy:
        start: object = v2.StartMessage(id=b"id", debug_id="inv", known_entries=2)
        messages = [v2.InputEntryMessage(), v2.SetStateEntryMessage(key=b"k", value=b"v" * size)]
    else:
        start = v5.StartMessage(id=b"id", debug_id="inv", known_entries=3)
        messages = [
            v5.InputCommandMessage(),
            v5.SetStateCommandMessage(key=b"k", value=v5.Value(content=b"v" * size)),
            notification(RUN, completion_id=1, value=b"v" * size),
        ]

    def run(wrap: type) -> tuple[object, bytes]:
        vm = CoreVM([("content-type", version.content_type)])
        vm.notify_input(encode_input(version, [start]))
        vm._decoder = Decoder(max_message_size=20)  # (the VM's own limit is 32 MiB)
        for message in messages:
            vm.notify_input(wrap(encode_input(version, [message])))
        try:
            observed: object = vm.is_ready_to_execute()
        except VMError as error:
            observed = error.code
        output = b""
        while chunk := vm.take_output():
            output += chunk
        return observed, output

    bytes_way = run(bytes)
    assert bytes_way == run(memoryview)
    over = any(len(encode_input(version, [message])) - 8 > 20 for message in messages)
    assert (bytes_way[0] == 571) == over
