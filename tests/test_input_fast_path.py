"""While the handler runs, both journal models read completions, acks and notifications
straight from the chunk they arrive in when it is ``bytes`` (``notify_input``'s fast path).
Any other buffer type goes the general way: through the decoder, frame by frame.

The property: for any stream of such messages (well-formed or not, for entries that exist or
not, mixed with other messages), cut anywhere, the two ways leave the VM in the same place:
same output, same results for every handle, same errors.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from restate_core import CoreVM, NotExecuted, Success, SuspendedError, Target, VMError
from restate_core.protocol import Decoder, Version, v2, v5
from restate_core.retries import RetryPolicy
from restate_core.testing import encode_input, notification

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]
payloads = st.binary(max_size=150)
CALL = 0x800D  # V5: CallCompletionNotificationMessage
CALL_ID = 0x800E  # V5: CallInvocationIdCompletionNotificationMessage
SLEEP = 0x800C
RUN = 0x8011
SIGNAL = 0xFBFF
CANCEL = encode_input(Version.V6, [notification(SIGNAL, signal_id=1, void=True)])


def raw(message_type: int, body: bytes) -> bytes:
    return struct.pack(">HHI", message_type, 0, len(body)) + body


def _v2_message(draw: st.DrawFn, entries: int) -> bytes:
    index = draw(st.integers(0, entries + 2))
    kind = draw(st.sampled_from(["value", "empty", "failure", "ack", "garbage", "near", "other"]))
    if kind == "near":
        return raw(0x0001, _near_usual_completion(draw, index))
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
    kind = draw(st.sampled_from(["value", "void", "failure", "invocation id", "signal", "garbage", "near", "other"]))
    if kind == "near":
        return raw(draw(st.sampled_from([SLEEP, RUN, CALL])), _near_usual(draw, completion_id))
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


def _near_usual(draw: st.DrawFn, completion_id: int) -> bytes:
    """A notification body of one of the usual shapes, {completion_id, value: Value{content}},
    {completion_id, void} or {completion_id, invocation_id} with one-byte lengths, as it is or
    with one byte set, inserted or dropped anywhere: the shapes the reader must tell from the
    usual ones."""
    shape = draw(st.sampled_from(["value", "void", "invocation id"]))
    if shape == "value":
        content = draw(st.binary(max_size=10))
        body = bytes([0x08, completion_id & 0x7F, 0x2A, len(content) + 2, 0x0A, len(content)]) + content
    elif shape == "void":
        body = bytes([0x08, completion_id & 0x7F, 0x22, 0x00])
    else:
        invocation_id = draw(st.sampled_from([b"inv_1", b"", b"\xff", b"\xc3"]))
        body = bytes([0x08, completion_id & 0x7F, 0x82, 0x01, len(invocation_id)]) + invocation_id
    return _changed(draw, body)


def _near_usual_completion(draw: st.DrawFn, index: int) -> bytes:
    """The same for a V1/V2 CompletionMessage: {entry_index, value} or {entry_index, empty}."""
    if draw(st.booleans()):
        value = draw(st.binary(max_size=10))
        body = bytes([0x08, index & 0x7F, 0x72, len(value)]) + value
    else:
        body = bytes([0x08, index & 0x7F, 0x6A, 0x00])
    return _changed(draw, body)


def _changed(draw: st.DrawFn, body: bytes) -> bytes:
    position = draw(st.integers(0, len(body)))
    byte = bytes([draw(st.sampled_from([0x00, 0x01, 0x02, 0x08, 0x0A, 0x0C, 0x22, 0x2A, 0x7F, 0x80, 0x81, 0xFF]))])
    change = draw(st.sampled_from(["none", "set", "insert", "drop"]))
    if change == "set" and position < len(body):
        body = body[:position] + byte + body[position + 1 :]
    elif change == "insert":
        body = body[:position] + byte + body[position:]
    elif change == "drop":
        body = body[:position] + body[position + 1 :]
    return body


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


def _do(vm: CoreVM, operations: list[str], seen: list[object]) -> list[int]:
    """The handler's operations; the handles to await (a replayed run may give its value at once)."""
    handles = []
    for operation in operations:
        if operation == "sleep":
            handles.append(vm.sys_sleep(timedelta(seconds=1)))
        elif operation == "call":
            handles.append(vm.sys_call(Target("S", "h"), b"arg"))
        else:
            entered = vm.sys_run_enter("r")
            if isinstance(entered, NotExecuted):
                handles.append(vm.sys_run_exit(Success(b"ran"), RetryPolicy.infinite()))
            else:
                seen.append(entered)
    return handles


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
    handles = _do(vm, operations, [])
    seen: list[object] = []

    def handler() -> None:
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

    return _outcome(vm, handler, seen)


