"""Benchmark: one ``IdentityVerifier.verify`` of a valid, server-style signed request.

Run from the project root::

    python bench/identity.py [--repeat 7] [--number 2000]

Prints the median over ``--repeat`` timeit runs, in microseconds per
verification, for restate_core and, when its extension is at hand, for the
Rust core embedded in restate-sdk 0.4.0 (``PyIdentityVerifier``). The Rust
extension is looked up in the environment variable ``RESTATE_REF_V040_SO``,
then in ``.cache/refcores/v0.4.0/`` (``_internal*.so`` or
``restate/_internal*.so``), which ``python tools/refcores.py`` fills; it is
skipped with a message when absent. This script downloads nothing.

The token matches what the Restate server sends: header ``{typ: JWT, alg:
EdDSA, kid: publickeyv1_...}``, claims ``{aud: path, nbf: now-60, iat: now,
exp: now+60}``. Both verifiers get the same token, headers and path.
"""

from __future__ import annotations

import argparse
import glob
import importlib.machinery
import importlib.util
import os
import statistics
import sys
import time
import timeit
from pathlib import Path
from types import ModuleType

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from restate_core import IdentityVerifier  # noqa: E402

PATH = "/invoke/Greeter/greet"
TARGET_US = 300.0
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, digit = divmod(number, 58)
        digits.append(_ALPHABET[digit])
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + "".join(reversed(digits))


def server_request() -> tuple[str, list[tuple[str, str]]]:
    """A fresh key (as ``publickeyv1_...``) and the headers of a request the server signed with it."""
    private = Ed25519PrivateKey.generate()
    key = "publickeyv1_" + b58encode(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    now = int(time.time())
    claims = {"aud": PATH, "nbf": now - 60, "iat": now, "exp": now + 60}
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"typ": "JWT", "kid": key})
    headers = [
        ("content-type", "application/vnd.restate.invocation.v2"),
        ("x-restate-signature-scheme", "v1"),
        ("x-restate-jwt-v1", token),
    ]
    return key, headers


def rust_core() -> tuple[ModuleType | None, str]:
    """The restate-sdk 0.4.0 extension module, or ``None`` and why not."""
    path = os.environ.get("RESTATE_REF_V040_SO")
    if not path:
        directory = ROOT / ".cache" / "refcores" / "v0.4.0"
        found = sorted(
            glob.glob(str(directory / "_internal*.so")) + glob.glob(str(directory / "restate" / "_internal*.so"))
        )
        if not found:
            return None, f"no _internal*.so under {directory} and RESTATE_REF_V040_SO is not set"
        path = found[0]
    if not os.path.exists(path):
        return None, f"{path} does not exist"
    name = "ref_restate_040._internal"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        return None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(module)
    except ImportError as error:
        return None, f"cannot load {path}: {error}"
    return module, path


def median_us(call: object, repeat: int, number: int) -> float:
    timer = timeit.Timer(call)  # type: ignore[arg-type]
    timer.timeit(max(1, number // 10))  # warm up
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="timeit repeats (the median is reported)")
    parser.add_argument("--number", type=int, default=2000, help="verifications per repeat")
    args = parser.parse_args()

    key, headers = server_request()
    ours = IdentityVerifier([key])
    ours.verify(PATH, headers)  # fails loudly if the set-up is wrong

    print(f"python {sys.version.split()[0]}, PyJWT {jwt.__version__}; median of {args.repeat} x {args.number}")
    ours_us = median_us(lambda: ours.verify(PATH, headers), args.repeat, args.number)
    verdict = "OK" if ours_us < TARGET_US else "OVER TARGET"
    target = f"{verdict}: target < {TARGET_US:.0f} us"
    print(f"restate_core IdentityVerifier.verify:   {ours_us:8.1f} us/verification  ({target})")

    second_key, _ = server_request()
    two_keys = IdentityVerifier([second_key, key])  # the signing key second; the kid header points at it
    two_us = median_us(lambda: two_keys.verify(PATH, headers), args.repeat, args.number)
    print(f"  same, signing key second of two:      {two_us:8.1f} us/verification")

    rust, where = rust_core()
    if rust is None:
        print(f"Rust core (restate-sdk 0.4.0): skipped, {where}")
        return 0
    theirs = rust.PyIdentityVerifier([key])
    theirs.verify(headers, PATH)
    rust_us = median_us(lambda: theirs.verify(headers, PATH), args.repeat, args.number)
    print(f"Rust PyIdentityVerifier.verify (0.4.0): {rust_us:8.1f} us/verification  ({where})")
    print(f"ratio restate_core / Rust: {ours_us / rust_us:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
