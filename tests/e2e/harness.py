"""Run a real Restate server and the example endpoint in a private network namespace.

Everything the end-to-end tests start lives in one network namespace that has
only a loopback interface: the server (its release check cannot leave the
machine), the example endpoint, and the test's HTTP clients. The namespace is
held open by a ``sleep`` process; servers are started in it with ``nsenter``,
and clients run on worker threads that joined it with ``setns(2)`` (a
namespace switch applies to the calling thread only).

The server binary comes from the npm package ``@restatedev/restate-server-linux-x64``,
installed on first use into a cache directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

RESTATE_VERSION = "1.7.12"
ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get(
        "RESTATE_SERVER_CACHE", Path.home() / ".cache" / "restate-core" / f"restate-server-{RESTATE_VERSION}"
    )
)
PACKAGE = "@restatedev/restate-server-linux-x64"
BINARY = CACHE / "node_modules" / PACKAGE / "bin" / "restate-server"

ADMIN = "http://127.0.0.1:9070"
INGRESS = "http://127.0.0.1:8080"
CLONE_NEWNET = 0x40000000


class Unavailable(Exception):
    """A prerequisite of the end-to-end tests is missing (the tests skip with this reason)."""


def restate_server_binary() -> Path:
    """The server binary, installed from npm into the cache on first use."""
    if BINARY.exists():
        return BINARY
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable("npm is not installed, so the Restate server cannot be installed")
    CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(CACHE), f"{PACKAGE}@{RESTATE_VERSION}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0 or not BINARY.exists():
        raise Unavailable(f"npm install {PACKAGE}@{RESTATE_VERSION} failed: {result.stderr[-2000:]}")
    return BINARY


class NetworkNamespace:
    """A network namespace with only loopback, held open by a ``sleep`` process."""

    def __init__(self, client_threads: int = 32) -> None:
        for tool in ("unshare", "nsenter", "ip"):
            if shutil.which(tool) is None:
                raise Unavailable(f"'{tool}' is not installed")
        self._holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"], stderr=subprocess.PIPE)
        time.sleep(0.05)
        if self._holder.poll() is not None:
            error = self._holder.stderr.read().decode() if self._holder.stderr else ""
            raise Unavailable(f"cannot create a network namespace (unshare -n): {error.strip()}")
        self.pid = self._holder.pid
        self.run(["ip", "link", "set", "lo", "up"])
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._clients = ThreadPoolExecutor(client_threads, "netns-client", initializer=self._enter)

    def _enter(self) -> None:
        fd = os.open(f"/proc/{self.pid}/ns/net", os.O_RDONLY)
        try:
            if self._libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
        finally:
            os.close(fd)

    def command(self, args: list[str]) -> list[str]:
        """``args`` prefixed to run inside the namespace."""
        return ["nsenter", "-t", str(self.pid), "-n", *args]

    def run(self, args: list[str]) -> None:
        subprocess.run(self.command(args), check=True, capture_output=True)

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(args), **kwargs)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on a client thread inside the namespace."""
        return self._clients.submit(fn, *args).result()

    def run_async(self, coroutine: Callable[[], Awaitable[T]]) -> T:
        """Run an asyncio program on a client thread inside the namespace."""
        return self._clients.submit(lambda: asyncio.run(coroutine())).result()  # type: ignore[arg-type]

    def close(self) -> None:
        self._clients.shutdown(wait=False, cancel_futures=True)
        self._holder.kill()
        self._holder.wait()


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    """Stop a process we started, by its PID."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ---- HTTP from inside the namespace ----


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 60
) -> Response:
    """A blocking HTTP request (call it through ``NetworkNamespace.call``)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


# ---- the stack: server + example endpoint ----


@dataclass
class StackConfig:
    http_version: str  # "h2" or "http1.1"
    max_protocol: int  # what the endpoint advertises

    @property
    def id(self) -> str:
        return f"{self.http_version}-v{self.max_protocol}"