def _outcome(vm: CoreVM, handler: Callable[[], None], seen: list[object]) -> object:
    """Run ``handler`` (which notes what it sees in ``seen``) to its end, error or suspension:
    what it saw, the VM's output, and whether the output is closed."""
    try:
        handler()
    except VMError as error:
        seen.append(("error", error.code, error.message))
    except SuspendedError:
        seen.append("suspended")
    return seen, drained(vm), vm.take_output() is None


def drained(vm: CoreVM) -> bytes:
    """Everything the VM has written so far."""
    output = b""
    while piece := vm.take_output():
        output += piece
    return output


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
# V1/V2, near the usual completions: more after the value; more after empty; empty whose length
# byte says 1; an empty failure; entry index 129 + 0x6A * 128, or + 0x72 * 128; {2: 1, empty}
# (entry index 0); a usual body in a frame that is not a control message (0x0401).
@example((Version.V2, ["sleep", "sleep"], raw(0x0001, b"\x08\x01\x72\x01x\x08\x02"), [], 0))
@example((Version.V2, ["sleep", "sleep"], raw(0x0001, b"\x08\x01\x6a\x00\x08\x02"), [], 0))
@example((Version.V2, ["sleep"], raw(0x0001, b"\x08\x01\x6a\x01"), [], 0))
@example((Version.V2, ["sleep"], raw(0x0001, b"\x08\x01\x7a\x00"), [], 0))
@example((Version.V2, ["sleep"] * 130, raw(0x0001, b"\x08\x81\x6a\x00"), [], 128))
@example((Version.V2, ["sleep"] * 130, raw(0x0001, b"\x08\x81\x72\x01x"), [], 128))
@example((Version.V2, ["sleep"], raw(0x0001, b"\x10\x01\x6a\x00"), [], 0))
@example((Version.V2, ["sleep"], raw(0x0401, b"\x08\x01\x6a\x00"), [], 0))
# Near the usual shapes (_read_in_place reads the first bytes of a body ahead of its checks):
# Value{} (no content field), last in its chunk;
@example((Version.V6, ["run"], raw(RUN, b"\x08\x01\x2a\x00"), [], 0))
# Value{content: "", 2: 5}: content's length byte is not the rest of the Value;
@example((Version.V6, ["run"], raw(RUN, b"\x08\x01\x2a\x04\x0a\x00\x10\x05"), [], 0))
# Value{2: "x"}: not the content field;
@example((Version.V6, ["run"], raw(RUN, b"\x08\x01\x2a\x03\x12\x01x"), [], 0))
# {completion_id: 1, value: Value{content: "x"}, completion_id: 2}: more after the value;
@example((Version.V6, ["run", "run"], raw(RUN, b"\x08\x01\x2a\x03\x0a\x01x\x08\x02"), [], 0))
# void whose length byte says 1 with nothing behind it;
@example((Version.V6, ["sleep"], raw(SLEEP, b"\x08\x01\x22\x01"), [], 0))
# completion id 129 + 0x22 * 128 (a two-byte varint whose second byte looks like the void tag);
@example((Version.V6, ["sleep"] * 130, raw(SLEEP, b"\x08\x81\x22\x00"), [], 128))
# void, then more: {completion_id: 1, void, completion_id: 2};
@example((Version.V6, ["sleep", "sleep"], raw(SLEEP, b"\x08\x01\x22\x00\x08\x02"), [], 0))
# {signal_id: 1, void}: the cancel signal, not completion 1;
@example((Version.V6, ["sleep"], raw(SLEEP, b"\x10\x01\x22\x00"), [], 0))
# an invocation id that is not UTF-8, or with more after it, or whose length byte starts a longer
# varint (the id then 128 bytes long), or another field (32, or 3 with a byte that looks like a
# zero length) in place of it, or cut before its length (last in the chunk); each followed by the
# cancel signal, which makes the VM send the ids it holds (its output shows them);
@example((Version.V6, ["call"], raw(CALL_ID, b"\x08\x01\x1a\x01\x00") + CANCEL, [], 0))
@example((Version.V6, ["call"], raw(CALL_ID, b"\x08\x01\x82\x01"), [], 0))
@example((Version.V6, ["call"], raw(CALL_ID, b"\x08\x01\x82\x01\x01\xff") + CANCEL, [], 0))
@example((Version.V6, ["call", "call"], raw(CALL_ID, b"\x08\x01\x82\x01\x01x\x08\x03") + CANCEL, [], 0))
@example((Version.V6, ["call"], raw(CALL_ID, b"\x08\x01\x82\x01\x80\x01" + b"i" * 128) + CANCEL, [], 0))
@example((Version.V6, ["call"], raw(CALL_ID, b"\x08\x01\x82\x02\x01x") + CANCEL, [], 0))
# a usual body in a frame that is not a notification: a command (0x0C00), type 0xFC01.
@example((Version.V6, ["sleep"], raw(0x0C00, b"\x08\x01\x22\x00"), [], 0))
@example((Version.V6, ["sleep"], raw(0xFC01, b"\x08\x01\x22\x00"), [], 0))
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


