"""A minimal Restate SDK on top of ``restate_core.CoreVM``: an ASGI app.

This is the smallest thing a Restate server can register and invoke. It shows
everything an SDK has to do around the core:

* ``GET /discover``: describe the services (the endpoint manifest);
* ``POST /invoke/{service}/{handler}``: one invocation attempt. Stream the
  request body into the VM, run the handler, stream the VM's output back.
  Over HTTP/2 both directions are open at once (the server keeps sending
  notifications while the handler runs); over HTTP/1.1 the server sends the
  whole body first (request-response mode) and the VM suspends whenever the
  handler waits for something that is not in it;
* checking request identity when signing keys are configured.

Handlers are ``async def handler(ctx, input)``; input and output are JSON.
"""

from __future__ import annotations

import inspect
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from restate_core import (
    VOID,
    CoreVM,
    Executed,
    Failure,
    IdentityVerificationError,
    IdentityVerifier,
    RetryableFailure,
    RetryPolicy,
    StateKeys,
    Success,
    SuspendedError,
    Target,
    VMError,
)

logger = logging.getLogger("example_sdk")

Handler = Callable[..., Awaitable[Any]]
MANIFEST_TYPE = "application/vnd.restate.endpointmanifest.v{}+json"
SUPPORTED_MANIFESTS = (4, 3, 2, 1)  # we only emit fields every manifest version has


