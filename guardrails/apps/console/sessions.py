"""Signed session cookies and CSRF tokens of the review console (stdlib HMAC, no state).

A session cookie names the reviewer, when it expires and a random nonce, signed with the
console's key; the CSRF token of a session is an HMAC of its nonce, so a page served to
that session carries it and a forged form from another site cannot. Before sign-in, a
random pre-session cookie plays the nonce's part for the sign-in form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from guardrails.core.errors import ConfigurationError

__all__ = ["Session", "Signer"]

SESSION_COOKIE = "gr_session"
PRE_COOKIE = "gr_pre"


@dataclass(frozen=True)
class Session:
    """A signed-in reviewer: who, until when, and the CSRF token their forms carry."""

    reviewer: str
    expires: float
    csrf: str


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")


class Signer:
    """Issues and checks session cookies and CSRF tokens with one secret key.

    Args:
        key: the secret (at least 32 bytes); None draws a random one, so sessions end
            when the console restarts. Give the same key to every replica behind one
            address so that a session works on all of them.
        max_age: seconds a session lasts.
    """

    def __init__(self, key: bytes | None = None, *, max_age: float = 8 * 3600.0) -> None:
        if key is None:
            key = secrets.token_bytes(32)
        if not isinstance(key, bytes) or len(key) < 32:
            raise ConfigurationError(
                "The 'key' parameter of Signer must be bytes of length 32 or more. "
                f"Got {type(key).__name__} instead."
            )
        if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age <= 0:
            raise ConfigurationError(
                "The 'max_age' parameter of Signer must be a positive number of seconds. "
                f"Got {max_age!r} instead."
            )
        self._key = key
        self.max_age = float(max_age)

    def __repr__(self) -> str:
        return f"Signer(max_age={self.max_age})"

    def _mac(self, purpose: str, text: str) -> str:
        msg = f"{purpose}|{text}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def issue(self, reviewer: str, now: float | None = None) -> str:
        """A fresh session cookie value for ``reviewer``."""
        expires = int((time.time() if now is None else now) + self.max_age)
        body = f"{_b64(reviewer)}.{expires}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._mac('session', body)}"

    def session(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session a cookie value proves, or None (absent, forged or expired)."""
        if not cookie or len(cookie) > 1024:
            return None
        parts = cookie.split(".")
        if len(parts) != 4:
            return None
        body = ".".join(parts[:3])
        if not hmac.compare_digest(parts[3], self._mac("session", body)):
            return None
        try:
            reviewer = _unb64(parts[0])
            expires = float(parts[1])
        except ValueError:
            return None
        if expires <= (time.time() if now is None else now):
            return None
        return Session(reviewer, expires, self._mac("csrf", parts[2]))

    def pre_csrf(self, nonce: str) -> str:
        """The CSRF token of the sign-in form for a pre-session nonce."""
        return self._mac("signin", nonce)

    @staticmethod
    def same(given: str | None, expected: str) -> bool:
        """True when a submitted CSRF token matches (constant-time)."""
        return isinstance(given, str) and hmac.compare_digest(given, expected)