# ---- V5/V6: the journal to replay, commands and notifications, read in the chunk ----


def _commands(version: Version, operations: list[str]) -> list[bytes]:
    """The commands the operations write on a fresh invocation: the journal to replay them from."""
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    vm.notify_input(encode_input(version, [v5.StartMessage(id=b"inv", known_entries=1), v5.InputCommandMessage()]))
    vm.sys_input()
    _do(vm, operations, [])
    return [frame for frame in Decoder().feed(drained(vm)) if 0x04 <= frame[0] <= 0x7F]


@st.composite
def journals(draw: st.DrawFn) -> tuple[Version, list[str], list[bytes], int]:
    """A journal to replay: the commands of some operations, and notifications of every kind
    (the usual shapes, near them, garbage, signals) anywhere among them, for completion ids
    that exist or not; ``known_entries`` now and then smaller than the journal."""
    version = draw(st.sampled_from([Version.V5, Version.V6]))
    operations = draw(st.lists(st.sampled_from(["sleep", "call", "run"]), min_size=1, max_size=5))
    items = _commands(version, operations)
    ids = 2 * len(operations)  # a call takes two completion ids
    for _ in range(draw(st.integers(0, 8))):
        message = _v5_message(draw, ids)
        items.insert(draw(st.integers(0, len(items))), message)
    fewer = draw(st.integers(0, 2))
    return version, operations, items, max(1, 1 + len(items) - fewer)


def _replayed(version: Version, operations: list[str], chunks: list[bytes] | list[memoryview]) -> object:
    vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
    for chunk in chunks:
        vm.notify_input(chunk)
    vm.notify_input_closed()
    seen: list[object] = []

    def handler() -> None:
        seen.append(vm.is_ready_to_execute())
        seen.append(vm.sys_input().input)
        for handle in _do(vm, operations, seen):
            vm.notify_await_point(handle)
            seen.append(vm.take_async_result(handle))

    return _outcome(vm, handler, seen)


RUN_COMMAND = _commands(Version.V6, ["run"])[0]


def _run_replayed(body: bytes, message_type: int = RUN) -> tuple[Version, list[str], list[bytes], int]:
    """A run's command and, behind it, a notification body (for completion id 1, the run's)."""
    return Version.V6, ["run"], [RUN_COMMAND, raw(message_type, body)], 3


