"""Encoding protobuf messages into frames, and decoding frames back."""

from __future__ import annotations

from google.protobuf.message import Message

from . import v2, v5
from ._framing import COMPLETED, REQUIRES_ACK, RawMessage, encode_frame
from ._version import Version

__all__ = ["Encoder", "decode_message"]


class Encoder:
    """Frames protobuf messages of one protocol version.

    V1/V2: a completable entry gets COMPLETED iff its ``result`` is set, a run
    entry always gets REQUIRES_ACK, everything else no flags. V5+: no flags.
    Notifications share one protobuf class, so their code must be given.
    """

    __slots__ = ("_legacy", "version")

    def __init__(self, version: Version) -> None:
        self.version = version
        self._legacy = version.is_legacy

    def message_type(self, message: Message) -> int:
        """The type code the protocol assigns to ``message``'s class."""
        if self._legacy:
            return v2.message_type_of(message)
        return v5.message_type_of(message)

    def flags(self, message_type: int, message: Message) -> int:
        """The header flags this version writes for ``message``."""
        if not self._legacy:
            return 0
        if message_type == v2.MessageType.RUN_ENTRY:
            return REQUIRES_ACK
        if message_type in v2.COMPLETABLE and message.WhichOneof("result") is not None:
            return COMPLETED
        return 0

    def encode(self, message: Message, message_type: int | None = None) -> bytes:
        """One frame (header and body) for ``message``."""
        if message_type is None:
            message_type = self.message_type(message)
        return encode_frame(message_type, message.SerializeToString(), self.flags(message_type, message))


def decode_message(version: Version, raw: RawMessage) -> Message:
    """Decode a frame's body into the protobuf class of its type code.

    Raises ``ValueError`` for an unknown code (custom entries included) and
    ``google.protobuf.message.DecodeError`` for a malformed body.
    """
    cls = v2.MESSAGE_CLASSES.get(raw.type) if version.is_legacy else v5.message_class(raw.type)
    if cls is None:
        raise ValueError(f"no message class for type 0x{raw.type:04X} in protocol {version}")
    message = cls()
    message.ParseFromString(raw.body)
    return message
