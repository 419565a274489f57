"""Service protocol versions and their invocation content types."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["CONTENT_TYPE_PREFIX", "SUPPORTED_VERSIONS", "Version"]

CONTENT_TYPE_PREFIX = "application/vnd.restate.invocation."


class Version(IntEnum):
    """A service protocol version. V1/V2 use the journal-entry model, V5+ commands and notifications."""

    V1 = 1
    V2 = 2
    V3 = 3
    V4 = 4
    V5 = 5
    V6 = 6
    V7 = 7

    @property
    def content_type(self) -> str:
        """The invocation content type, e.g. ``application/vnd.restate.invocation.v2``."""
        return _CONTENT_TYPES[self]

    @property
    def is_legacy(self) -> bool:
        """True for the journal-entry model (V1, V2)."""
        return self.value <= 2

    @classmethod
    def from_content_type(cls, content_type: str) -> Version | None:
        """The version named by an exact invocation content type, or ``None``."""
        return _BY_CONTENT_TYPE.get(content_type)

    def __str__(self) -> str:
        return self.name


# Every response carries one: built once, not per call.
_CONTENT_TYPES = {version: f"{CONTENT_TYPE_PREFIX}v{version.value}" for version in Version}
_BY_CONTENT_TYPE = {version.content_type: version for version in Version}

#: What CoreVM accepts. V3 and V4 were yanked upstream; V7 is not implemented.
SUPPORTED_VERSIONS = (Version.V1, Version.V2, Version.V5, Version.V6)
