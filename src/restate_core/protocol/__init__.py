"""The service protocol's wire codec.

* framing: ``MessageHeader``, ``RawMessage``, ``encode_frame``, the streaming
  ``Decoder``, and the flags ``COMPLETED`` / ``REQUIRES_ACK``;
* versions: ``Version`` with content types, ``SUPPORTED_VERSIONS``;
* messages: ``v2`` (V1/V2 journal entries) and ``v5`` (V5/V6 commands and
  notifications), each with its ``MessageType`` table and protobuf classes;
* ``Encoder``: frames protobuf messages with the type code and flags the
  protocol version prescribes.
"""

from __future__ import annotations

from . import v2, v5
from ._encoder import Encoder
from ._framing import (
    COMPLETED,
    DEFAULT_MAX_MESSAGE_SIZE,
    HEADER_SIZE,
    REQUIRES_ACK,
    Decoder,
    MessageHeader,
    RawMessage,
    encode_frame,
)
from ._version import CONTENT_TYPE_PREFIX, SUPPORTED_VERSIONS, Version

__all__ = [
    "COMPLETED",
    "CONTENT_TYPE_PREFIX",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "HEADER_SIZE",
    "REQUIRES_ACK",
    "SUPPORTED_VERSIONS",
    "Decoder",
    "Encoder",
    "MessageHeader",
    "RawMessage",
    "Version",
    "encode_frame",
    "v2",
    "v5",
]
