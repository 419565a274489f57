"""Framing: the 8-byte message header, raw messages, and the streaming decoder.

Every message of the service protocol, in both directions and in every
version, is an 8-byte header followed by a protobuf body. The header is one
big-endian u64: message type (16 bits), flags (16 bits), body length (32 bits).
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from .._errors import PROTOCOL_VIOLATION, VMError

__all__ = [
    "COMPLETED",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HEADER_SIZE",
    "REQUIRES_ACK",
    "SMALL_BODY",
    "Decoder",
    "MessageHeader",
    "RawMessage",
    "encode_frame",
    "header_table",
]

HEADER = struct.Struct(">HHI")
HEADER_SIZE = 8

#: V1/V2: a completable entry carries its result.
COMPLETED = 0x0001
#: V1/V2: the runtime must ack the entry (EntryAckMessage). V5+: REQUESTED_ACK, same bit.
REQUIRES_ACK = 0x8000

#: Frames declaring a longer body are rejected before anything is allocated for them.
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024

_pack_header = HEADER.pack
_unpack_header_from = HEADER.unpack_from
_unpack_length_from = struct.Struct(">I").unpack_from


class MessageHeader(NamedTuple):
    """The decoded 8-byte header: ``type``, ``flags`` and body ``length``."""

    type: int
    flags: int
    length: int

    @property
    def completed(self) -> bool:
        """V1/V2 COMPLETED flag (meaningful for completable entries only)."""
        return bool(self.flags & COMPLETED)

    @property
    def requires_ack(self) -> bool:
        """V1/V2 REQUIRES_ACK flag; V5+ REQUESTED_ACK."""
        return bool(self.flags & REQUIRES_ACK)

    def encode(self) -> bytes:
        """The 8 header bytes."""
        return _pack_header(self.type, self.flags, self.length)

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> MessageHeader:
        """Parse the first 8 bytes of ``data``."""
        if len(data) < HEADER_SIZE:
            raise ValueError(f"a message header has {HEADER_SIZE} bytes, got {len(data)}")
        return cls(*_unpack_header_from(data, 0))


class RawMessage(NamedTuple):
    """One framed message whose body is not decoded yet."""

    type: int
    flags: int
    body: bytes

    def encode(self) -> bytes:
        """The frame: header and body."""
        return _pack_header(self.type, self.flags, len(self.body)) + self.body


#: Bodies shorter than this have their headers precomputed by ``header_table``.
SMALL_BODY = 264


def header_table(message_type: int, flags: int = 0) -> list[bytes]:
    """The headers of one message type and flags for every body length under ``SMALL_BODY``.

    ``table[len(body)] + body`` frames a short body: a list lookup costs less
    than packing the header.
    """
    return [_pack_header(message_type, flags, size) for size in range(SMALL_BODY)]


def encode_frame(message_type: int, body: bytes, flags: int = 0) -> bytes:
    """Frame ``body`` as one message of ``message_type``."""
    return _pack_header(message_type, flags, len(body)) + body


def _copied(data: bytes | bytearray | memoryview) -> bytes:
    # bytes(data) would also take an int (that many zero bytes) or a list of ints: a chunk must
    # be bytes-like (TypeError otherwise).
    return bytes(memoryview(data))


class Decoder:
    """Streaming frame decoder: push bytes split anywhere, pull whole messages.

    Pushed bytes are parsed in place when nothing is pending (no copy of the
    chunk); an incomplete tail is kept in a ``bytearray`` with a read offset,
    and consumed bytes are dropped in bulk, never by re-slicing per message.
    A header announcing a body longer than ``max_message_size`` raises
    ``VMError`` (571) as soon as the header is complete, before any memory is
    reserved for the body.
    """

    __slots__ = ("_buffer", "_max", "_need", "_offset")

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_message_size < 0:
            raise ValueError("max_message_size must not be negative")
        self._buffer: bytes | bytearray = b""
        self._offset = 0
        self._max = max_message_size
        # Bytes the pending message needs before anything can be returned (header, then whole frame).
        self._need = HEADER_SIZE

    @property
    def max_message_size(self) -> int:
        """The longest body a frame may declare."""
        return self._max

    def push(self, data: bytes | bytearray | memoryview) -> None:
        """Append a chunk of input."""
        buffer = self._buffer
        if self._offset == len(buffer):
            # Nothing pending: parse the chunk itself.
            self._buffer = data if data.__class__ is bytes else _copied(data)
            self._offset = 0
        elif buffer.__class__ is bytes:
            pending = bytearray(memoryview(buffer)[self._offset :])
            pending += data
            self._buffer = pending
            self._offset = 0
        else:
            buffer += data

    def buffered(self) -> int:
        """Bytes pushed but not yet returned as messages."""
        return len(self._buffer) - self._offset

    def _too_long(self, message_type: int, length: int) -> VMError:
        return VMError(
            PROTOCOL_VIOLATION,
            f"message of type 0x{message_type:04X} declares a body of {length} bytes, "
            f"more than the limit of {self._max} bytes",
        )

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """``push(data)`` then ``frames()``, the way ``CoreVM`` feeds input.

        A chunk that does not complete the pending message is only appended.
        One that does is joined with the pending bytes into one ``bytes`` (a
        single copy), which is then cut into frames without further copies of
        the pending part.
        """
        buffer = self._buffer
        offset = self._offset
        pending = len(buffer) - offset
        if pending:
            if pending + len(data) < self._need:
                if buffer.__class__ is bytearray:
                    buffer += data
                else:
                    self.push(data)
                return []
            data = b"".join((buffer[offset:] if offset else buffer, data))
        elif data.__class__ is not bytes:
            data = _copied(data)
        size = len(data)
        if size >= HEADER_SIZE:
            length = _unpack_length_from(data, 4)[0]
            if size == HEADER_SIZE + length and length <= self._max:
                # Exactly one frame: the chunk itself.
                if buffer:
                    self._buffer = b""
                    self._offset = 0
                self._need = HEADER_SIZE
                return [data]
        self._buffer = data
        self._offset = 0
        return self.frames()

    def join(self, data: bytes | bytearray | memoryview) -> bytes | None:
        """With bytes pending: ``None`` while ``data`` does not complete the pending message (it is
        appended); once it does, the pending bytes and ``data`` as one ``bytes`` (a single copy),
        taken out of the decoder, which is then empty: feeding them back gives the messages
        ``feed(data)`` would have, and a caller may first take some itself (``feed_from``)."""
        buffer = self._buffer
        offset = self._offset
        if len(buffer) - offset + len(data) < self._need:
            if buffer.__class__ is bytearray:
                buffer += data
            else:
                self.push(data)
            return None
        joined = b"".join((buffer[offset:] if offset else buffer, data))  # (first: it may raise)
        self._buffer = b""
        self._offset = 0
        self._need = HEADER_SIZE
        return joined

    def feed_from(self, data: bytes | bytearray | memoryview, start: int) -> list[bytes]:
        """``feed(data[start:])`` without copying ``data`` when nothing is pending: for a caller
        that took what comes before ``start`` itself (``CoreVM`` takes the messages it reads in
        place)."""
        if not 0 <= start <= len(data):
            raise ValueError(f"start must be within the chunk (0..{len(data)}), got {start}")
        if len(self._buffer) - self._offset or data.__class__ is not bytes:
            return self.feed(data[start:])
        # A caller that took the whole messages itself mostly leaves the start of one: kept here
        # without a walk through frames().
        rest = len(data) - start
        if rest < HEADER_SIZE:  # (copied: a part of a header must not hold on to the chunk)
            self._buffer = data[start:]
            self._offset = 0
            return []  # (with nothing pending, the decoder already needs a header: HEADER_SIZE)
        self._buffer = data
        self._offset = start
        length = _unpack_length_from(data, start + 4)[0]
        if HEADER_SIZE + length > rest and length <= self._max:
            self._need = HEADER_SIZE + length
            return []
        return self.frames()

    def frames(self) -> list[bytes]:
        """Every complete message pushed so far, as whole frames (header included).

        The message type of a frame is ``frame[0] << 8 | frame[1]``. If a
        header announces a body over the limit, the messages before it are
        returned and the next call raises.
        """
        buffer = self._buffer
        offset = self._offset
        size = len(buffer)
        if size - offset < HEADER_SIZE:
            return []
        if buffer.__class__ is not bytes:
            # Accumulated by push(). Unless a frame is complete, keep accumulating; else copy
            # the pending bytes once into bytes, and slice that.
            length = _unpack_length_from(buffer, offset + 4)[0]
            if length <= self._max and offset + HEADER_SIZE + length > size:
                self._need = HEADER_SIZE + length
                return []
            buffer = self._buffer = bytes(buffer[offset:]) if offset else bytes(buffer)
            size -= offset
            offset = 0
        limit = self._max
        frames: list[bytes] = []
        append = frames.append
        unpack = _unpack_length_from
        last = size - HEADER_SIZE  # a header fits if offset <= last
        while offset <= last:
            length = unpack(buffer, offset + 4)[0]
            end = offset + HEADER_SIZE + length
            if length > limit:
                if frames:
                    break
                self._offset = offset
                raise self._too_long(_unpack_header_from(buffer, offset)[0], length)
            if end > size:
                break
            append(buffer[offset:end])
            offset = end
        if offset == size:  # all consumed: the usual end of a chunk (_settle's first case)
            self._buffer = b""
            self._offset = 0
            self._need = HEADER_SIZE
        else:
            self._settle(offset)
        return frames

    def _settle(self, offset: int) -> None:
        buffer = self._buffer
        pending = len(buffer) - offset
        if pending >= HEADER_SIZE:
            length = _unpack_header_from(buffer, offset)[2]
            # Over the limit: need nothing, so the next call parses the header again and raises.
            self._need = HEADER_SIZE + length if length <= self._max else 0
        else:
            self._need = HEADER_SIZE
        if not pending:
            self._buffer = b""
            self._offset = 0
        elif buffer.__class__ is bytearray and offset > 65536 and offset * 2 > len(buffer):
            del buffer[:offset]
            self._offset = 0
        else:
            self._offset = offset

    def next(self) -> RawMessage | None:
        """The next complete message, or ``None`` if more input is needed."""
        buffer = self._buffer
        offset = self._offset
        if len(buffer) - offset < HEADER_SIZE:
            return None
        message_type, flags, length = _unpack_header_from(buffer, offset)
        if length > self._max:
            raise self._too_long(message_type, length)
        end = offset + HEADER_SIZE + length
        if end > len(buffer):
            return None
        body = bytes(buffer[offset + HEADER_SIZE : end])
        self._settle(end)
        return RawMessage(message_type, flags, body)

    def __iter__(self) -> Decoder:
        return self

    def __next__(self) -> RawMessage:
        message = self.next()
        if message is None:
            raise StopIteration
        return message
