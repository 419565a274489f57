"""Focused reproductions of the differences the differential tests found between our
core and the Rust reference cores.

Each test feeds the same bytes to both cores, runs the same calls, and requires the
same observations and output. D2-D4, D6 and D7 were bugs of ours, fixed; they stay as
regression tests. D1 and D5 are deliberate deviations (README, "Decisions"): their tests assert
our behaviour next to the Rust core's.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from differential_kit import (
    Await,
    Awakeable,
    Call,
    Delivery,
    End,
    GetState,
    InputOp,
    Ours,
    Ref040,
    Ref120,
    Run,
    Scenario,
    Sleep,
    StartSpec,
    WriteOutput,
    assert_same,
    encode,
    execute,
    policy_v040,
    policy_v120,
)

from restate_core import VOID, Success
from restate_core.protocol import Version, v2, v5
from restate_core.testing import notification

pytestmark = pytest.mark.differential

CANCEL = notification(0xFBFF, signal_id=1, void=True)


def _compare(ref120: ModuleType, version: Version, program: list, initial: list, **scenario: object) -> None:
    case = Scenario(version, program, initial, **scenario)  # type: ignore[arg-type]
    reference = execute(Ref120(ref120, version), case)
    ours = execute(Ours(version, policy_v120), case)
    assert_same(case, reference, ours, Ref120.name, tolerate_known=False)


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_suspension_after_cancellation_lists_signal_1(ref120: ModuleType, version: Version) -> None:
    # D1, a deliberate deviation: once the cancellation was reported, ours no longer lists
    # signal 1 in suspensions. The signal is in the journal already, so listing it would
    # make the runtime resume the invocation at once, forever.
    # Journal: input, then the cancel signal. The handler awaits an awakeable (-> the
    # cancellation, 409), carries on, sleeps and awaits the sleep with the input closed.
    start = StartSpec()
    initial = [encode(version, [start.start_message(version, 2), start.input_message(version), CANCEL])]
    program = [InputOp(), Awakeable(VOID), Await(1), Sleep(1000), Await(3)]
    case = Scenario(version, program, initial, close_at_start=True)
    reference = execute(Ref120(ref120, version), case)
    ours = execute(Ours(version, policy_v120), case)
    assert reference.events == ours.events
    assert [f.type for f in reference.frames] == [f.type for f in ours.frames] == [0x040C, 0x0001]
    assert v5.SuspensionMessage.FromString(reference.frames[-1].body) == v5.SuspensionMessage(
        waiting_completions=[1], waiting_signals=[1]
    )
    assert v5.SuspensionMessage.FromString(ours.frames[-1].body) == v5.SuspensionMessage(waiting_completions=[1])


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_run_enter_does_not_advance_a_queued_cancellation(ref120: ModuleType, version: Version) -> None:
    # Complete eager state, journal: input, cancel. The handler runs a run (new: Run +
    # proposal), then reads state "a" (eager: ready at once) and awaits it.
    # Rust: the await returns Void (the cancellation stays queued for a later await).
    # Ours: the await returns Failure(409, "cancelled").
    # Without the run before, both return Void.
    start = StartSpec(partial_state=False)
    initial = [encode(version, [start.start_message(version, 2), start.input_message(version), CANCEL])]
    program = [InputOp(), Run("", Success(b"")), GetState("a", VOID), Await(2)]
    _compare(ref120, version, program, initial)


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_queued_cancellation_waits_for_an_await_that_looks_at_the_queue(ref120: ModuleType, version: Version) -> None:
    # The control case of D2: without the run, both return Void for the eager read.
    start = StartSpec(partial_state=False)
    initial = [encode(version, [start.start_message(version, 2), start.input_message(version), CANCEL])]
    _compare(ref120, version, [InputOp(), GetState("a", VOID), Await(1)], initial)


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_cancellation_suspends_on_the_first_missing_invocation_id(ref120: ModuleType, version: Version) -> None:
    # Journal: input, cancel. The handler makes two calls (invocation-id completions 1 and
    # 3) and awaits the second; no invocation id ever arrives and the input is closed.
    # Rust: Call, Call, Suspension{waiting_completions: [1]}.
    # Ours: Call, Call, Suspension{waiting_completions: [1, 3]}.
    start = StartSpec()
    initial = [encode(version, [start.start_message(version, 2), start.input_message(version), CANCEL])]
    call = Call("Greeter", "greet", b"", None, Success(b""))
    program = [InputOp(), call, call, Await(2)]
    _compare(ref120, version, program, initial, close_at_start=True)


def _cancelled_call_journal(version: Version) -> list:
    start = StartSpec()
    return [
        encode(
            version,
            [
                start.start_message(version, 5),
                start.input_message(version),
                v5.CallCommandMessage(
                    service_name="Greeter",
                    handler_name="greet",
                    invocation_id_notification_idx=1,
                    result_completion_id=2,
                ),
                notification(0x800E, completion_id=1, invocation_id="inv_call"),
                CANCEL,
                v5.SendSignalCommandMessage(target_invocation_id="inv_call", idx=1, void=v5.Void()),
            ],
        )
    ]


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_cancellation_during_replay_clears_the_await_point(ref120: ModuleType, version: Version) -> None:
    # Journal: input, call (ids 1, 2), its invocation id, cancel, SendSignal(inv_call).
    # The handler calls, makes an awakeable and awaits it: the cancellation is reported
    # (409) and the SendSignal replayed. The input closes, the handler writes its output.
    # Rust: Output, End. Ours: Suspension{waiting_signals: [17]}, then 598 on the output.
    call = Call("Greeter", "greet", b"", None, Success(b""))
    program = [InputOp(), call, Awakeable(VOID), Await(2), WriteOutput(Success(b"")), End()]
    _compare(ref120, version, program, _cancelled_call_journal(version), close_after_op=3)


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_cancellation_during_replay_allows_the_next_await(ref120: ModuleType, version: Version) -> None:
    # As above, then the handler reads state (lazy), awaits it (the runtime sends the
    # value when asked) and writes its output.
    # Rust: GetLazyState, Output, End. Ours: GetLazyState, ErrorMessage 572.
    call = Call("Greeter", "greet", b"", None, Success(b""))
    program = [InputOp(), call, Awakeable(VOID), Await(2), GetState("a", VOID), Await(4)]
    program += [WriteOutput(Success(b"")), End()]
    state = Delivery(encode(version, [notification(0x8002, completion_id=3, value=b"v")]), "state a", min_op=4)
    _compare(ref120, version, program, _cancelled_call_journal(version), demand=[state])


# D6 and D7, found by the differential programs: notifications sent ahead for completion ids that
# eager state reads already filed (a runtime should not send them; the Rust core lets a later
# one go over the filed result, depending on when an await reaches it).
_AHEAD_1 = notification(0x8002, completion_id=1, value=b"x")
_AHEAD_2 = notification(0x8002, completion_id=2, value=b"y")
_RUN_4 = notification(0x8011, completion_id=4, value=b"")


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
@pytest.mark.parametrize(
    "queued", [[_AHEAD_1, _RUN_4], [_AHEAD_1, _AHEAD_2, _RUN_4], [_RUN_4, _AHEAD_1]], ids=["1,4", "1,2,4", "4,1"]
)
def test_a_journaled_run_result_files_the_notifications_ahead_of_it(
    ref120: ModuleType, version: Version, queued: list
) -> None:
    # D6. Complete (empty) eager state; after the input, notifications for completion ids 1
    # (and 2), then the result of the run that will get completion id 4. The handler reads
    # "b" (id 1, filed VOID), reads "a" twice (ids 2, 3) awaiting each, runs the run (the
    # result is there: executed), then awaits the first read.
    # Rust: the run's result comes through an await, which files the notifications ahead of
    # it over the filed VOIDs: the last await returns x. Ours returned VOID. With the run's
    # result queued first ("4,1"), both return VOID.
    start = StartSpec(partial_state=False)
    initial = [encode(version, [start.start_message(version, 1), start.input_message(version), *queued])]
    program = [InputOp(), GetState("b", VOID), GetState("a", VOID), Await(2), GetState("a", VOID), Await(4)]
    program += [Run("", Success(b"")), Await(6), Await(1)]
    _compare(ref120, version, program, initial, close_at_start=True)


@pytest.mark.parametrize("version", [Version.V5, Version.V6], ids=str)
def test_reporting_a_cancellation_leaves_the_notifications_behind_it_queued(
    ref120: ModuleType, version: Version
) -> None:
    # D7. Journal: input, cancel; then notifications for ids 1 (a value) and 2 (void). The
    # handler reads "a" twice (ids 1, 2, filed VOID), awaits the second, runs a new run and
    # awaits it (the cancellation, 409), then awaits the first read.
    # Rust: VOID (the notifications behind the cancel stay queued). Ours: the value, because
    # the await that reported the cancellation had gone on through the queue past it.
    start = StartSpec(partial_state=False)
    initial = [
        encode(
            version,
            [
                start.start_message(version, 2),
                start.input_message(version),
                CANCEL,
                _AHEAD_1,
                notification(0x8002, completion_id=2, void=True),
            ],
        )
    ]
    program = [InputOp(), GetState("a", VOID), GetState("a", VOID), Await(2), Run("", Success(b"")), Await(4)]
    program += [Await(1)]
    _compare(ref120, version, program, initial, close_at_start=True)


def _truncated_input(version: Version) -> list:
    """StartMessage and input, then the first 5 bytes (of 8 header bytes) of a completion."""
    start = StartSpec()
    whole = encode(version, [start.start_message(version, 1), start.input_message(version)])
    if version.is_legacy:
        completion = encode(version, [v2.CompletionMessage(entry_index=1, value=b"x")])
    else:
        completion = encode(version, [notification(0x8002, completion_id=1, value=b"x")])
    return [whole + completion[:5]]


@pytest.mark.parametrize("version", [Version.V2, Version.V5, Version.V6], ids=str)
def test_input_closed_in_the_middle_of_a_message(ref040: ModuleType, ref120: ModuleType, version: Version) -> None:
    # D5, a deliberate deviation: a request body that ends inside a frame lost part of
    # the journal, so ours fails the attempt with 571 (and the runtime retries it); both
    # Rust cores ignore the incomplete bytes and run the handler.
    # StartMessage, input, and 5 bytes of a completion's header; then the input closes.
    program = [InputOp(), WriteOutput(Success(b"")), End()]
    case = Scenario(version, program, _truncated_input(version), close_at_start=True)
    if version.is_legacy:
        reference, policy = execute(Ref040(ref040), case), policy_v040
    else:
        reference, policy = execute(Ref120(ref120, version), case), policy_v120
    ours = execute(Ours(version, policy), case)
    assert ("ready", True) in reference.events
    assert ("not ready", 571) in ours.events
    messages = v2 if version.is_legacy else v5
    (error,) = ours.frames
    assert error.type == messages.MessageType.ERROR
    assert messages.ErrorMessage.FromString(error.body).code == 571
