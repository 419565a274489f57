"""Upstream ``src/tests/promise.rs`` (core-v5.md §7, "promise.rs").

The upstream sub-modules ``get_promise``, ``peek_promise`` and ``complete_promise`` are test classes.
"""

from __future__ import annotations

from collections.abc import Callable

from restate_core import VOID, CoreVM, Failure, NonEmptyValue, Success
from restate_core.protocol import Version, v5
from restate_core.testing import await_result, notification

from .conftest import (
    COMPLETE_PROMISE_COMPLETION,
    GET_PROMISE_COMPLETION,
    PEEK_PROMISE_COMPLETION,
    both_versions,
    end,
    input_command,
    invocation,
    output_failure,
    output_success,
    start_message,
    suspended_waiting_completion,
)


def start() -> v5.StartMessage:
    return start_message(1, invocation_id=b"abc")


class TestGetPromise:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = await_result(vm, vm.sys_get_promise("my-prom"))
        assert isinstance(result, (Success, Failure)), result
        vm.sys_write_output(result)
        vm.sys_end()

    @both_versions
    def test_completed_with_success(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(
                start(),
                input_command(None),
                notification(GET_PROMISE_COMPLETION, completion_id=1, value=b'"my value"'),
            )
            .run(self.handler)
        )

        assert out.messages == [
            v5.GetPromiseCommandMessage(key="my-prom", result_completion_id=1),
            output_success(b'"my value"'),
            end(),
        ]

    def test_completed_with_failure(self) -> None:
        out = (
            invocation()
            .input(
                start(),
                input_command(None),
                notification(GET_PROMISE_COMPLETION, completion_id=1, failure=(500, "myerror")),
            )
            .run(self.handler)
        )

        assert out.messages == [
            v5.GetPromiseCommandMessage(key="my-prom", result_completion_id=1),
            output_failure(500, "myerror"),
            end(),
        ]

    def test_not_completed_suspends(self) -> None:
        # Not upstream: without the completion the await suspends on the promise's completion id.
        out = invocation().input(start(), input_command(None)).run(self.handler)

        assert out.messages == [
            v5.GetPromiseCommandMessage(key="my-prom", result_completion_id=1),
            suspended_waiting_completion(1),
        ]


class TestPeekPromise:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        result = await_result(vm, vm.sys_peek_promise("my-prom"))
        if result == VOID:
            result = Success(b"null")
        assert isinstance(result, (Success, Failure)), result
        vm.sys_write_output(result)
        vm.sys_end()

    def test_completed_with_success(self) -> None:
        out = (
            invocation()
            .input(
                start(),
                input_command(None),
                notification(PEEK_PROMISE_COMPLETION, completion_id=1, value=b'"my value"'),
            )
            .run(self.handler)
        )

        assert out.messages == [
            v5.PeekPromiseCommandMessage(key="my-prom", result_completion_id=1),
            output_success(b'"my value"'),
            end(),
        ]

    def test_completed_with_failure(self) -> None:
        out = (
            invocation()
            .input(
                start(),
                input_command(None),
                notification(PEEK_PROMISE_COMPLETION, completion_id=1, failure=(500, "myerror")),
            )
            .run(self.handler)
        )

        assert out.messages == [
            v5.PeekPromiseCommandMessage(key="my-prom", result_completion_id=1),
            output_failure(500, "myerror"),
            end(),
        ]

    @both_versions
    def test_completed_with_null(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(start(), input_command(None), notification(PEEK_PROMISE_COMPLETION, completion_id=1, void=True))
            .run(self.handler)
        )

        assert out.messages == [
            v5.PeekPromiseCommandMessage(key="my-prom", result_completion_id=1),
            output_success(b"null"),
            end(),
        ]


RESOLVED = b"true"
REJECTED = b"false"


def complete_promise_handler(result: NonEmptyValue) -> Callable[[CoreVM], None]:
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        outcome = await_result(vm, vm.sys_complete_promise("my-prom", result))
        if outcome == VOID:
            text = RESOLVED
        else:
            assert isinstance(outcome, Failure), outcome
            text = REJECTED
        vm.sys_write_output(Success(text))
        vm.sys_end()

    return handler


def complete_with_value(content: bytes) -> v5.CompletePromiseCommandMessage:
    return v5.CompletePromiseCommandMessage(
        key="my-prom", completion_value=v5.Value(content=content), result_completion_id=1
    )


def complete_with_failure(code: int, message: str) -> v5.CompletePromiseCommandMessage:
    return v5.CompletePromiseCommandMessage(
        key="my-prom", completion_failure=v5.Failure(code=code, message=message), result_completion_id=1
    )


class TestCompletePromise:
    @both_versions
    def test_resolve_promise_succeeds(self, version: Version) -> None:
        out = (
            invocation(version)
            .input(start(), input_command(None), notification(COMPLETE_PROMISE_COMPLETION, completion_id=1, void=True))
            .run(complete_promise_handler(Success(b"my val")))
        )

        assert out.messages == [complete_with_value(b"my val"), output_success(RESOLVED), end()]

    def test_resolve_promise_fails(self) -> None:
        out = (
            invocation()
            .input(
                start(),
                input_command(None),
                notification(COMPLETE_PROMISE_COMPLETION, completion_id=1, failure=(500, "cannot write promise")),
            )
            .run(complete_promise_handler(Success(b"my val")))
        )

        assert out.messages == [complete_with_value(b"my val"), output_success(REJECTED), end()]

    def test_reject_promise_succeeds(self) -> None:
        out = (
            invocation()
            .input(start(), input_command(None), notification(COMPLETE_PROMISE_COMPLETION, completion_id=1, void=True))
            .run(complete_promise_handler(Failure(500, "my failure")))
        )

        assert out.messages == [complete_with_failure(500, "my failure"), output_success(RESOLVED), end()]

    def test_reject_promise_fails(self) -> None:
        out = (
            invocation()
            .input(
                start(),
                input_command(None),
                notification(COMPLETE_PROMISE_COMPLETION, completion_id=1, failure=(500, "cannot write promise")),
            )
            .run(complete_promise_handler(Failure(500, "my failure")))
        )

        assert out.messages == [complete_with_failure(500, "my failure"), output_success(REJECTED), end()]
