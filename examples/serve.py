"""Serve the example services with hypercorn (HTTP/1.1 and h2c on one port).

python -m examples.serve --port 9080 [--max-protocol 6] [--identity-key publickeyv1_...]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from typing import Any

from hypercorn.asyncio import serve
from hypercorn.config import Config

from ._hypercorn import tolerate_late_http2_data
from .sdk import Endpoint
from .services import ALL


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9080)
    parser.add_argument("--max-protocol", type=int, default=6, choices=(5, 6))
    parser.add_argument("--identity-key", action="append", default=[], help="request signing key (repeatable)")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(level=args.log_level)
    tolerate_late_http2_data()
    config = Config()
    config.bind = [f"{args.host}:{args.port}"]
    config.keep_alive_timeout = 600
    # Every in-flight invocation is one HTTP/2 stream; the server may hold many open at once.
    config.h2_max_concurrent_streams = 10_000
    app = Endpoint(*ALL, identity_keys=args.identity_key, max_protocol_version=args.max_protocol)
    log_path = os.environ.get("EXAMPLE_INVOCATION_LOG")
    asyncio.run(serve(_logging(app, log_path) if log_path else app, config))  # type: ignore[arg-type]


def _logging(app: Endpoint, path: str) -> Any:
    """Wrap ``app`` to append one line per invocation: path, protocol content type, HTTP version."""

    async def logged(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and "/invoke/" in scope["path"]:
            content_type = next((v.decode() for k, v in scope["headers"] if k.lower() == b"content-type"), "-")
            with open(path, "a") as log:
                log.write(f"{scope['path']} {content_type} HTTP/{scope['http_version']}\n")
        await app(scope, receive, send)

    return logged


if __name__ == "__main__":
    main()
