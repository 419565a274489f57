"""The Rust reference cores, taken from the sdk-python wheels on PyPI (dev only).

The differential tests and the benchmarks compare ``restate_core`` with the
Rust core the official Python SDK embeds. We never depend on it at runtime:
this module downloads a ``restate-sdk`` wheel with pip, extracts only its
compiled extension ``restate/_internal*.so`` into a cache directory, and loads
that file under a private module name, so several versions can live in one
process.

=============  ===================================  ==========================
restate-sdk    embedded Rust core                   protocol versions
=============  ===================================  ==========================
0.4.0          sdk-shared-core 0.1.0                V2 (old ``PyVM`` API)
1.2.0          sdk-shared-core 8.2.0                V5-V7 (``do_progress`` API)
=============  ===================================  ==========================

Wheels exist for CPython 3.11 and 3.12 on Linux x86_64 only; elsewhere
``ensure`` returns ``None`` and says why.

Usage::

    import refcores                  # with tools/ on sys.path (see tests/differential/conftest.py)
    path = refcores.ensure("0.4.0")  # Path of the .so, or None
    module = refcores.load("0.4.0")  # the loaded module (refcore_v0_4_0._internal), or None

Cache: ``<repo>/.cache/refcores/vX.Y.Z/`` (git-ignored), or the directory in
the environment variable ``RESTATE_REFCORES_DIR`` (``<dir>/vX.Y.Z/``).

Run ``python tools/refcores.py`` to fetch both (exit status 1 if one failed).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from types import ModuleType

__all__ = ["REASONS", "VERSIONS", "cache_dir", "ensure", "load"]

#: The restate-sdk versions whose cores the tests use.
VERSIONS = ("0.4.0", "1.2.0")

#: CPython versions with published wheels (Linux x86_64).
_PYTHONS = ((3, 11), (3, 12))

ROOT = Path(__file__).resolve().parent.parent

_loaded: dict[str, ModuleType] = {}

#: Why ``ensure``/``load`` returned ``None`` for a version (the last reason).
REASONS: dict[str, str] = {}


def _unavailable(version: str, reason: str) -> None:
    REASONS[version] = reason
    print(f"refcores: restate-sdk=={version}: {reason}", file=sys.stderr)


def cache_dir(version: str) -> Path:
    """Where the extension of ``restate-sdk==version`` is kept."""
    base = os.environ.get("RESTATE_REFCORES_DIR")
    root = Path(base) if base else ROOT / ".cache" / "refcores"
    return root / f"v{version}"


def _unsupported_reason() -> str | None:
    if sys.implementation.name != "cpython":
        return f"no restate-sdk wheel for {sys.implementation.name} (CPython only)"
    if sys.version_info[:2] not in _PYTHONS:
        have = ", ".join(f"{a}.{b}" for a, b in _PYTHONS)
        return f"no restate-sdk wheel for Python {sys.version_info[0]}.{sys.version_info[1]} (only {have})"
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        return f"no restate-sdk wheel for {sys.platform}/{platform.machine()} (Linux x86_64 only)"
    return None


def _find_cached(directory: Path) -> Path | None:
    tag = f"cpython-{sys.version_info[0]}{sys.version_info[1]}"
    if directory.is_dir():
        for candidate in sorted(directory.glob("_internal*.so")):
            if tag in candidate.name or "abi3" in candidate.name:
                return candidate
    return None


def ensure(version: str) -> Path | None:
    """The path of the extension of ``restate-sdk==version``, downloading it if needed.

    Returns ``None`` (after printing the reason) when this platform or Python
    has no wheel, or when pip cannot get it.
    """
    directory = cache_dir(version)
    cached = _find_cached(directory)
    if cached is not None:
        return cached
    reason = _unsupported_reason()
    if reason is not None:
        _unavailable(version, reason)
        return None
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="refcores-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--quiet",
            # Offline, fail soon rather than retry for minutes.
            "--retries=1",
            "--timeout=20",
            f"restate-sdk=={version}",
            "-d",
            tmp,
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            _unavailable(version, f"pip download failed: {error}")
            return None
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            last = detail[-1] if detail else f"exit status {done.returncode}"
            _unavailable(version, f"pip download failed: {last}")
            return None
        wheels = sorted(Path(tmp).glob("restate_sdk-*.whl"))
        if not wheels:
            _unavailable(version, "pip downloaded no wheel")
            return None
        with zipfile.ZipFile(wheels[0]) as wheel:
            members = [
                name for name in wheel.namelist() if name.startswith("restate/_internal") and name.endswith(".so")
            ]
            if not members:
                _unavailable(version, f"{wheels[0].name} has no restate/_internal*.so")
                return None
            target = directory / Path(members[0]).name
            partial = target.with_suffix(".so.part")
            with wheel.open(members[0]) as source, open(partial, "wb") as sink:
                sink.write(source.read())
            partial.replace(target)  # atomic: concurrent runs never see half a file
    return target


def load(version: str) -> ModuleType | None:
    """The reference core of ``restate-sdk==version`` as a module (``None`` if unavailable).

    It is registered as ``refcore_vX_Y_Z._internal``; loading it twice returns
    the same module.
    """
    if version in _loaded:
        return _loaded[version]
    path = ensure(version)
    if path is None:
        return None
    name = f"refcore_v{version.replace('.', '_')}._internal"
    loader = importlib.machinery.ExtensionFileLoader(name, str(path))
    spec = importlib.util.spec_from_file_location(name, str(path), loader=loader)
    if spec is None:
        _unavailable(version, f"cannot make a module spec for {path}")
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(module)
    except ImportError as error:
        _unavailable(version, f"cannot load {path}: {error}")
        return None
    sys.modules[name] = module
    _loaded[version] = module
    return module


def main() -> int:
    failed = 0
    for version in VERSIONS:
        path = ensure(version)
        if path is None:
            failed += 1
        else:
            print(f"restate-sdk=={version}: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
