"""Running the review console: open the queue and the token file, bind, say where.

It binds to 127.0.0.1 unless told otherwise and prints what it bound to; on any other
address it warns that the console speaks plain HTTP, so it belongs behind a TLS proxy.
"""

from __future__ import annotations

import sys
from typing import TextIO

from guardrails.apps.console.app import create_app
from guardrails.apps.console.tokens import TokenFile
from guardrails.core.errors import ConfigurationError
from guardrails.review.backends import open_queue

__all__ = ["LOOPBACK", "bind_notice", "serve"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def bind_notice(host: str, port: int) -> str:
    """What the console says about the address it binds to."""
    shown = f"[{host}]" if ":" in host else host
    text = f"review console on http://{shown}:{port}/ "
    if host in LOOPBACK:
        return text + f"(bound to {host}: reachable from this machine only)"
    return text + (
        f"(bound to {host}: reachable from other machines; it speaks plain HTTP, so put it "
        "behind a TLS proxy)"
    )


def serve(
    queue_url: str,
    tokens_path: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8787,
    lease: float = 600.0,
    out: TextIO | None = None,
) -> None:
    """Serve the console over the queue at ``queue_url`` until interrupted.

    Raises:
        ConfigurationError: no reviewer has a token in ``tokens_path``.
        ImportError: the ``serve`` extra is not installed.
    """
    # uvicorn belongs to the optional 'serve' extra: imported only when serving.
    import uvicorn

    out = sys.stdout if out is None else out
    tokens = TokenFile(tokens_path)
    if not tokens.names():
        raise ConfigurationError(
            f"no reviewer has a token in {tokens_path}: issue one with "
            f"`python -m guardrails review token add NAME --tokens {tokens_path}`."
        )
    queue = open_queue(queue_url)
    try:
        app = create_app(queue, tokens, lease=lease)
        out.write(bind_notice(host, port) + "\n")
        out.write(f"queue {queue_url.split('@')[-1]}; reviewers: {', '.join(tokens.names())}\n")
        out.flush()
        uvicorn.run(app, host=host, port=port, log_level="warning")
    finally:
        queue.close()
