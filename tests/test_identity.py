"""Request identity (core-v2.md §5): ``IdentityVerifier`` against tokens built like the Restate server's.

Keys are fresh Ed25519 pairs; tokens are signed by PyJWT with the server's header
``{typ: JWT, alg: EdDSA, kid: publickeyv1_...}`` and claims ``{aud, nbf: now-60, iat: now, exp: now+60}``.
"""

from __future__ import annotations

import base64
import email.message
import json
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from restate_core import IdentityKeyError, IdentityVerificationError, IdentityVerifier, identity

PATH = "/invoke/foo"
SCHEME = "x-restate-signature-scheme"
JWT = "x-restate-jwt-v1"

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    """Reference base58 encoder (Bitcoin alphabet): repeated division, one '1' per leading zero byte."""
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(BASE58_ALPHABET[digit])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(digits))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """One Ed25519 key pair and its ``publickeyv1_`` name."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.raw_public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key = "publickeyv1_" + b58encode(self.raw_public)

    def token(
        self, aud: Any = PATH, *, now: int | None = None, drop: str = "", kid: str | None = None, **claims: Any
    ) -> str:
        """A server-style token; ``claims`` override the defaults, ``drop`` names a claim to leave out."""
        now = int(time.time()) if now is None else now
        payload = {"aud": aud, "nbf": now - 60, "iat": now, "exp": now + 60, **claims}
        payload.pop(drop, None)
        header = {"typ": "JWT", "kid": self.key if kid is None else kid}
        return jwt.encode(payload, self.private, algorithm="EdDSA", headers=header)


def sign_raw(private: Ed25519PrivateKey, header: dict[str, Any], payload: bytes) -> str:
    """A compact JWS signed without PyJWT's checks on the header."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(payload)
    return signing_input + "." + b64url(private.sign(signing_input.encode()))


def signed(token: str) -> dict[str, str]:
    return {SCHEME: "v1", JWT: token}


def rejection(verifier: IdentityVerifier, headers: Any, path: str = PATH) -> str:
    with pytest.raises(IdentityVerificationError) as raised:
        verifier.verify(path, headers)
    return str(raised.value)


@pytest.fixture
def signer() -> Signer:
    return Signer()


@pytest.fixture
def verifier(signer: Signer) -> IdentityVerifier:
    return IdentityVerifier([signer.key])