class TerminalError(Exception):
    """Raise in a handler (or a run) to fail the invocation for good, without retries."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code


# ---- service definitions ----


@dataclass
class HandlerDef:
    name: str
    fn: Handler
    kind: str | None  # None, "EXCLUSIVE", "SHARED" or "WORKFLOW"


@dataclass
class ServiceDef:
    name: str
    ty: str  # "SERVICE", "VIRTUAL_OBJECT" or "WORKFLOW"
    handlers: dict[str, HandlerDef] = field(default_factory=dict)

    def handler(self, name: str | None = None, *, kind: str | None = None) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            handler_name = name or fn.__name__
            self.handlers[handler_name] = HandlerDef(handler_name, fn, kind)
            return fn

        return register


def service(name: str) -> ServiceDef:
    return ServiceDef(name, "SERVICE")


def virtual_object(name: str) -> ServiceDef:
    return ServiceDef(name, "VIRTUAL_OBJECT")


def workflow(name: str) -> ServiceDef:
    return ServiceDef(name, "WORKFLOW")


# ---- the context handed to handlers ----


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


class Context:
    """What a handler uses to act durably. Every method goes through the VM."""

    def __init__(self, vm: CoreVM, io: _InvocationIO) -> None:
        self._vm = vm
        self._io = io
        self.request = vm.sys_input()
        self.key = self.request.key

    async def _await(self, handle: int) -> Any:
        """Wait for a handle: flush what the VM wrote, then read input until the result is there."""
        vm = self._vm
        vm.notify_await_point(handle)
        while True:
            await self._io.flush()
            value = vm.take_async_result(handle)  # raises SuspendedError once suspended
            if value is not None:
                return _decode(value)
            await self._io.read_more()

    async def _sys(self, call: Callable[..., Any], *args: Any) -> Any:
        result = call(*args)
        await self._io.flush()
        return result

    # state
    async def get(self, name: str) -> Any:
        return await self._await(await self._sys(self._vm.sys_state_get, name))

    async def state_keys(self) -> list[str]:
        return await self._await(await self._sys(self._vm.sys_state_get_keys))  # type: ignore[no-any-return]

    async def set(self, name: str, value: Any) -> None:
        await self._sys(self._vm.sys_state_set, name, _json(value))

    async def clear(self, name: str) -> None:
        await self._sys(self._vm.sys_state_clear, name)

    async def clear_all(self) -> None:
        await self._sys(self._vm.sys_state_clear_all)

    # time and other handlers
    async def sleep(self, duration: timedelta) -> None:
        await self._await(await self._sys(self._vm.sys_sleep, duration))

    async def call(self, service: str, handler: str, arg: Any = None, key: str | None = None) -> Any:
        handle = await self._sys(self._vm.sys_call, Target(service, handler, key), _json(arg))
        return await self._await(handle)

    async def send(
        self, service: str, handler: str, arg: Any = None, key: str | None = None, delay: timedelta | None = None
    ) -> None:
        await self._sys(self._vm.sys_send, Target(service, handler, key), _json(arg), delay)

    # awakeables and promises
    async def awakeable(self) -> tuple[str, int]:
        """A new awakeable: ``(id, handle)``; pass the id on, then ``await ctx.wait(handle)``."""
        return await self._sys(self._vm.sys_awakeable)  # type: ignore[no-any-return]

    async def wait(self, handle: int) -> Any:
        return await self._await(handle)

    async def resolve_awakeable(self, awakeable_id: str, value: Any) -> None:
        await self._sys(self._vm.sys_complete_awakeable, awakeable_id, Success(_json(value)))

    async def promise(self, name: str) -> Any:
        return await self._await(await self._sys(self._vm.sys_get_promise, name))

    async def peek_promise(self, name: str) -> Any:
        return await self._await(await self._sys(self._vm.sys_peek_promise, name))

    async def resolve_promise(self, name: str, value: Any) -> None:
        await self._await(await self._sys(self._vm.sys_complete_promise, name, Success(_json(value))))

    # side effects
    async def run(self, name: str, action: Callable[[], Any], retry_policy: RetryPolicy | None = None) -> Any:
        """Run ``action`` once, durably: on replay its recorded result is returned instead."""
        vm = self._vm
        entered = vm.sys_run_enter(name)
        await self._io.flush()
        if isinstance(entered, Executed):
            return _decode(entered.value)
        started = time.monotonic()
        try:
            result = action()
            if inspect.isawaitable(result):
                result = await result
            outcome: Success | Failure | RetryableFailure = Success(_json(result))
        except TerminalError as error:
            outcome = Failure(error.code, str(error))
        except Exception as error:  # anything else is worth a retry
            elapsed = timedelta(seconds=time.monotonic() - started)
            outcome = RetryableFailure(Failure(500, f"{type(error).__name__}: {error}"), elapsed)
        handle = vm.sys_run_exit(outcome, retry_policy or RetryPolicy.infinite())
        return await self._await(handle)


def _decode(value: Any) -> Any:
    if value is VOID:
        return None
    if isinstance(value, Success):
        return json.loads(value.value) if value.value else None
    if isinstance(value, Failure):
        raise TerminalError(value.message, value.code)
    if isinstance(value, StateKeys):
        return value.keys
    raise TypeError(f"unexpected value {value!r}")


# ---- ASGI plumbing for one invocation ----


class _InvocationIO:
    """Moves bytes between the ASGI connection and the VM."""

    def __init__(self, vm: CoreVM, receive: Callable[[], Awaitable[dict[str, Any]]], send: Callable[..., Any]):
        self.vm = vm
        self._receive = receive
        self._send = send
        self.input_closed = False

    async def read_more(self) -> None:
        """Feed the next chunk of the request body to the VM (or tell it the body ended)."""
        if self.input_closed:
            raise RuntimeError("the VM waits for input after the request body ended")
        message = await self._receive()
        if message["type"] == "http.request":
            if message.get("body"):
                self.vm.notify_input(message["body"])
            if not message.get("more_body", False):
                self.input_closed = True
                self.vm.notify_input_closed()
        else:  # http.disconnect
            self.input_closed = True
            self.vm.notify_input_closed()

    async def flush(self) -> None:
        data = self.vm.take_output()
        if data:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def finish(self) -> None:
        """Drain the output until the VM closes it, then end the response."""
        while (data := self.vm.take_output()) is not None:
            if data:
                await self._send({"type": "http.response.body", "body": data, "more_body": True})
            else:
                break  # still open: the handler returned without ending the invocation
        await self._send({"type": "http.response.body", "body": b"", "more_body": False})


class Endpoint:
    """The ASGI application serving a set of services."""

    def __init__(
        self,
        *services: ServiceDef,
        identity_keys: list[str] | None = None,
        max_protocol_version: int = 6,
    ) -> None:
        self.services = {s.name: s for s in services}
        self.verifier = IdentityVerifier(identity_keys or [])
        self.max_protocol_version = max_protocol_version

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]
                if event == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path: str = scope["path"]
        parts = path.rstrip("/").split("/")
        if parts[-1] == "health":
            await _respond(send, 200, b'{"status":"ok"}', "application/json")
            return
        try:
            self.verifier.verify(path, scope["headers"])
        except IdentityVerificationError as error:
            logger.warning("rejected %s: %s", path, error)
            await _respond(send, 401, str(error).encode())
            return
        if parts[-1] == "discover" and scope["method"] == "GET":
            await self._discover(scope, send)
        elif len(parts) >= 3 and parts[-3] == "invoke" and scope["method"] == "POST":
            await self._invoke(scope, receive, send, parts[-2], parts[-1])
        else:
            await _respond(send, 404, b"not found")

    async def _discover(self, scope: dict[str, Any], send: Any) -> None:
        accept = next((v.decode() for k, v in scope["headers"] if k.lower() == b"accept"), "")
        version = next((v for v in SUPPORTED_MANIFESTS if MANIFEST_TYPE.format(v) in accept), None)
        if version is None:
            await _respond(send, 415, b"no supported endpoint manifest version in the accept header")
            return
        manifest = {
            "protocolMode": "REQUEST_RESPONSE" if scope["http_version"] == "1.1" else "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": self.max_protocol_version,
            "services": [
                {
                    "name": s.name,
                    "ty": s.ty,
                    "handlers": [{"name": h.name, **({"ty": h.kind} if h.kind else {})} for h in s.handlers.values()],
                }
                for s in self.services.values()
            ],
        }
        await _respond(send, 200, json.dumps(manifest).encode(), MANIFEST_TYPE.format(version))

    async def _invoke(self, scope: dict[str, Any], receive: Any, send: Any, service: str, name: str) -> None:
        handler = self.services.get(service, ServiceDef("", "")).handlers.get(name)
        if handler is None:
            await _respond(send, 404, f"no handler {service}/{name}".encode())
            return
        try:
            vm = CoreVM(scope["headers"])
        except VMError as error:
            await _respond(send, error.code, error.message.encode())
            return
        io = _InvocationIO(vm, receive, send)
        head = vm.get_response_head()
        headers = [(h.key.encode(), h.value.encode()) for h in head.headers]
        await send({"type": "http.response.start", "status": head.status_code, "headers": headers})
        try:
            while not vm.is_ready_to_execute():
                await io.read_more()
        except VMError as error:  # e.g. the body ended before the whole journal arrived
            logger.warning("invocation attempt failed before the handler ran: %s", error)
        else:
            await self._run_handler(vm, io, handler)
        await io.finish()

    async def _run_handler(self, vm: CoreVM, io: _InvocationIO, handler: HandlerDef) -> None:
        output: Success | Failure
        try:
            ctx = Context(vm, io)
            arg = json.loads(ctx.request.input) if ctx.request.input else None
            takes_input = len(inspect.signature(handler.fn).parameters) > 1
            output = Success(_json(await (handler.fn(ctx, arg) if takes_input else handler.fn(ctx))))
        except TerminalError as error:
            output = Failure(error.code, str(error))
        except SuspendedError:
            return  # the VM wrote the suspension; the server resumes the invocation later
        except VMError as error:
            logger.info("invocation attempt failed: %s", error)  # the VM wrote the ErrorMessage
            return
        except Exception as error:
            # A bug or a transient problem: fail this attempt, the server retries it.
            vm.notify_error(f"{type(error).__name__}: {error}", traceback.format_exc())
            return
        try:
            vm.sys_write_output(output)
            vm.sys_end()
        except VMError as error:
            logger.info("invocation attempt failed: %s", error)


async def _respond(send: Any, status: int, body: bytes, content_type: str = "text/plain") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type.encode())]})
    await send({"type": "http.response.body", "body": body})
