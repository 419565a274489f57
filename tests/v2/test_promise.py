"""Upstream ``src/tests/promise.rs`` (core-v2.md §7.8).

The upstream sub-modules ``get_promise``, ``peek_promise`` and
``complete_promise`` are test classes here. Every case: S(abc, 1, partial),
I(default), then the completion of entry 1, input closed.
"""

from __future__ import annotations

from collections.abc import Callable

from restate_core import VOID, CoreVM, Failure, NonEmptyValue, Success
from restate_core.protocol import v2
from restate_core.testing import Output, await_result

from .conftest import completion, end, input_entry, invocation, output, start_message

Handler = Callable[[CoreVM], None]


def run(handler: Handler, entry_completion: v2.CompletionMessage) -> Output:
    return invocation().input(start_message(1, invocation_id="abc"), input_entry(), entry_completion).run(handler)


class TestGetPromise:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_get_promise("my-prom")
        value = await_result(vm, handle)
        assert isinstance(value, (Success, Failure)), value
        vm.sys_write_output(value)
        vm.sys_end()

    def test_completed_with_success(self) -> None:
        out = run(self.handler, completion(1, value=b'"my value"'))

        assert out.messages == [v2.GetPromiseEntryMessage(key="my-prom"), output(b'"my value"'), end()]

    def test_completed_with_failure(self) -> None:
        out = run(self.handler, completion(1, failure=(500, "myerror")))

        assert out.messages == [v2.GetPromiseEntryMessage(key="my-prom"), output(failure=(500, "myerror")), end()]


class TestPeekPromise:
    @staticmethod
    def handler(vm: CoreVM) -> None:
        vm.sys_input()
        handle = vm.sys_peek_promise("my-prom")
        value = await_result(vm, handle)
        if value == VOID:
            vm.sys_write_output(Success(b"null"))
        else:
            assert isinstance(value, (Success, Failure)), value
            vm.sys_write_output(value)
        vm.sys_end()

    def test_completed_with_success(self) -> None:
        out = run(self.handler, completion(1, value=b'"my value"'))

        assert out.messages == [v2.PeekPromiseEntryMessage(key="my-prom"), output(b'"my value"'), end()]

    def test_completed_with_failure(self) -> None:
        out = run(self.handler, completion(1, failure=(500, "myerror")))

        assert out.messages == [v2.PeekPromiseEntryMessage(key="my-prom"), output(failure=(500, "myerror")), end()]

    def test_completed_with_null(self) -> None:
        out = run(self.handler, completion(1, empty=True))

        assert out.messages == [v2.PeekPromiseEntryMessage(key="my-prom"), output(b"null"), end()]


class TestCompletePromise:
    @staticmethod
    def handler(completion_value: NonEmptyValue) -> Handler:
        def handler(vm: CoreVM) -> None:
            vm.sys_input()
            handle = vm.sys_complete_promise("my-prom", completion_value)
            value = await_result(vm, handle)
            if value == VOID:
                vm.sys_write_output(Success(b"true"))
            elif isinstance(value, Failure):
                vm.sys_write_output(Success(b"false"))
            else:
                raise AssertionError(f"unexpected {value}")
            vm.sys_end()

        return handler

    def test_resolve_promise_succeeds(self) -> None:
        out = run(self.handler(Success(b"my val")), completion(1, empty=True))

        assert out.messages == [
            v2.CompletePromiseEntryMessage(key="my-prom", completion_value=b"my val"),
            output(b"true"),
            end(),
        ]

    def test_resolve_promise_fails(self) -> None:
        out = run(self.handler(Success(b"my val")), completion(1, failure=(500, "cannot write promise")))

        assert out.messages == [
            v2.CompletePromiseEntryMessage(key="my-prom", completion_value=b"my val"),
            output(b"false"),
            end(),
        ]

    def test_reject_promise_succeeds(self) -> None:
        out = run(self.handler(Failure(500, "my failure")), completion(1, empty=True))

        assert out.messages == [
            v2.CompletePromiseEntryMessage(
                key="my-prom", completion_failure=v2.Failure(code=500, message="my failure")
            ),
            output(b"true"),
            end(),
        ]

    def test_reject_promise_fails(self) -> None:
        out = run(self.handler(Failure(500, "my failure")), completion(1, failure=(500, "cannot write promise")))

        assert out.messages == [
            v2.CompletePromiseEntryMessage(
                key="my-prom", completion_failure=v2.Failure(code=500, message="my failure")
            ),
            output(b"false"),
            end(),
        ]