@pytest.fixture
def pin_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Pin the clock the exp check reads (PyJWT checks nbf against the real clock)."""

    def pin(now: float) -> None:
        monkeypatch.setattr(identity, "_clock", lambda: now)

    return pin


# ---- accepted ----


def test_valid_server_token_is_accepted(signer: Signer, verifier: IdentityVerifier) -> None:
    verifier.verify(PATH, signed(signer.token()))


def test_token_of_the_second_configured_key_is_accepted() -> None:
    first, second = Signer(), Signer()
    verifier = IdentityVerifier([first.key, second.key])

    verifier.verify(PATH, signed(second.token()))
    verifier.verify(PATH, signed(first.token()))


def test_kid_only_orders_the_keys() -> None:
    first, second, stranger = Signer(), Signer(), Signer()
    verifier = IdentityVerifier([first.key, second.key])

    verifier.verify(PATH, signed(first.token(kid=second.key)))  # kid names the wrong key: the others are still tried
    verifier.verify(PATH, signed(second.token(kid="publickeyv1_unknown")))
    verifier.verify(PATH, signed(second.token()))
    assert "bad signature" in rejection(verifier, signed(stranger.token(kid=first.key)))
    now = int(time.time())
    claims = json.dumps({"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60}).encode()
    numeric_kid = sign_raw(first.private, {"typ": "JWT", "alg": "EdDSA", "kid": 5}, claims)
    assert "malformed" in rejection(verifier, signed(numeric_kid))  # kid must be a string (RFC 7515)


def test_keys_accept_any_iterable() -> None:
    signer = Signer()

    IdentityVerifier(key for key in [signer.key]).verify(PATH, signed(signer.token()))
    IdentityVerifier((signer.key,)).verify(PATH, signed(signer.token()))


def test_aud_array_containing_the_path_is_accepted(signer: Signer, verifier: IdentityVerifier) -> None:
    # jsonwebtoken accepts an aud array that intersects the expected audience; so do we.
    verifier.verify(PATH, signed(signer.token(["/discover", PATH])))


def test_iat_ahead_of_our_clock_is_accepted(signer: Signer, verifier: IdentityVerifier) -> None:
    # The Rust core does not validate iat; the server's clock may run ahead of ours (nbf = now - 60 allows for it).
    now = int(time.time())
    verifier.verify(PATH, signed(signer.token(iat=now + 30)))


def test_token_is_valid_through_its_exp_second(
    signer: Signer, verifier: IdentityVerifier, pin_clock: Callable[[float], None]
) -> None:
    # Rust: expired iff exp < now, now in whole seconds. PyJWT alone would reject from exp itself.
    now = int(time.time())
    token = signer.token(exp=now + 10)

    pin_clock(now + 10.9)
    verifier.verify(PATH, signed(token))
    pin_clock(now + 11)
    assert "expired" in rejection(verifier, signed(token))


# ---- rejected tokens ----


def test_signature_of_another_key_is_rejected(verifier: IdentityVerifier) -> None:
    message = rejection(verifier, signed(Signer().token()))

    assert "bad signature" in message


def test_signature_of_no_configured_key_is_rejected_with_several_keys() -> None:
    verifier = IdentityVerifier([Signer().key, Signer().key])

    assert "bad signature" in rejection(verifier, signed(Signer().token()))


def test_expired_token_is_rejected(signer: Signer, verifier: IdentityVerifier) -> None:
    now = int(time.time())

    assert "expired" in rejection(verifier, signed(signer.token(now=now - 120)))
    assert "expired" in rejection(verifier, signed(signer.token(exp=now - 1)))


def test_token_not_yet_valid_is_rejected(signer: Signer, verifier: IdentityVerifier) -> None:
    now = int(time.time())

    assert "not yet valid" in rejection(verifier, signed(signer.token(nbf=now + 30)))
    assert "not yet valid" in rejection(verifier, signed(signer.token(now=now + 120)))


@pytest.mark.parametrize(
    ("aud", "path"),
    [
        ("/invoke/bar", PATH),
        (PATH, "/invoke/foo/"),
        (PATH, "/prefix/invoke/foo"),  # no path normalisation at v0.1.0
        (PATH, "/INVOKE/FOO"),
        (["/discover", "/invoke/bar"], PATH),
    ],
)
def test_wrong_audience_is_rejected(signer: Signer, verifier: IdentityVerifier, aud: Any, path: str) -> None:
    assert "wrong audience" in rejection(verifier, signed(signer.token(aud)), path)


@pytest.mark.parametrize("claim", ["aud", "exp", "nbf"])
def test_token_missing_a_required_claim_is_rejected(signer: Signer, verifier: IdentityVerifier, claim: str) -> None:
    message = rejection(verifier, signed(signer.token(drop=claim)))

    assert "missing" in message
    assert repr(claim) in message


def test_token_without_iat_is_accepted(signer: Signer, verifier: IdentityVerifier) -> None:
    # iat is listed as required upstream, but jsonwebtoken 9 never enforces it.
    verifier.verify(PATH, signed(signer.token(drop="iat")))


def test_alg_none_token_is_rejected(verifier: IdentityVerifier) -> None:
    now = int(time.time())
    header = b64url(json.dumps({"typ": "JWT", "alg": "none"}).encode())
    payload = b64url(json.dumps({"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60}).encode())

    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        message = rejection(verifier, signed(token))
        assert "not allowed" in message or "malformed" in message
    assert "'none' is not allowed" in rejection(verifier, signed(f"{header}.{payload}."))


@pytest.mark.parametrize("secret", ["raw public key", "publickeyv1_ text"])
def test_hs256_token_keyed_with_the_public_key_is_rejected(secret: str) -> None:
    # The classic algorithm-confusion attack: HMAC keyed with what the verifier knows as public.
    signer = Signer()
    verifier = IdentityVerifier([signer.key])
    key = signer.raw_public if secret == "raw public key" else signer.key.encode()
    now = int(time.time())
    token = jwt.encode(
        {"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60},
        key,
        algorithm="HS256",
        headers={"typ": "JWT", "kid": signer.key},
    )

    assert "'HS256' is not allowed" in rejection(verifier, signed(token))


def test_tampered_payload_is_rejected(signer: Signer, verifier: IdentityVerifier) -> None:
    header, _, signature = signer.token("/invoke/bar").split(".")
    now = int(time.time())
    forged = b64url(json.dumps({"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60}).encode())

    assert "bad signature" in rejection(verifier, signed(f"{header}.{forged}.{signature}"))


def test_tampered_header_is_rejected(signer: Signer, verifier: IdentityVerifier) -> None:
    _, payload, signature = signer.token().split(".")
    header = b64url(json.dumps({"typ": "JWT", "alg": "EdDSA", "kid": "publickeyv1_other"}).encode())

    assert "bad signature" in rejection(verifier, signed(f"{header}.{payload}.{signature}"))


@pytest.mark.parametrize("cut", [1, 2, 4, 8, 86])
def test_truncated_signature_is_rejected(signer: Signer, verifier: IdentityVerifier, cut: int) -> None:
    token = signer.token()
    message = rejection(verifier, signed(token[:-cut]))

    # A cut that leaves valid base64url reaches the signature check; others fail to decode.
    assert "bad signature" in message or "malformed" in message


def test_signature_truncated_to_whole_bytes_fails_the_signature_check(
    signer: Signer, verifier: IdentityVerifier
) -> None:
    header, payload, signature = signer.token().split(".")
    short = b64url(base64.urlsafe_b64decode(signature + "==")[:-3])  # 61 bytes, canonically encoded

    assert "bad signature" in rejection(verifier, signed(f"{header}.{payload}.{short}"))


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "!!!.!!!.!!!",
        "a.b.c.d",
        "é.é.é",
        b64url(b"[1]") + "." + b64url(b"{}") + ".",
        b64url(b"not json") + "." + b64url(b"{}") + ".",
        b64url(b"{}") + "." + b64url(b"{}") + ".",
    ],
)
def test_garbage_token_is_rejected(verifier: IdentityVerifier, token: str) -> None:
    rejection(verifier, signed(token))


def test_signed_token_with_a_non_json_payload_is_malformed(signer: Signer, verifier: IdentityVerifier) -> None:
    token = jwt.api_jws.encode(b"not json", signer.private, algorithm="EdDSA", headers={"kid": signer.key})

    assert "malformed" in rejection(verifier, signed(token))


# ---- headers ----


def test_unsigned_request_with_keys_configured_is_rejected(verifier: IdentityVerifier) -> None:
    message = rejection(verifier, {SCHEME: "unsigned"})

    assert "unsigned" in message
    assert "keys are configured" in message


def test_unknown_scheme_is_rejected(signer: Signer, verifier: IdentityVerifier) -> None:
    message = rejection(verifier, {SCHEME: "v2", JWT: signer.token()})

    assert "unknown signature scheme 'v2'" in message


def test_scheme_values_are_matched_exactly(signer: Signer, verifier: IdentityVerifier) -> None:
    for scheme in ("V1", " v1", "Unsigned"):
        assert "unknown signature scheme" in rejection(verifier, {SCHEME: scheme, JWT: signer.token()})


def test_a_huge_scheme_value_is_not_echoed_whole(verifier: IdentityVerifier) -> None:
    assert len(rejection(verifier, {SCHEME: "x" * 10_000})) < 300


@pytest.mark.parametrize(
    ("headers", "missing"),
    [({}, SCHEME), ([], SCHEME), ({JWT: "a.b.c"}, SCHEME), ({SCHEME: "v1"}, JWT)],
)
def test_missing_headers_are_rejected(verifier: IdentityVerifier, headers: Any, missing: str) -> None:
    assert f"missing header {missing!r}" in rejection(verifier, headers)


def test_headers_as_asgi_byte_pairs(signer: Signer, verifier: IdentityVerifier) -> None:
    headers = [(b"content-type", b"application/vnd.restate.invocation.v2"), (b"x-restate-signature-scheme", b"v1")]
    headers.append((b"x-restate-jwt-v1", signer.token().encode()))

    verifier.verify(PATH, headers)
    headers[-1] = (b"x-restate-jwt-v1", Signer().token().encode())
    assert "bad signature" in rejection(verifier, headers)


def test_headers_with_mixed_case_names(signer: Signer, verifier: IdentityVerifier) -> None:
    token = signer.token()

    verifier.verify(PATH, {"X-Restate-Signature-Scheme": "v1", "X-Restate-JWT-V1": token})
    verifier.verify(PATH, [("X-RESTATE-SIGNATURE-SCHEME", "v1"), ("x-Restate-Jwt-v1", token)])
    verifier.verify(PATH, [(b"X-Restate-Signature-Scheme", b"v1"), (b"X-Restate-Jwt-V1", token.encode())])


def test_headers_as_a_one_shot_iterator(signer: Signer, verifier: IdentityVerifier) -> None:
    pairs: Iterator[tuple[str, str]] = iter([(SCHEME, "v1"), (JWT, signer.token())])

    verifier.verify(PATH, pairs)


def test_headers_as_an_object_with_get(signer: Signer, verifier: IdentityVerifier) -> None:
    message = email.message.Message()
    message["X-Restate-Signature-Scheme"] = "v1"
    message["X-Restate-Jwt-V1"] = signer.token()

    verifier.verify(PATH, message)


def test_first_occurrence_of_a_header_wins(signer: Signer, verifier: IdentityVerifier) -> None:
    token = signer.token()

    verifier.verify(PATH, [(SCHEME, "v1"), (JWT, token), (JWT, "garbage")])
    assert "malformed" in rejection(verifier, [(SCHEME, "v1"), (JWT, "garbage"), (JWT, token)])


def test_headers_of_no_accepted_shape_are_a_type_error(verifier: IdentityVerifier) -> None:
    with pytest.raises(TypeError):
        verifier.verify(PATH, "x-restate-signature-scheme: v1")  # type: ignore[arg-type]


# ---- no keys ----


@pytest.mark.parametrize(
    "headers",
    [
        {},
        [],
        {SCHEME: "unsigned"},
        {SCHEME: "v7"},
        {SCHEME: "v1"},
        {SCHEME: "v1", JWT: "garbage"},
        {SCHEME: "v1", JWT: Signer().token(now=0)},
    ],
)
def test_without_keys_every_request_is_accepted(headers: Any) -> None:
    IdentityVerifier([]).verify(PATH, headers)
    IdentityVerifier(iter(())).verify("/anything", headers)


# ---- keys ----


def test_key_parses_to_the_public_key_it_names(signer: Signer) -> None:
    verifier = IdentityVerifier([signer.key])

    (parsed,) = verifier._keys
    assert parsed.public_bytes(Encoding.Raw, PublicFormat.Raw) == signer.raw_public


def _good_key() -> str:
    return Signer().key


def _bad_char_key() -> str:
    key = Signer().key
    return key[:20] + "0" + key[21:]


def _short_key() -> str:
    return "publickeyv1_" + b58encode(bytes(range(1, 32)))


def _long_key() -> str:
    return "publickeyv1_" + b58encode(bytes(range(1, 34)))


def _leading_zero_long_key() -> str:
    # 33 bytes, the first one zero: the leading '1' counts as a byte.
    return "publickeyv1_1" + Signer().key.removeprefix("publickeyv1_")


@pytest.mark.parametrize(
    ("make_key", "problem"),
    [
        (lambda: Signer().key.removeprefix("publickeyv1_"), "does not start with 'publickeyv1_'"),
        (lambda: Signer().key.replace("publickeyv1_", "publickeyv2_"), "does not start with 'publickeyv1_'"),
        (lambda: Signer().key.replace("publickeyv1_", "PublicKeyV1_"), "does not start with 'publickeyv1_'"),
        (lambda: "signingkeyv1_" + Signer().key.removeprefix("publickeyv1_"), "does not start"),
        (_bad_char_key, "invalid base58 character at position 20"),
        (lambda: Signer().key + "O", "invalid base58 character"),
        (lambda: Signer().key + "I", "invalid base58 character"),
        (lambda: Signer().key + "l", "invalid base58 character"),
        (lambda: Signer().key + "é", "invalid base58 character"),
        (lambda: Signer().key + " ", "invalid base58 character"),
        (lambda: Signer().key + "\n", "invalid base58 character"),
        (_short_key, "decodes to 31 bytes"),
        (_long_key, "decodes to 33 bytes"),
        (_leading_zero_long_key, "decodes to 33 bytes"),
        (lambda: "publickeyv1_", "decodes to 0 bytes"),
    ],
)
def test_malformed_key_names_its_index_not_its_text(make_key: Callable[[], str], problem: str) -> None:
    key = make_key()

    with pytest.raises(IdentityKeyError) as raised:
        IdentityVerifier([_good_key(), key, _good_key()])

    message = str(raised.value)
    assert "index 1" in message
    assert problem in message
    assert raised.value.index == 1
    body = key.removeprefix("publickeyv1_").strip()
    assert not body or body not in message
    assert key not in message


def test_first_malformed_key_is_reported() -> None:
    with pytest.raises(IdentityKeyError) as raised:
        IdentityVerifier(["nope", "publickeyv1_0"])

    assert "index 0" in str(raised.value)


def test_a_single_string_of_keys_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="single string"):
        IdentityVerifier(Signer().key)
    with pytest.raises(TypeError, match="single string"):
        IdentityVerifier(Signer().key.encode())  # type: ignore[arg-type]


def test_a_key_that_is_not_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="index 1"):
        IdentityVerifier([Signer().key, Signer().key.encode()])  # type: ignore[list-item]


def test_key_error_survives_pickling() -> None:
    import pickle

    with pytest.raises(IdentityKeyError) as raised:
        IdentityVerifier(["nope"])
    copy = pickle.loads(pickle.dumps(raised.value))

    assert (str(copy), copy.index) == (str(raised.value), 0)


# ---- upstream fixed vectors (sdk-shared-core request_identity.rs) ----

# The upstream `bad_key` test's fixed token: header {typ: JWT, alg: EdDSA, kid: KID_KEY}, claims
# {aud: /invoke/foo, exp: 1721662709, iat: 1721662649, nbf: 1721662589}, signed by the key named KID_KEY.
UPSTREAM_TOKEN = (
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJFZERTQSIsImtpZCI6InB1YmxpY2tleXYxX0FmUXdtd2ZnRVpocldwdnY4TjUyU0hwUnRacUdHYUZyNEFa"
    "TjZxdFlXU2lZIn0.eyJhdWQiOiIvaW52b2tlL2ZvbyIsImV4cCI6MTcyMTY2MjcwOSwiaWF0IjoxNzIxNjYyNjQ5LCJuYmYiOjE3MjE2NjI1"
    "ODl9.UBReG_9cdFQ5VcaJxAV0rM8U_zaNw9kMXJZt691SiI0SWw7Ucmz5Zz3wtmVUc1jrkNsnTDhNEvOFGEZoKXTMCQ"
)
BAD_KEY = "publickeyv1_ChjENKeMvCtRnqG2mrBK1HmPKufgFUc98K8B3ononQvp"
KID_KEY = "publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY"
# The public half of KID_KEY as restatedev/restate's signer tests publish it (SPKI DER, base64).
KID_KEY_SPKI = "MCowBQYDK2VwAyEAj5BTvH+WJo0QGHm2hdLOuk6P7szKgTQxmpnnmZe/DcU="


def test_upstream_token_has_the_claims_the_spec_describes() -> None:
    assert jwt.get_unverified_header(UPSTREAM_TOKEN) == {"typ": "JWT", "alg": "EdDSA", "kid": KID_KEY}
    claims = jwt.decode(UPSTREAM_TOKEN, options={"verify_signature": False})
    assert claims == {"aud": PATH, "exp": 1721662709, "iat": 1721662649, "nbf": 1721662589}


def test_bad_key_rejects_the_upstream_token() -> None:
    verifier = IdentityVerifier([BAD_KEY])

    assert "bad signature" in rejection(verifier, signed(UPSTREAM_TOKEN))


def test_bad_key_is_a_valid_32_byte_key() -> None:
    assert len(identity._base58_decode(BAD_KEY.removeprefix("publickeyv1_"))) == 32
    (parsed,) = IdentityVerifier([BAD_KEY])._keys
    assert len(parsed.public_bytes(Encoding.Raw, PublicFormat.Raw)) == 32


def test_kid_key_decodes_to_the_published_public_key() -> None:
    spki = base64.b64decode(KID_KEY_SPKI)

    assert identity._base58_decode(KID_KEY.removeprefix("publickeyv1_")) == spki[-32:]


def test_kid_key_verifies_the_upstream_token_while_it_was_valid(pin_clock: Callable[[float], None]) -> None:
    # A real server-signed token: the signature check passes under its own key; only time makes it fail.
    verifier = IdentityVerifier([BAD_KEY, KID_KEY])

    pin_clock(1721662649)  # its iat
    verifier.verify(PATH, signed(UPSTREAM_TOKEN))
    pin_clock(1721662709)  # its exp: still valid
    verifier.verify(PATH, signed(UPSTREAM_TOKEN))
    pin_clock(1721662710)
    assert "expired" in rejection(verifier, signed(UPSTREAM_TOKEN))
    pin_clock(time.time())
    assert "expired" in rejection(IdentityVerifier([KID_KEY]), signed(UPSTREAM_TOKEN))


def test_same_claims_signed_by_a_different_key_are_rejected() -> None:
    # The bad_key scenario rebuilt with a fresh key and a live token: only the signature is wrong.
    other = Signer()
    token = jwt.encode(
        {"aud": PATH, "nbf": int(time.time()) - 60, "iat": int(time.time()), "exp": int(time.time()) + 60},
        other.private,
        algorithm="EdDSA",
        headers={"typ": "JWT", "kid": KID_KEY},
    )

    assert "bad signature" in rejection(IdentityVerifier([BAD_KEY]), signed(token))
    IdentityVerifier([BAD_KEY, other.key]).verify(PATH, signed(token))


# ---- base58 ----


@given(st.binary(max_size=64))
def test_base58_decodes_what_the_reference_encoder_encodes(data: bytes) -> None:
    assert identity._base58_decode(b58encode(data)) == data


@given(st.text(alphabet=BASE58_ALPHABET, max_size=60))
def test_base58_text_round_trips(text: str) -> None:
    assert b58encode(identity._base58_decode(text)) == text


@pytest.mark.parametrize(
    ("text", "data"),
    [("", b""), ("1", b"\0"), ("11", b"\0\0"), ("2", b"\x01"), ("z", b"\x39"), ("21", b"\x3a"), ("5Q", b"\xff")],
)
def test_base58_known_values(text: str, data: bytes) -> None:
    assert identity._base58_decode(text) == data


# ---- differential: the Rust core embedded in restate-sdk 0.4.0 (optional) ----


@pytest.mark.differential
def test_same_verdicts_as_the_rust_core(ref040: ModuleType) -> None:
    rust = ref040
    signer, other = Signer(), Signer()
    now = int(time.time())
    claims = json.dumps({"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60}).encode()
    cases: list[tuple[str, list[tuple[str, str]], str]] = [
        ("valid", [(SCHEME, "v1"), (JWT, signer.token())], PATH),
        ("other key", [(SCHEME, "v1"), (JWT, other.token())], PATH),
        ("expired", [(SCHEME, "v1"), (JWT, signer.token(exp=now - 1))], PATH),
        ("exp soon", [(SCHEME, "v1"), (JWT, signer.token(exp=now + 1))], PATH),
        ("immature", [(SCHEME, "v1"), (JWT, signer.token(nbf=now + 5))], PATH),
        ("future iat", [(SCHEME, "v1"), (JWT, signer.token(iat=now + 500))], PATH),
        ("wrong aud", [(SCHEME, "v1"), (JWT, signer.token("/invoke/bar"))], PATH),
        ("prefixed path", [(SCHEME, "v1"), (JWT, signer.token())], "/x" + PATH),
        ("aud array", [(SCHEME, "v1"), (JWT, signer.token(["/a", PATH]))], PATH),
        ("no aud", [(SCHEME, "v1"), (JWT, signer.token(drop="aud"))], PATH),
        ("no exp", [(SCHEME, "v1"), (JWT, signer.token(drop="exp"))], PATH),
        ("no nbf", [(SCHEME, "v1"), (JWT, signer.token(drop="nbf"))], PATH),
        ("no iat", [(SCHEME, "v1"), (JWT, signer.token(drop="iat"))], PATH),
        ("garbage", [(SCHEME, "v1"), (JWT, "garbage")], PATH),
        ("numeric kid", [(SCHEME, "v1"), (JWT, sign_raw(signer.private, {"alg": "EdDSA", "kid": 5}, claims))], PATH),
        ("no typ", [(SCHEME, "v1"), (JWT, sign_raw(signer.private, {"alg": "EdDSA"}, claims))], PATH),
        ("alg none", [(SCHEME, "v1"), (JWT, b64url(b'{"alg":"none"}') + "." + b64url(claims) + ".")], PATH),
        ("truncated", [(SCHEME, "v1"), (JWT, signer.token()[:-4])], PATH),
        ("upstream", [(SCHEME, "v1"), (JWT, UPSTREAM_TOKEN)], PATH),
        ("unsigned", [(SCHEME, "unsigned")], PATH),
        ("unknown scheme", [(SCHEME, "v2")], PATH),
        ("no headers", [], PATH),
        ("no jwt", [(SCHEME, "v1")], PATH),
        ("mixed case", [("X-Restate-Signature-Scheme", "v1"), ("X-Restate-Jwt-V1", signer.token())], PATH),
    ]
    keys = [Signer().key, signer.key]
    ours, theirs = IdentityVerifier(keys), rust.PyIdentityVerifier(keys)
    for label, headers, path in cases:
        try:
            ours.verify(path, headers)
            our_verdict = "ok"
        except IdentityVerificationError:
            our_verdict = "rejected"
        try:
            theirs.verify(headers, path)
            their_verdict = "ok"
        except rust.IdentityVerificationException:
            their_verdict = "rejected"
        assert our_verdict == their_verdict, label
