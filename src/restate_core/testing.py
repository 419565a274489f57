"""A small kit to drive a ``CoreVM`` from unit tests.

Build the runtime's side of an invocation from protobuf messages, run a handler
against the VM, and read what the VM wrote back as decoded messages::

    from restate_core import Success
    from restate_core.protocol import Version, v5
    from restate_core.testing import Invocation

    inv = Invocation(Version.V6)
    inv.input(
        v5.StartMessage(id=b"123", debug_id="123", known_entries=1),
        v5.InputCommandMessage(value=v5.Value(content=b"Till")),
    )

    def handler(vm):
        name = vm.sys_input().input
        vm.sys_write_output(Success(b"Hello " + name))
        vm.sys_end()

    out = inv.run(handler)
    assert out.messages == [v5.OutputCommandMessage(value=v5.Value(content=b"Hello Till")), v5.EndMessage()]

Notifications (V5+) share one protobuf class, so give their type code with
``notification(code, ...)``. ``await_result`` is the await loop every SDK
writes: register the await point, then take the result.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from google.protobuf.message import Message

from ._errors import SuspendedError
from ._values import Value
from .protocol import Decoder, Encoder, RawMessage, Version, v2, v5
from .protocol._encoder import decode_message
from .vm import CoreVM

__all__ = [
    "Frame",
    "Invocation",
    "Output",
    "await_result",
    "decode_output",
    "encode_input",
    "notification",
]

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Frame:
    """A message together with an explicit type code (and flags, if any)."""

    message_type: int
    message: Message
    flags: int | None = None


MessageLike = Message | Frame


def notification(
    message_type: int,
    *,
    completion_id: int | None = None,
    signal_id: int | None = None,
    signal_name: str | None = None,
    void: bool = False,
    value: bytes | None = None,
    failure: tuple[int, str] | None = None,
    invocation_id: str | None = None,
    state_keys: Sequence[bytes] | None = None,
) -> Frame:
    """A V5+ notification frame: one id (completion, signal or signal name) and one result."""
    message = v5.NotificationTemplate()
    if completion_id is not None:
        message.completion_id = completion_id
    elif signal_id is not None:
        message.signal_id = signal_id
    elif signal_name is not None:
        message.signal_name = signal_name
    if void:
        message.void.SetInParent()
    elif value is not None:
        message.value.content = value
    elif failure is not None:
        message.failure.code, message.failure.message = failure
    elif invocation_id is not None:
        message.invocation_id = invocation_id
    elif state_keys is not None:
        message.state_keys.keys.extend(state_keys)
    return Frame(message_type, message)


def encode_input(version: Version, messages: Iterable[MessageLike]) -> bytes:
    """The bytes a runtime would send: each message framed for ``version``."""
    encoder = Encoder(version)
    parts = []
    for item in messages:
        if isinstance(item, Frame):
            frame = encoder.encode(item.message, item.message_type)
            if item.flags is not None:
                frame = RawMessage(item.message_type, item.flags, frame[8:]).encode()
            parts.append(frame)
        else:
            parts.append(encoder.encode(item))
    return b"".join(parts)


class Output(Sequence[Message]):
    """Decoded output messages, with their raw frames in ``frames``."""

    def __init__(self, version: Version, frames: list[RawMessage], eof: bool) -> None:
        self.version = version
        self.frames = frames
        self.messages: list[Message] = [_decode_output_frame(version, frame) for frame in frames]
        #: True if the VM closed its output (End, Suspension or Error) and all of it was read.
        self.eof = eof
        self._cursor = 0

    @overload
    def __getitem__(self, index: int) -> Message: ...
    @overload
    def __getitem__(self, index: slice) -> list[Message]: ...
    def __getitem__(self, index: int | slice) -> Message | list[Message]:
        return self.messages[index]

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)

    def __repr__(self) -> str:
        return f"Output({self.messages!r}, eof={self.eof})"

    def next(self, cls: type[M]) -> M:
        """The next message, which must be a ``cls``."""
        if self._cursor >= len(self.messages):
            raise AssertionError(f"expected a {cls.__name__}, but the output has no more messages")
        message = self.messages[self._cursor]
        self._cursor += 1
        if not isinstance(message, cls):
            raise AssertionError(f"expected a {cls.__name__}, got {type(message).__name__}: {message}")
        return message

    def assert_done(self) -> None:
        """Assert that ``next`` consumed every message."""
        if self._cursor != len(self.messages):
            rest = self.messages[self._cursor :]
            raise AssertionError(f"unexpected further output: {rest}")


def _decode_output_frame(version: Version, frame: RawMessage) -> Message:
    return decode_message(version, frame)


def decode_output(version: Version, data: bytes) -> list[Message]:
    """Decode a complete output byte stream into messages."""
    decoder = Decoder()
    decoder.push(data)
    messages = [_decode_output_frame(version, frame) for frame in decoder]
    if decoder.buffered():
        raise AssertionError(f"{decoder.buffered()} trailing bytes do not form a whole message")
    return messages


def await_result(vm: CoreVM, handle: int) -> Value | None:
    """Await ``handle`` as an SDK does with no more input to feed.

    Returns the value, or ``None`` if it is not ready; raises
    ``SuspendedError`` once the VM suspended.
    """
    vm.notify_await_point(handle)
    return vm.take_async_result(handle)


class Invocation:
    """One invocation attempt under test: a ``CoreVM`` plus the runtime's messages.

    ``input(...)`` feeds messages now (each with its own ``notify_input``);
    ``run(handler)`` closes the input, runs ``handler(vm)`` and returns the
    decoded output, which must end with the output closed.
    """

    def __init__(
        self,
        version: Version = Version.V2,
        *,
        clock: Callable[[], float] = time.time,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.version = version
        self.vm = CoreVM([("content-type", version.content_type), *headers], clock=clock)
        self._output: list[bytes] = []

    def input(self, *messages: MessageLike) -> Invocation:
        """Feed the messages to the VM, one ``notify_input`` per message."""
        for item in messages:
            self.vm.notify_input(encode_input(self.version, [item]))
        return self

    def run(self, handler: Callable[[CoreVM], Any]) -> Output:
        """Close the input, check the VM is ready, run ``handler``, collect the output (must reach EOF)."""
        self.vm.notify_input_closed()
        return self.run_without_closing_input(handler)

    def run_without_closing_input(self, handler: Callable[[CoreVM], Any]) -> Output:
        """Run ``handler`` with the input still open; the output must still reach EOF."""
        if not self.vm.is_ready_to_execute():
            raise AssertionError("the VM is not ready to execute after the input")
        with contextlib.suppress(SuspendedError):
            handler(self.vm)
        output = self.collect()
        if not output.eof:
            raise AssertionError(f"the output did not close; got {output.messages}")
        return output

    def collect(self) -> Output:
        """Everything the VM wrote so far, decoded (``eof`` tells whether it closed)."""
        eof = False
        while True:
            chunk = self.vm.take_output()
            if chunk is None:
                eof = True
                break
            if not chunk:
                break
            self._output.append(chunk)
        decoder = Decoder()
        decoder.push(b"".join(self._output))
        frames = list(decoder)
        return Output(self.version, frames, eof)


# Keep the two message modules at hand for test authors.
__all__ += ["v2", "v5"]