@given(journals(), st.lists(st.integers(0, 30), max_size=4), st.lists(st.integers(0, 2000), max_size=4))
# Near the commonest shape, {completion_id: 1, value: Value{content}}: more after the value;
# Value{content: "", 2: 5}; Value{2: "x"}; Value{}; a two-byte completion id whose second byte
# looks like the value's tag (then a field the decoder rejects); the usual shape itself.
@example(_run_replayed(b"\x08\x01\x2a\x03\x0a\x01x\x08\x02"), [], [])
@example(_run_replayed(b"\x08\x01\x2a\x04\x0a\x00\x10\x05"), [], [])
@example(_run_replayed(b"\x08\x01\x2a\x03\x12\x01x"), [], [])
@example(_run_replayed(b"\x08\x01\x2a\x00"), [], [])
@example(_run_replayed(b"\x08\x81\x2a\x04\x0a\x02xy"), [], [])
@example(_run_replayed(b"\x08\x01\x2a\x03\x0a\x01x"), [], [])
# That shape in a message that is neither a notification nor a command: 0xFC01, 0x0003 (End).
@example(_run_replayed(b"\x08\x01\x2a\x03\x0a\x01x", 0xFC01), [], [])
@example(_run_replayed(b"\x08\x01\x2a\x03\x0a\x01x", 0x0003), [], [])
def test_a_journal_read_in_the_chunk_matches_the_general_way(
    journal: tuple[Version, list[str], list[bytes], int], boundaries: list[int], cuts: list[int]
) -> None:
    # A StartMessage that begins a bytes chunk, and the journal messages that begin a later one,
    # are taken where they lie up to the first message that is not a command or a usual
    # notification; a memoryview goes through the decoder: the same VM either way.
    version, operations, items, known = journal
    start = encode_input(version, [v5.StartMessage(id=b"inv", debug_id="inv", known_entries=known)])
    frames = [start, encode_input(version, [v5.InputCommandMessage(value=v5.Value(content=b"in"))]), *items]
    data = b"".join(frames)
    general = _replayed(version, operations, [memoryview(data)])
    assert general == _replayed(version, operations, [data])
    # Cut between messages (a later chunk then begins with a journal message), and anywhere.
    points = [len(b"".join(frames[: 1 + b % len(frames)])) for b in boundaries]
    for chunks in (_chunks(data, points), _chunks(data, cuts), frames):
        assert general == _replayed(version, operations, chunks)
        assert general == _replayed(version, operations, [memoryview(chunk) for chunk in chunks])


# ---- messages over the size limit ----


@given(st.sampled_from(VERSIONS), st.integers(0, 40), st.sampled_from(["a chunk each", "with the start", "one chunk"]))
def test_a_journal_message_over_the_size_limit_fails_as_through_the_decoder(
    version: Version, size: int, way: str
) -> None:
    # The journal sent one message a chunk, in the StartMessage's chunk, or in one chunk after it.
    if version.is_legacy:
        start: object = v2.StartMessage(id=b"id", debug_id="inv", known_entries=2)
        messages = [v2.InputEntryMessage(), v2.SetStateEntryMessage(key=b"k", value=b"v" * size)]
    else:
        start = v5.StartMessage(id=b"id", debug_id="inv", known_entries=4)
        messages = [
            v5.InputCommandMessage(),
            v5.SetStateCommandMessage(key=b"k", value=v5.Value(content=b"v" * size)),
            notification(RUN, completion_id=1, value=b"v" * size),
            notification(SLEEP, completion_id=2, void=True),
        ]

    def run(wrap: type) -> tuple[object, bytes]:
        vm = CoreVM([("content-type", version.content_type)])
        if way == "with the start":
            vm._decoder = Decoder(max_message_size=20)  # (the VM's own limit is 32 MiB)
            vm.notify_input(wrap(encode_input(version, [start, *messages])))
        else:
            vm.notify_input(encode_input(version, [start]))
            vm._decoder = Decoder(max_message_size=20)
            if way == "one chunk":
                vm.notify_input(wrap(encode_input(version, messages)))
            else:
                for message in messages:
                    vm.notify_input(wrap(encode_input(version, [message])))
        try:
            observed: object = vm.is_ready_to_execute()
        except VMError as error:
            observed = error.code
        return observed, drained(vm)

    bytes_way = run(bytes)
    assert bytes_way == run(memoryview)
    over = any(len(encode_input(version, [message])) - 8 > 20 for message in messages)
    assert (bytes_way[0] == 571) == over


