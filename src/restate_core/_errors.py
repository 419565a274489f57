"""The exceptions of the public API and the protocol's error codes."""

from __future__ import annotations

__all__ = [
    "AWAITING_TWO_ASYNC_RESULTS",
    "BAD_REQUEST",
    "CLOSED",
    "INTERNAL",
    "JOURNAL_MISMATCH",
    "PROTOCOL_VIOLATION",
    "UNSUPPORTED_FEATURE",
    "UNSUPPORTED_MEDIA_TYPE",
    "SuspendedError",
    "VMError",
]

# Codes the protocol and the cores agree on.
BAD_REQUEST = 400
UNSUPPORTED_MEDIA_TYPE = 415
INTERNAL = 500
JOURNAL_MISMATCH = 570
PROTOCOL_VIOLATION = 571
AWAITING_TWO_ASYNC_RESULTS = 572
UNSUPPORTED_FEATURE = 573
# Local to the SDK, never written on the wire: a call on a VM whose output closed.
CLOSED = 598


class VMError(Exception):
    """An error of the invocation state machine, with the protocol's numeric code.

    ``str(err)`` is ``VM Error [code]: message. Description: description``.
    """

    code: int
    message: str
    description: str

    def __init__(self, code: int, message: str, description: str = "") -> None:
        super().__init__(code, message, description)
        self.code = code
        self.message = message
        self.description = description

    def __str__(self) -> str:
        return f"VM Error [{self.code}]: {self.message}. Description: {self.description}"

    def __repr__(self) -> str:
        return f"VMError({self.code!r}, {self.message!r}, {self.description!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VMError):
            return NotImplemented
        return (self.code, self.message, self.description) == (other.code, other.message, other.description)

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.description))


class SuspendedError(Exception):
    """The invocation suspended: stop running user code and drain the output."""

    def __init__(self) -> None:
        super().__init__("Suspended execution")
