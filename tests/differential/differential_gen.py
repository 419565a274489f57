"""Hypothesis strategies: handler programs, StartMessages, and runtime behaviours.

A test draws a ``StartSpec`` and a program, records the program's journal on
our core (``differential_kit.record_v2`` / ``record_v5``), then draws a
``Scenario`` from that record with ``v2_scenario`` / ``v5_scenario``:

* where the replayed journal is cut (any prefix, down to the input entry alone);
* for every result of a replayed entry or command: inside the journal (V1/V2:
  the entry carries its result; V5+: the notification is a journal message), or
  sent live, or never;
* for every live result (and V1/V2 run ack): before the handler starts, right
  after a given operation, when an await needs input (in a drawn order), or never;
* when the input closes: before the handler starts (request/response), after a
  given operation, or once an await needs input that will not come;
* how the initial bytes are chunked (one chunk, one per message, random splits).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import Any

from differential_kit import (
    Await,
    Awakeable,
    Call,
    ClearAll,
    ClearState,
    CompleteAwakeable,
    CompletePromise,
    Delivery,
    End,
    ExitWithoutEnter,
    GetKeys,
    GetPromise,
    GetState,
    InputOp,
    NotifyError,
    Op,
    PeekPromise,
    Poll,
    Retryable,
    RetryConfig,
    Run,
    Scenario,
    Send,
    SetState,
    Sleep,
    StartSpec,
    V2Record,
    V5Record,
    WriteOutput,
    encode,
    label_of,
)
from hypothesis import strategies as st

from restate_core import VOID, Failure, Success
from restate_core.protocol import Decoder, Version, encode_frame, v2, v5
from restate_core.protocol._encoder import decode_message
from restate_core.testing import notification

KEYS = st.sampled_from(["a", "b", "c", "ключ"])
VALUES = st.sampled_from([b"", b"v", b"xyz", b"\x00\xff"])
SUCCESSES = st.builds(Success, VALUES)
FAILURES = st.builds(Failure, st.sampled_from([400, 409, 500, 503, 1000]), st.sampled_from(["", "boom", "nope"]))
NON_EMPTY = st.one_of(SUCCESSES, FAILURES)
VOIDS = st.just(VOID)
NAMES = st.sampled_from(["", "r", "fetch", "side effect"])
STATE_KEYS = st.lists(st.sampled_from(["a", "b", "c", "z"]), max_size=3, unique=True).map(tuple)


def retry_configs(flavour: str) -> st.SearchStrategy[RetryConfig]:
    """The retry configurations the reference SDK can express (all ms)."""
    small = st.none() | st.integers(0, 4)
    duration = st.none() | st.integers(0, 3000)
    initial = st.none() | st.sampled_from([0, 1, 10, 100, 250, 1000])
    if flavour == "0.4.0":
        return st.builds(RetryConfig, initial, small, duration)
    return st.builds(
        RetryConfig,
        initial,
        small,
        duration,
        st.none() | st.sampled_from([0, 100, 500, 2000]),
        st.none() | st.sampled_from([1.0, 1.5, 2.0, 3.0]),
    )


def run_outcomes() -> st.SearchStrategy[Any]:
    return st.one_of(
        SUCCESSES,
        FAILURES,
        st.builds(Retryable, FAILURES, st.sampled_from([0, 1, 50, 1000])),
    )


def _op(kind: str, legacy: bool, flavour: str) -> st.SearchStrategy[Op]:
    state_answers = st.one_of(VOIDS, SUCCESSES, FAILURES) if legacy else st.one_of(VOIDS, SUCCESSES)
    if kind == "get":
        return st.builds(GetState, KEYS, state_answers)
    if kind == "keys":
        return st.builds(GetKeys, STATE_KEYS | FAILURES if legacy else STATE_KEYS)
    if kind == "set":
        return st.builds(SetState, KEYS, VALUES)
    if kind == "clear":
        return st.builds(ClearState, KEYS)
    if kind == "clear_all":
        return st.just(ClearAll())
    if kind == "sleep":
        return st.builds(Sleep, st.sampled_from([0, 1, 1000]), VOIDS | FAILURES if legacy else VOIDS)
    if kind == "call":
        return st.builds(
            Call,
            st.sampled_from(["Greeter", "Counter"]),
            st.sampled_from(["greet", "add"]),
            VALUES,
            st.none() | st.sampled_from(["", "k1"]),
            NON_EMPTY,
            st.sampled_from(["inv_1", "inv_2"]),
        )
    if kind == "send":
        return st.builds(
            Send,
            st.sampled_from(["Greeter", "Counter"]),
            st.sampled_from(["greet", "add"]),
            VALUES,
            st.none() | st.sampled_from(["", "k1"]),
            st.none() | st.sampled_from([0, 10, 5000]),
            st.sampled_from(["inv_3", "inv_4"]),
        )
    if kind == "awakeable":
        # A V1/V2 awakeable entry has no "empty" result.
        return st.builds(Awakeable, NON_EMPTY if legacy else st.one_of(VOIDS, NON_EMPTY))
    if kind == "get_promise":
        return st.builds(GetPromise, KEYS, NON_EMPTY)
    if kind == "peek_promise":
        return st.builds(PeekPromise, KEYS, st.one_of(VOIDS, NON_EMPTY))
    if kind == "complete_promise":
        return st.builds(CompletePromise, KEYS, NON_EMPTY, VOIDS | FAILURES)
    if kind == "run":
        # A syscall inside a run: the old API only (the new one has no "inside a run" state).
        nested = st.integers(0, 9).map(lambda n: n == 0) if legacy else st.just(False)
        return st.builds(Run, NAMES, run_outcomes(), retry_configs(flavour), nested)
    if kind == "exit_without_enter":
        return st.builds(ExitWithoutEnter, NON_EMPTY)
    if kind == "notify_error":
        # restate-sdk 0.4.0 cannot pass a retry delay.
        delays = st.none() if legacy else st.none() | st.sampled_from([0, 1500])
        return st.builds(NotifyError, st.sampled_from(["oops", ""]), st.sampled_from(["", "trace"]), delays)
    if kind == "output":
        return st.builds(WriteOutput, NON_EMPTY)
    raise ValueError(kind)


KINDS = [
    "get",
    "get",
    "keys",
    "set",
    "set",
    "clear",
    "clear_all",
    "sleep",
    "call",
    "send",
    "awakeable",
    "complete_awakeable",
    "get_promise",
    "peek_promise",
    "complete_promise",
    "run",
    "run",
    "await",
    "await",
    "output",
    "end",
    "notify_error",
    "exit_without_enter",
]


@st.composite
def programs(draw: st.DrawFn, version: Version, flavour: str, max_ops: int = 10) -> list[Op]:
    """A handler: ``sys_input``, then up to ``max_ops`` operations, then usually output + end.

    A handle is awaited at most once: right after it was made, later, or never.
    """
    legacy = version.is_legacy
    ops: list[Op] = [InputOp()]
    open_handles: list[int] = []
    awakeables: list[int] = []
    for _ in range(draw(st.integers(0, max_ops))):
        kind = draw(st.sampled_from(KINDS))
        if kind == "await":
            if not open_handles:
                continue
            target = draw(st.sampled_from(open_handles))
            if legacy and draw(st.integers(0, 3)) == 0:
                # Old API only: look at the result without an await point.
                ops.append(Poll(target))
                continue
            open_handles.remove(target)
            ops.append(Await(target))
            continue
        if kind == "end":
            # A rare End in the middle: what follows must fail the same way on both.
            if draw(st.integers(0, 4)) == 0:
                ops.append(End())
            continue
        if kind in ("notify_error", "exit_without_enter"):
            # Rare: both fail the attempt.
            if draw(st.integers(0, 3)) != 0 or (kind == "exit_without_enter" and not legacy):
                continue
            if kind == "notify_error" and any(isinstance(op, End) for op in ops):
                # Deviation (b): after End the Rust cores change state on a failing call
                # (0.1.0: to WaitingStart; 1.2.0: errored, so a later sys_end raises 500),
                # ours stays Ended (notify_error is a no-op once the output closed).
                continue
        if kind == "complete_awakeable":
            target = draw(st.sampled_from(awakeables)) if awakeables and draw(st.booleans()) else None
            foreign = "prom_1AAAAAAAAAAAAAAAA" if legacy else "sign_1AAAAAAAAAAAAAAAA"
            ops.append(CompleteAwakeable(target, draw(NON_EMPTY), foreign))
            continue
        op = draw(_op(kind, legacy, flavour))
        ops.append(op)
        index = len(ops) - 1
        if isinstance(op, Awakeable):
            awakeables.append(index)
        if op.makes_handle:
            if draw(st.integers(0, 2)) > 0:  # mostly awaited at once, as SDKs do
                ops.append(Await(index))
            else:
                open_handles.append(index)
    if draw(st.integers(0, 5)) > 0:
        ops.append(WriteOutput(draw(NON_EMPTY)))
    if draw(st.integers(0, 5)) > 0:
        ops.append(End())
    return ops


def cancel_points(program: list[Op]) -> st.SearchStrategy[int | None]:
    """Mostly no cancellation while recording; else the operation after which it came."""
    return st.one_of(st.none(), st.none(), st.none(), st.integers(0, len(program) - 1))


@st.composite
def attempt_state(draw: st.DrawFn, start: StartSpec) -> StartSpec:
    """The eager state of the attempt under test: mostly what the recorded attempt had;
    sometimes another one (state changed between attempts, or the runtime sent less)."""
    if draw(st.integers(0, 3)) > 0:
        return start
    state = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3))
    return replace(start, state=tuple(sorted(state.items())), partial_state=draw(st.booleans()))


@st.composite
def start_specs(draw: st.DrawFn, version: Version) -> StartSpec:
    invocation_id = draw(st.sampled_from([b"123", b"abc", bytes(range(24)), b"\xff" * 7]))
    state = draw(st.dictionaries(st.sampled_from(["a", "b", "c"]), VALUES, max_size=3))
    return StartSpec(
        invocation_id=invocation_id,
        debug_id=draw(st.sampled_from(["123", "inv_debug"])),
        key=draw(st.sampled_from(["", "my-key"])),
        state=tuple(sorted(state.items())),
        partial_state=draw(st.booleans()),
        retry_count=draw(st.sampled_from([0, 0, 1, 2, 5])),
        retry_duration_ms=draw(st.sampled_from([0, 100, 2500])),
        random_seed=draw(st.integers(0, 2**64 - 1)) if version >= Version.V6 else 0,
        input=draw(VALUES),
        headers=draw(st.sampled_from([(), (("x-h", "1"),), (("a", ""), ("b", "c"))])),
    )


# ---- live deliveries and the input's end ----


def _schedule(
    data: st.DataObject,
    scenario: Scenario,
    live: list[Delivery],
    owners: list[int],
    *,
    pre: list[bytes],
    strict_ids: list[bool],
) -> None:
    """Decide when each live delivery is sent (or that it never is)."""
    n_ops = len(scenario.program)
    demand: list[Delivery] = []
    for delivery, owner, strict in zip(live, owners, strict_ids):
        slot = data.draw(st.sampled_from(["pre", "after", "demand", "demand", "demand", "never"]), label="slot")
        if slot == "pre":
            pre.append(delivery.data)
            scenario.notes.append(f"before the handler: {delivery.label}")
        elif slot == "after":
            # Deviation (e): ours rejects (571) a V5+ notification for a completion id
            # not allocated yet while processing, so it comes only after its command.
            low = max(owner, 0) if strict else 0
            j = data.draw(st.integers(min(low, n_ops - 1), n_ops - 1), label="after op")
            scenario.after_op.setdefault(j, []).append(delivery)
        elif slot == "demand":
            delivery.min_op = owner if strict else -1
            demand.append(delivery)
    if demand:
        scenario.demand = data.draw(st.permutations(demand), label="demand order")
    close = data.draw(st.sampled_from(["start", "after", "exhausted", "exhausted", "exhausted"]), label="close")
    if close == "start":
        scenario.close_at_start = True
    elif close == "after":
        scenario.close_after_op = data.draw(st.integers(0, n_ops - 1), label="close after op")


def _chunk(data: st.DataObject, messages: list[bytes], pre: list[bytes]) -> list[bytes]:
    how = data.draw(st.sampled_from(["one", "per message", "split"]), label="chunking")
    if how == "per message":
        return messages + pre
    whole = b"".join(messages + pre)
    if how == "one" or len(whole) < 2:
        return [whole]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(whole) - 1), max_size=4), label="cuts"))
    bounds = [0, *cuts, len(whole)]
    return [whole[a:b] for a, b in pairwise(bounds)]


def v2_scenario(data: st.DataObject, start: StartSpec, record: V2Record, *, malformed: bool = False) -> Scenario:
    version = Version.V2
    entries = record.entries
    scenario = Scenario(version, list(record.program), [])
    known = data.draw(st.integers(1, len(entries)), label="known entries")
    journal: list[Any] = [start.start_message(version, known), entries[0].with_result]
    live: list[Delivery] = []
    owners: list[int] = []
    strict: list[bool] = []
    for entry in entries[1:known]:
        if entry.completion is not None:
            inline = data.draw(st.sampled_from([True, True, False]), label=f"entry {entry.index} inline")
            if inline:
                journal.append(entry.with_result)
            else:
                journal.append(entry.without_result)
                live.append(Delivery(encode(version, [entry.completion]), label_of(version, entry.completion)))
                owners.append(entry.owner)
                strict.append(False)
        else:
            journal.append(entry.with_result)
    for entry in entries[known:]:
        if entry.completion is not None:
            live.append(Delivery(encode(version, [entry.completion]), label_of(version, entry.completion)))
        elif entry.needs_ack:
            # Acks are cumulative: sometimes the runtime acks a later entry instead.
            later = data.draw(st.sampled_from([0, 0, 0, 1, 3]), label="ack beyond")
            ack = v2.EntryAckMessage(entry_index=entry.index + later)
            live.append(Delivery(encode(version, [ack]), label_of(version, ack)))
        else:
            continue
        owners.append(entry.owner)
        strict.append(False)
    scenario.notes.append(f"replayed journal: {known} entries")
    messages = [encode(version, [m]) for m in journal]
    if malformed:
        _malform(data, scenario, start, known, messages, live, owners, strict)
    pre: list[bytes] = []
    _schedule(data, scenario, live, owners, pre=pre, strict_ids=strict)
    scenario.initial = _chunk(data, messages, pre)
    return scenario


def v5_scenario(
    data: st.DataObject, version: Version, start: StartSpec, record: V5Record, *, malformed: bool = False
) -> Scenario:
    journal_items = record.journal
    scenario = Scenario(version, list(record.program), [])
    command_positions = [i for i, item in enumerate(journal_items) if item.is_command]
    replayed = data.draw(st.integers(1, len(command_positions)), label="replayed commands")
    cut = command_positions[replayed] if replayed < len(command_positions) else len(journal_items)
    last_replayed_command = command_positions[replayed - 1]
    journal: list[Any] = []
    live: list[Delivery] = []
    owners: list[int] = []
    strict: list[bool] = []
    replays_cancel_signals = any(
        item.is_command and item.command_type == v5.MessageType.SEND_SIGNAL_COMMAND and position < cut
        for position, item in enumerate(journal_items)
    )
    recorded_cancel = False
    for position, item in enumerate(journal_items):
        if item.is_command:
            if position < cut:
                journal.append(item.command)
            continue
        frame = item.frame
        assert frame is not None
        is_cancel = frame.message.WhichOneof("id") == "signal_id" and frame.message.signal_id == 1
        recorded_cancel = recorded_cancel or is_cancel
        if position < cut:
            if is_cancel and replays_cancel_signals:
                # The cancel signals the journal holds were sent because of it.
                where = "journal"
            elif item.is_run_completion and position < last_replayed_command:
                # Not mappable (see the README of this directory): the old API proposes a
                # run's result at sys_run_exit, the new one only when an await in
                # Processing executes the run; a run replayed without its result and
                # followed by more replayed commands makes the reference fail at once
                # (570) where ours proposes during replay. Keep such results in the journal.
                where = "journal"
            else:
                where = data.draw(st.sampled_from(["journal", "journal", "live", "never"]), label="notification")
        else:
            where = data.draw(st.sampled_from(["live", "live", "live", "never"]), label="notification")
        if where == "journal":
            journal.append(frame)
        elif where == "live":
            live.append(Delivery(encode(version, [frame]), label_of(version, frame)))
            owners.append(item.owner)
            strict.append(item.completion_id is not None)
    cancel = "none"
    if not recorded_cancel:
        cancel = data.draw(st.sampled_from(["none", "none", "none", "journal", "live"]), label="cancel signal")
    if cancel != "none":
        # The runtime cancels the invocation: the built-in signal 1.
        frame = notification(0xFBFF, signal_id=1, void=True)
        if cancel == "journal":
            position = data.draw(st.integers(1, len(journal)), label="cancel position")
            journal.insert(position, frame)
        else:
            live.append(Delivery(encode(version, [frame]), "cancel " + label_of(version, frame)))
            owners.append(-1)
            strict.append(False)
    scenario.notes.append(f"replayed journal: {replayed} commands, {len(journal)} messages")
    messages = [encode(version, [start.start_message(version, len(journal))])]
    messages += [encode(version, [m]) for m in journal]
    if malformed:
        _malform(data, scenario, start, len(journal), messages, live, owners, strict)
    pre: list[bytes] = []
    _schedule(data, scenario, live, owners, pre=pre, strict_ids=strict)
    scenario.initial = _chunk(data, messages, pre)
    return scenario


# ---- malformed input ----

_V2_MALFORMED = [
    "known_zero",
    "known_more",
    "extra_entry",
    "control_in",
    "garbage_body",
    "bad_state_key",
    "no_result",
    "unknown_type",
    "custom_entry",
    "run_without_result",
]
_V5_MALFORMED = [
    "known_zero",
    "known_more",
    "extra_entry",
    "control_in",
    "garbage_body",
    "bad_state_key",
    "no_result",
    "no_id",
    "custom_entry",
    "eager_without_result",
]
#: Malformed V5+ input that ours reports as a protocol violation (571) where the Rust
#: core reports 500 (decoding failures): the V5 counterpart of deviations (e)/(g).
_V5_DECODING = {"garbage_body", "no_result", "no_id"}


def _malform(
    data: st.DataObject,
    scenario: Scenario,
    start: StartSpec,
    known: int,
    messages: list[bytes],
    live: list[Delivery],
    owners: list[int],
    strict: list[bool],
) -> None:
    """Make the runtime's input wrong in one drawn way (the deviations (a) and (e) excluded:
    no second StartMessage, no unknown V5+ message type, no notification for an id not
    allocated yet while processing)."""
    version = scenario.version
    legacy = version.is_legacy
    kind = data.draw(st.sampled_from(_V2_MALFORMED if legacy else _V5_MALFORMED), label="malformed")
    T2, T5 = v2.MessageType, v5.MessageType

    def insert(frame: bytes, label: str, *, counted: bool = False) -> None:
        """Into the initial bytes after the journal (or, if not counted as a journal
        message, anywhere after the StartMessage), or sent live."""
        where = data.draw(st.sampled_from(["initial", "live"]), label="where")
        if where == "initial":
            low = len(messages) if counted else 1
            messages.insert(data.draw(st.integers(low, len(messages)), label="position"), frame)
        else:
            live.append(Delivery(frame, label))
            owners.append(-1)
            strict.append(False)

    def rewrite(codes: set[int], change: Any) -> bool:
        """Rewrite the first journal message of one of ``codes``; False if there is none."""
        for i, frame in enumerate(messages[1:], start=1):
            raw = next(iter(_decoder(frame)))
            if raw.type in codes:
                message = decode_message(version, raw)
                change(message)
                messages[i] = encode_frame(raw.type, message.SerializeToString())
                return True
        return False

    if kind == "run_without_result" and not rewrite({T2.RUN_ENTRY}, lambda m: m.ClearField("result")):
        kind = "no_result"
    if kind == "eager_without_result":
        done = rewrite({T5.GET_EAGER_STATE_COMMAND}, lambda m: m.ClearField("result")) or rewrite(
            {T5.GET_EAGER_STATE_KEYS_COMMAND}, lambda m: m.ClearField("value")
        )
        if not done:
            kind = "no_id"
    scenario.notes.append(f"malformed input: {kind}")
    if not legacy and kind in _V5_DECODING:
        scenario.code_aliases.add((500, 571))
    if kind == "known_zero":
        messages[0] = encode(version, [start.start_message(version, 0)])
    elif kind == "known_more":
        messages[0] = encode(version, [start.start_message(version, known + data.draw(st.integers(1, 2)))])
    elif kind == "bad_state_key":
        message = start.start_message(version, known)
        message.state_map.add(key=b"\xff\xfe", value=b"x")
        messages[0] = encode(version, [message])
    elif kind == "extra_entry":
        extra = v2.OutputEntryMessage(value=b"x") if legacy else v5.OutputCommandMessage(value=v5.Value(content=b"x"))
        insert(encode(version, [extra]), "an entry beyond the known ones", counted=True)
    elif kind == "control_in":
        if legacy:
            control = data.draw(
                st.sampled_from([v2.SuspensionMessage(entry_indexes=[1]), v2.ErrorMessage(code=500), v2.EndMessage()])
            )
        else:
            control = data.draw(
                st.sampled_from(
                    [
                        v5.SuspensionMessage(waiting_completions=[1]),
                        v5.ErrorMessage(code=500),
                        v5.EndMessage(),
                        v5.ProposeRunCompletionMessage(result_completion_id=1, value=b""),
                    ]
                )
            )
        insert(encode(version, [control]), f"control message {type(control).__name__}")
    elif kind == "garbage_body":
        code = T2.COMPLETION if legacy else 0x800C
        insert(encode_frame(code, b"\xff\xff\xff"), f"an undecodable 0x{code:04X}")
    elif kind == "no_result":
        if legacy:
            insert(encode(version, [v2.CompletionMessage(entry_index=1)]), "a completion without result")
        else:
            insert(encode(version, [notification(0x800C, completion_id=1)]), "a notification without result")
    elif kind == "no_id":
        insert(encode(version, [notification(0x800C, void=True)]), "a notification without id")
    elif kind == "unknown_type":
        insert(encode_frame(0x0010, b""), "unknown message type 0x0010")
    elif kind == "custom_entry":
        if legacy:
            # A custom entry in the journal: accepted, but no syscall can replay it (570).
            messages[0] = encode(version, [start.start_message(version, known + 1)])
            messages.append(encode_frame(0xFC01, b""))
        else:
            insert(encode_frame(0xFC01, b""), "a custom message 0xFC01")


def _decoder(frame: bytes) -> Decoder:
    decoder = Decoder()
    decoder.push(frame)
    return decoder