@given(st.sampled_from(VERSIONS), st.integers(0, 40))
def test_a_completion_over_the_size_limit_fails_as_through_the_decoder(version: Version, size: int) -> None:
    if version.is_legacy:
        completion = encode_input(version, [v2.CompletionMessage(entry_index=1, value=b"v" * size)])
    else:
        completion = encode_input(version, [notification(RUN, completion_id=1, value=b"v" * size)])

    def run(wrap: type) -> object:
        vm = CoreVM([("content-type", version.content_type)])
        start = (v2 if version.is_legacy else v5).StartMessage(id=b"id", debug_id="inv", known_entries=1)
        vm.notify_input(
            encode_input(version, [start, v2.InputEntryMessage() if version.is_legacy else v5.InputCommandMessage()])
        )
        assert vm.is_ready_to_execute()
        vm.sys_input()
        vm.sys_run_enter("r")
        handle = vm.sys_run_exit(Success(b"ran"), RetryPolicy.infinite())
        vm._decoder = Decoder(max_message_size=20)  # (the VM's own limit is 32 MiB)
        vm.notify_input(wrap(completion))
        try:
            vm.notify_await_point(handle)
            return vm.take_async_result(handle)
        except VMError as error:
            return error.code

    bytes_way = run(bytes)
    assert bytes_way == run(memoryview)
    assert (bytes_way == 571) == (len(completion) - 8 > 20)


# ---- the StartMessage and the journal behind it, cut in two anywhere ----


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_a_start_message_cut_anywhere_gives_the_same_invocation(version: Version) -> None:
    # A chunk that begins with a StartMessage is read in place only when nothing is pending:
    # the rest of a cut StartMessage may itself look like the start of a frame (here, where it
    # cuts the invocation id's zeros: type 0, then a small length).
    proto = v2 if version.is_legacy else v5
    start = proto.StartMessage(id=bytes(12), debug_id="inv", known_entries=2, key="k")
    if version.is_legacy:
        journal: list[object] = [v2.InputEntryMessage(value=b"in"), v2.SleepEntryMessage(wake_up_time=5)]
    else:
        journal = [v5.InputCommandMessage(value=v5.Value(content=b"in")), v5.SleepCommandMessage(wake_up_time=5)]
    data = encode_input(version, [start, *journal])

    def run(chunks: list[bytes]) -> object:
        vm = CoreVM([("content-type", version.content_type)], clock=lambda: 1000.0)
        for chunk in chunks:
            vm.notify_input(chunk)
        vm.notify_input_closed()
        try:
            observed: object = (vm.is_ready_to_execute(), vm.sys_input())
            vm.sys_sleep(timedelta(seconds=5))
        except VMError as error:
            observed = error.code
        return observed, drained(vm)

    whole = run([data])
    assert whole[0] != 571 and whole[0] != 500
    for cut in range(1, len(data)):
        assert run([data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("version", VERSIONS, ids=str)
def test_vms_fed_in_turn_keep_their_own_pending_bytes(version: Version) -> None:
    # Until a VM needs a decoder of its own (bytes it cannot take in place), it has none: the
    # pending bytes of one VM must never show up in another.
    proto = v2 if version.is_legacy else v5
    entry = (
        v2.InputEntryMessage(value=b"in")
        if version.is_legacy
        else v5.InputCommandMessage(value=v5.Value(content=b"in"))
    )
    a, b = (proto.StartMessage(id=name, debug_id=name.decode(), known_entries=1) for name in (b"a", b"b"))
    data_a, data_b = encode_input(version, [a, entry]), encode_input(version, [b, entry])
    vm_a = CoreVM([("content-type", version.content_type)])
    vm_b = CoreVM([("content-type", version.content_type)])
    vm_c = CoreVM([("content-type", version.content_type)])
    vm_a.notify_input(data_a[:5])
    vm_b.notify_input(data_b)  # whole: taken in place
    vm_c.notify_input(data_b[:9])
    vm_a.notify_input(data_a[5:])
    vm_c.notify_input(data_b[9:])
    for vm, name in ((vm_a, "a"), (vm_b, "b"), (vm_c, "b")):
        vm.notify_input_closed()
        assert vm.is_ready_to_execute()
        got = vm.sys_input()
        assert (got.invocation_id, got.input) == (name, b"in")
