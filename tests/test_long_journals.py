"""Long journals, split into chunks of any size: every entry replayed, in order.

The journal messages that begin a chunk are sliced into the replay queue where they lie; with
bytes pending, a chunk that completes the pending message is joined with them and read the same
way; the decoder takes the rest (a message that follows something else, or one still incomplete).
However the chunks cut the messages, the replay is the same.
"""

from __future__ import annotations

from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from restate_core import CoreVM, Executed, Success, VMError
from restate_core.protocol import Decoder, Version, v2, v5
from restate_core.testing import Frame, encode_input, notification

VERSIONS = [Version.V1, Version.V2, Version.V5, Version.V6]
RUN_NOTIFICATION = 0x8011


def journal(version: Version, kinds: list[str]) -> bytes:
    """StartMessage, input, then a set-state or a run (with its result) per kind."""
    messages: list[Message | Frame] = []
    runs = 0
    for number, kind in enumerate(kinds):
        key, value = f"k{number}".encode(), f"v{number}".encode()
        if version.is_legacy:
            if kind == "set":
                messages.append(v2.SetStateEntryMessage(key=key, value=value))
            else:
                messages.append(v2.RunEntryMessage(name="r", value=value))
        elif kind == "set":
            messages.append(v5.SetStateCommandMessage(key=key, value=v5.Value(content=value)))
        else:
            runs += 1
            messages.append(v5.RunCommandMessage(result_completion_id=runs, name="r"))
            messages.append(notification(RUN_NOTIFICATION, completion_id=runs, value=value))
    if version.is_legacy:
        head: list[Message | Frame] = [v2.StartMessage(id=b"i", debug_id="i", known_entries=1 + len(messages))]
        head.append(v2.InputEntryMessage(value=b"in"))
    else:
        head = [v5.StartMessage(id=b"i", debug_id="i", known_entries=1 + len(messages))]
        head.append(v5.InputCommandMessage(value=v5.Value(content=b"in")))
    return encode_input(version, [*head, *messages])


def replayed(version: Version, kinds: list[str], chunks: list[bytes] | list[memoryview]) -> tuple[list[object], bytes]:
    vm = CoreVM([("content-type", version.content_type)])
    for chunk in chunks:
        vm.notify_input(chunk)
    vm.notify_input_closed()
    seen: list[object] = []
    try:
        assert vm.is_ready_to_execute()
        seen.append(vm.sys_input().input)
        for number, kind in enumerate(kinds):
            if kind == "set":
                vm.sys_state_set(f"k{number}", f"v{number}".encode())
            else:
                seen.append(vm.sys_run_enter("r"))
        vm.sys_write_output(Success(b"done"))
        vm.sys_end()
    except VMError as error:
        seen.append((error.code, error.message))
    output = b""
    while piece := vm.take_output():
        output += piece
    return seen, output


def expected(kinds: list[str]) -> list[object]:
    return [b"in"] + [Executed(Success(f"v{number}".encode())) for number, kind in enumerate(kinds) if kind == "run"]


def sized(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(point, len(data)) for point in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(VERSIONS),
    st.integers(1, 200).flatmap(lambda n: st.lists(st.sampled_from(["set", "run"]), min_size=n, max_size=n)),
    st.lists(st.integers(0, 20_000), max_size=12),
    st.sampled_from([7, 30, 100, 1024]),
)
def test_a_long_journal_in_chunks_replays_every_entry_in_order(
    version: Version, kinds: list[str], cuts: list[int], size: int
) -> None:
    data = journal(version, kinds)
    whole = replayed(version, kinds, [data])
    assert whole[0] == expected(kinds)
    frames = Decoder().feed(data)
    # The StartMessage alone first, the rest in chunks: every message from a later chunk.
    for chunks in (cut(data, cuts), sized(data, size), [frames[0], *sized(b"".join(frames[1:]), size)], frames):
        assert replayed(version, kinds, chunks) == whole
        assert replayed(version, kinds, [memoryview(chunk) for chunk in chunks]) == whole


@given(st.sampled_from(VERSIONS), st.integers(1, 130))
def test_a_journal_a_byte_at_a_time(version: Version, count: int) -> None:
    kinds = ["run", "set"] * count
    data = journal(version, kinds)
    assert replayed(version, kinds, sized(data, 1)) == replayed(version, kinds, [data])