class Stack:
    """A Restate server and the example endpoint, registered, in one namespace."""

    def __init__(
        self,
        ns: NetworkNamespace,
        config: StackConfig,
        workdir: Path,
        endpoint_port: int = 9080,
        server_config: str = "",
        endpoint_args: tuple[str, ...] = (),
        endpoint_module: str = "examples.serve",
        endpoint_env: dict[str, str] | None = None,
        endpoint_python: str = sys.executable,
    ) -> None:
        self.ns = ns
        self.config = config
        self.workdir = workdir
        self.endpoint_port = endpoint_port
        self.server_config = server_config  # TOML for the server, if any
        self.endpoint_args = endpoint_args
        self.endpoint_module = endpoint_module  # run with python -m; takes examples.serve's arguments
        self.endpoint_env = endpoint_env or {}
        self.endpoint_python = endpoint_python
        self.run_log = workdir / "runs.log"
        self.invocation_log = workdir / "invocations.log"
        self.server: subprocess.Popen[bytes] | None = None
        self.endpoint: subprocess.Popen[bytes] | None = None

    # server

    def start_server(self) -> None:
        binary = restate_server_binary()
        env = {**os.environ, "DO_NOT_TRACK": "1", "RESTATE_DISABLE_TELEMETRY": "true"}
        if self.server_config:
            config_file = self.workdir / "restate.toml"
            config_file.write_text(self.server_config)
            env["RESTATE_CONFIG"] = str(config_file)
        log = open(self.workdir / "server.log", "wb")  # noqa: SIM115 - closed with the process
        self.server = self.ns.popen(
            [
                str(binary),
                "--no-logo",
                "--base-dir",
                str(self.workdir / "restate-data"),
                "--node-name",
                "n1",
                "--bind-ip",
                "127.0.0.1",
                "--listen-mode",
                "tcp",
                "--default-num-partitions",
                "4",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self._wait(
            "the Restate server",
            lambda: self.query("SELECT count(*) AS n FROM sys_invocation") is not None,
            self.server,
        )

    # endpoint

    def start_endpoint(self) -> None:
        env = {
            **os.environ,
            "EXAMPLE_RUN_LOG": str(self.run_log),
            "EXAMPLE_INVOCATION_LOG": str(self.invocation_log),
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]),
            **self.endpoint_env,
        }
        log = open(self.workdir / "endpoint.log", "ab")  # noqa: SIM115 - closed with the process
        self.endpoint = self.ns.popen(
            [
                self.endpoint_python,
                "-m",
                self.endpoint_module,
                "--port",
                str(self.endpoint_port),
                "--max-protocol",
                str(self.config.max_protocol),
                "--log-level",
                "INFO",
                *self.endpoint_args,
            ],
            env=env,
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        health = f"http://127.0.0.1:{self.endpoint_port}/health"
        self._wait("the example endpoint", lambda: self._get_ok(health), self.endpoint)

    def kill_endpoint(self) -> None:
        stop(self.endpoint, signal.SIGKILL)

    def register(self) -> dict[str, Any]:
        body: dict[str, Any] = {"uri": f"http://127.0.0.1:{self.endpoint_port}", "force": True}
        if self.config.http_version == "http1.1":
            body["use_http_11"] = True
        response = self.ns.call(http, "POST", f"{ADMIN}/deployments", body)
        if response.status not in (200, 201):
            raise AssertionError(f"registration failed: {response.status} {response.body.decode()}")
        return response.json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        stop(self.endpoint)
        stop(self.server)

    # helpers

    def ingress(self, path: str, body: Any = None, method: str = "POST", timeout: float = 60) -> Response:
        return self.ns.call(http, method, f"{INGRESS}/{path.lstrip('/')}", body, None, timeout)

    def admin(self, method: str, path: str, body: Any = None) -> Response:
        return self.ns.call(http, method, f"{ADMIN}/{path.lstrip('/')}", body, None, 10)

    def query(self, sql: str) -> list[dict[str, Any]] | None:
        """Rows of an admin SQL query, or None if the server cannot answer yet."""
        response = self.ns.call(http, "POST", f"{ADMIN}/query", {"query": sql}, {"accept": "application/json"}, 10)
        if response.status != 200:
            return None
        return response.json()["rows"]  # type: ignore[no-any-return]

    def journal(self, invocation_id: str) -> list[dict[str, Any]]:
        rows = self.query(
            "SELECT index, entry_type, name, completed, entry_json FROM sys_journal "
            f"WHERE id = '{invocation_id}' ORDER BY index"
        )
        assert rows is not None
        return rows

    def _get_ok(self, url: str) -> bool:
        with contextlib.suppress(OSError):
            return self.ns.call(http, "GET", url, None, None, 2).status == 200
        return False

    def _wait(
        self, what: str, ready: Callable[[], bool], process: subprocess.Popen[bytes] | None, timeout: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"{what} exited with {process.returncode} (see the logs in {self.workdir})")
            with contextlib.suppress(OSError):
                if ready():
                    return
            time.sleep(0.1)
        raise AssertionError(f"{what} did not become ready within {timeout}s (see {self.workdir})")


@contextlib.contextmanager
def running_stack(
    ns: NetworkNamespace, config: StackConfig, workdir: Path, *, register: bool = True, **options: Any
) -> Iterator[Stack]:
    stack = Stack(ns, config, workdir, **options)
    try:
        stack.start_server()
        stack.start_endpoint()
        if register:
            stack.register()
        yield stack
    finally:
        stack.stop()
