"""Request identity end to end: the server signs every request, the endpoint verifies it.

The server is given an Ed25519 private key (``request-identity-private-key-pem-file``);
the example endpoint is configured with the matching ``publickeyv1_...`` key, or
with another one, which must make it refuse discovery and invocations (401).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .harness import ADMIN, NetworkNamespace, StackConfig, http, running_stack

pytestmark = pytest.mark.e2e

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _public_key(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    number, text = int.from_bytes(raw, "big"), ""
    while number:
        number, digit = divmod(number, 58)
        text = _ALPHABET[digit] + text
    return "publickeyv1_" + "1" * (len(raw) - len(raw.lstrip(b"\0"))) + text


def _signing_server(workdir: Path, key: Ed25519PrivateKey) -> str:
    pem = workdir / "identity.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return f'request-identity-private-key-pem-file = "{pem}"\n'


def test_signed_requests_are_accepted(netns: NetworkNamespace, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    options = {"server_config": _signing_server(tmp_path, key), "endpoint_args": ("--identity-key", _public_key(key))}
    with running_stack(netns, StackConfig("h2", 6), tmp_path, **options) as stack:
        response = stack.ingress("Greeter/greet", "Signed")
        assert response.status == 200, response
        assert response.json() == "Hello Signed, visit number 1"


def test_requests_signed_with_another_key_are_refused(netns: NetworkNamespace, tmp_path: Path) -> None:
    options = {
        "server_config": _signing_server(tmp_path, Ed25519PrivateKey.generate()),
        "endpoint_args": ("--identity-key", _public_key(Ed25519PrivateKey.generate())),
    }
    with running_stack(netns, StackConfig("h2", 6), tmp_path, register=False, **options) as stack:
        body = {"uri": f"http://127.0.0.1:{stack.endpoint_port}", "force": True}
        response = netns.call(http, "POST", f"{ADMIN}/deployments", body)
        assert response.status >= 400, response
        assert b"401" in response.body, response.body
        assert "bad signature" in (stack.workdir / "endpoint.log").read_text()
