"""Request identity: verify that a request was signed by the Restate server.

The server signs each request with an Ed25519 key and sends

* ``x-restate-signature-scheme: v1``;
* ``x-restate-jwt-v1: <compact JWT>`` with header ``{typ: JWT, alg: EdDSA, kid}``
  and claims ``{aud: <request path>, nbf, iat, exp}``.

An endpoint is configured with the public halves of the keys it trusts, each
written ``publickeyv1_<base58 of the raw 32-byte Ed25519 public key>``. With no
key configured every request is accepted. The rules follow the Rust core's
``request_identity.rs`` (``../spec/core-v2.md`` section 5): only EdDSA, the
claims ``aud``, ``exp`` and ``nbf`` are required, no leeway, ``aud`` equals the
request path exactly (an ``aud`` array must contain it), and the keys are tried
in order. The token's ``kid`` header only decides which key is tried first, so
it never changes the verdict.

Two details match the Rust core rather than PyJWT's defaults: a token expires
once ``exp < now`` in whole seconds (PyJWT would reject it one second earlier),
and ``iat``, ``sub`` and ``jti`` are not validated (PyJWT would reject an
``iat`` ahead of the endpoint's clock, which the server's ``nbf = now - 60``
exists to tolerate).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from jwt.utils import base64url_decode

from .headers import HeadersLike, header_value

__all__ = [
    "JWT_HEADER",
    "KEY_PREFIX",
    "SCHEME_HEADER",
    "IdentityKeyError",
    "IdentityVerificationError",
    "IdentityVerifier",
]

KEY_PREFIX = "publickeyv1_"
SCHEME_HEADER = "x-restate-signature-scheme"
JWT_HEADER = "x-restate-jwt-v1"

_SCHEME_V1 = "v1"
_SCHEME_UNSIGNED = "unsigned"
_ALGORITHM = "EdDSA"
_ALGORITHMS = (_ALGORITHM,)
_KEY_LENGTH = 32

_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_DIGITS = {char: digit for digit, char in enumerate(_BASE58_ALPHABET)}

# The current time in seconds since the epoch (a module attribute so tests can pin it).
_clock = time.time


class IdentityKeyError(Exception):
    """A configured signing key is malformed.

    ``index`` is the key's position in the list given to ``IdentityVerifier``.
    The message names the position and the problem, never the key itself.
    """

    index: int

    def __init__(self, message: str, index: int = -1) -> None:
        super().__init__(message)
        self.index = index


class IdentityVerificationError(Exception):
    """A request failed identity verification (an SDK answers it with 401)."""


class _Base58Error(ValueError):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def _base58_decode(text: str) -> bytes:
    """Decode Bitcoin-alphabet base58; each leading ``1`` is a zero byte. Raises ``_Base58Error``."""
    number = 0
    for offset, char in enumerate(text):
        digit = _BASE58_DIGITS.get(char)
        if digit is None:
            raise _Base58Error(offset)
        number = number * 58 + digit
    zeros = len(text) - len(text.lstrip("1"))
    return bytes(zeros) + number.to_bytes((number.bit_length() + 7) // 8, "big")


def _parse_key(index: int, key: object) -> Ed25519PublicKey:
    if not isinstance(key, str):
        raise TypeError(f"identity key at index {index} must be a str, not {type(key).__name__}")

    def malformed(problem: str) -> IdentityKeyError:
        return IdentityKeyError(f"identity key at index {index} is malformed: {problem}", index)

    if not key.startswith(KEY_PREFIX):
        raise malformed(f"it does not start with {KEY_PREFIX!r}")
    try:
        raw = _base58_decode(key[len(KEY_PREFIX) :])
    except _Base58Error as error:
        position = len(KEY_PREFIX) + error.offset
        raise malformed(
            f"invalid base58 character at position {position} (the alphabet excludes 0, O, I and l)"
        ) from None
    if len(raw) != _KEY_LENGTH:
        raise malformed(f"it decodes to {len(raw)} bytes, an Ed25519 public key has {_KEY_LENGTH}")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise malformed("it is not a valid Ed25519 public key") from None


def _shown(value: object, limit: int = 64) -> str:
    """``repr`` of a request-supplied value, cut short so it cannot flood a log."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class IdentityVerifier:
    """Checks the signature headers of incoming requests against the configured public keys."""

    __slots__ = ("_decoder", "_keys", "_keys_by_kid")

    def __init__(self, keys: Iterable[str]) -> None:
        """Parse ``keys`` (``publickeyv1_...`` strings, tried in this order when verifying).

        An empty iterable gives a verifier that accepts every request. Raises
        ``IdentityKeyError`` for a malformed key (naming its index, not its
        text) and ``TypeError`` when ``keys`` is a single string or holds
        something other than strings.
        """
        if isinstance(keys, (str, bytes, bytearray)):
            raise TypeError("keys must be an iterable of key strings, not a single string: wrap it in a list")
        names = list(keys)
        self._keys = tuple(_parse_key(index, key) for index, key in enumerate(names))
        # The server names its key in the token's kid: try that one first (the others after it, in order).
        self._keys_by_kid = {
            name: (key, *(other for other in self._keys if other is not key)) for name, key in zip(names, self._keys)
        }
        # Built once; decode() with options=None reuses them without merging per call.
        # exp is checked in _check_expiry (whole seconds, as the Rust core does).
        self._decoder = jwt.PyJWT(
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": True,
                "verify_iat": False,
                "verify_aud": True,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
                "require": ["aud", "exp", "nbf"],
            }
        )

    def __repr__(self) -> str:
        return f"<IdentityVerifier with {len(self._keys)} key(s)>"

    def verify(self, request_path: str, request_headers: HeadersLike) -> None:
        """Check that the request to ``request_path`` was signed by one of the configured keys.

        ``request_headers`` is any shape ``restate_core.headers`` accepts (a
        mapping, ``(name, value)`` pairs of ``str`` or ``bytes``, an object with
        ``get()``); names match case-insensitively. Returns ``None`` when the
        request is accepted, always so when no key is configured (the headers
        are then not read). Raises ``IdentityVerificationError`` naming the
        rule that failed, and ``TypeError`` for headers of no accepted shape.
        Changes nothing.
        """
        if not self._keys:
            return
        if isinstance(request_headers, Iterator):
            request_headers = list(request_headers)  # a one-shot iterator: two lookups follow
        scheme = header_value(request_headers, SCHEME_HEADER)
        if scheme is None:
            raise IdentityVerificationError(f"missing header {SCHEME_HEADER!r}")
        if scheme == _SCHEME_UNSIGNED:
            raise IdentityVerificationError(
                f"the request is unsigned ({SCHEME_HEADER}: {_SCHEME_UNSIGNED}) but signing keys are configured"
            )
        if scheme != _SCHEME_V1:
            raise IdentityVerificationError(
                f"unknown signature scheme {_shown(scheme)} in header {SCHEME_HEADER!r} (expected {_SCHEME_V1!r})"
            )
        token = header_value(request_headers, JWT_HEADER)
        if token is None:
            raise IdentityVerificationError(f"missing header {JWT_HEADER!r}")
        self._verify_token(token, request_path)

    def _verify_token(self, token: str, path: str) -> None:
        # Only the header, to check alg before any key is tried; jwt.decode parses the whole token strictly.
        try:
            header = json.loads(base64url_decode(token.partition(".")[0]))
        except (ValueError, RecursionError):
            raise IdentityVerificationError("malformed token: its header is not base64url-encoded JSON") from None
        if not isinstance(header, dict):
            raise IdentityVerificationError("malformed token: its header is not a JSON object")
        algorithm = header.get("alg")
        if algorithm != _ALGORITHM:
            raise IdentityVerificationError(
                f"token algorithm {_shown(algorithm)} is not allowed: only {_ALGORITHM} (Ed25519) tokens are accepted"
            )
        kid = header.get("kid")
        keys = self._keys_by_kid.get(kid, self._keys) if isinstance(kid, str) else self._keys
        signature_error: jwt.InvalidSignatureError | None = None
        for key in keys:
            # PyJWT checks the signature before the claims. Once a key's signature
            # matches, the claims are authentic and the same for every key: a claim
            # that fails with this key fails for good, so it ends the search.
            try:
                claims = self._decoder.decode(token, key, algorithms=_ALGORITHMS, audience=path, leeway=0)
            except jwt.InvalidSignatureError as error:
                signature_error = error  # not this key: try the next one
                continue
            except jwt.MissingRequiredClaimError as error:
                raise IdentityVerificationError(f"token is missing the required {error.claim!r} claim") from error
            except jwt.ImmatureSignatureError as error:
                raise IdentityVerificationError("token is not yet valid (its nbf claim is in the future)") from error
            except jwt.InvalidAudienceError as error:
                raise IdentityVerificationError(
                    f"wrong audience: the token's aud claim does not match the request path {_shown(path)} ({error})"
                ) from error
            except jwt.InvalidTokenError as error:  # DecodeError, or a header PyJWT refuses (kid, crit, b64)
                raise IdentityVerificationError(f"malformed token: {error}") from error
            _check_expiry(claims)
            return
        raise IdentityVerificationError(
            f"bad signature: the token is not signed by any of the {len(self._keys)} configured key(s)"
        ) from signature_error


def _check_expiry(claims: dict[str, Any]) -> None:
    try:
        expiry = int(claims["exp"])
    except (TypeError, ValueError, OverflowError):
        raise IdentityVerificationError("malformed token: the exp claim must be an integer") from None
    if expiry < int(_clock()):
        raise IdentityVerificationError("token has expired (its exp claim is in the past)")
