"""Reviewer tokens for the review console: issued once, stored only as salted scrypt hashes.

A token file is JSON, written with mode 0600::

    {"reviewers": {"ana": {"salt": "<hex>", "hash": "<hex>", "n": 16384, "r": 8, "p": 1,
                           "created_at": 1700000000.0}}}

The token itself is shown once, when it is issued (``python -m guardrails review token add
ana --tokens reviewers.json``), and never stored: whoever reads the file learns no token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from guardrails.core.errors import ConfigurationError

__all__ = ["TokenFile"]

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
# A hash to check unknown names against, so that a wrong name costs as long as a wrong token.
_DUMMY_SALT = bytes(16)


def _scrypt(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        token.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024
    )


class TokenFile:
    """The reviewers allowed to sign in to the console, and their hashed tokens.

    The file is read again whenever it changes on disk, so a token added or removed with
    the command line takes effect in a running console without a restart.

    Args:
        path: the JSON file (created by [`add`][guardrails.apps.console.tokens.TokenFile.add]).

    Examples:
        >>> import tempfile, os
        >>> tokens = TokenFile(os.path.join(tempfile.mkdtemp(), "reviewers.json"))
        >>> token = tokens.add("ana")
        >>> tokens.verify("ana", token), tokens.verify("ana", "guess"), tokens.names()
        (True, False, ['ana'])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigurationError(
                f"The 'path' parameter of TokenFile must be a file path. Got {path!r} instead."
            )
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[float, int] | None = None
        self._entries: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"TokenFile({str(self.path)!r})"

    def _load(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._seen, self._entries = None, {}
                return {}
            stamp = (st.st_mtime, st.st_size)
            if stamp != self._seen:
                try:
                    data = json.loads(self.path.read_text(encoding="utf-8"))
                    entries = data["reviewers"]
                    if not isinstance(entries, dict):
                        raise TypeError("'reviewers' is not an object")
                except (ValueError, KeyError, TypeError) as exc:
                    raise ConfigurationError(
                        f"the token file {self.path} is not a reviewer token file: {exc}"
                    ) from exc
                self._seen, self._entries = stamp, entries
            return dict(self._entries)

    def _save(self, entries: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"reviewers": entries}, indent=1, sort_keys=True) + "\n"
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def names(self) -> list[str]:
        """The reviewers who have a token, sorted."""
        return sorted(self._load())

    def add(self, reviewer: str) -> str:
        """Issue a new token for ``reviewer`` (replacing any old one) and return it.

        The token is returned once and only its hash is stored.
        """
        if not isinstance(reviewer, str) or not _NAME.match(reviewer):
            raise ConfigurationError(
                "The 'reviewer' parameter of TokenFile.add must be a name of 1 to 64 letters, "
                f"digits or ._@- (starting with a letter or digit). Got {reviewer!r} instead."
            )
        token = secrets.token_urlsafe(24)
        salt = secrets.token_bytes(16)
        entries = self._load()
        entries[reviewer] = {
            "salt": salt.hex(),
            "hash": _scrypt(token, salt, _N, _R, _P).hex(),
            "n": _N,
            "r": _R,
            "p": _P,
            "created_at": time.time(),
        }
        self._save(entries)
        return token

    def remove(self, reviewer: str) -> bool:
        """Revoke ``reviewer``'s token; False when they had none."""
        entries = self._load()
        if reviewer not in entries:
            return False
        del entries[reviewer]
        self._save(entries)
        return True

    def has(self, reviewer: str) -> bool:
        """True when ``reviewer`` holds a token (a revoked reviewer's session ends)."""
        return reviewer in self._load()

    def verify(self, reviewer: str, token: str) -> bool:
        """True when ``token`` is ``reviewer``'s token (compared in constant time)."""
        entry = self._load().get(reviewer) if isinstance(reviewer, str) else None
        if not isinstance(token, str) or len(token) > 512:
            return False
        if entry is None:
            _scrypt(token, _DUMMY_SALT, _N, _R, _P)  # as slow as a real check
            return False
        try:
            salt = bytes.fromhex(entry["salt"])
            expected = bytes.fromhex(entry["hash"])
            got = _scrypt(token, salt, int(entry["n"]), int(entry["r"]), int(entry["p"]))
        except (KeyError, ValueError, TypeError):
            return False
        return hmac.compare_digest(got, expected)
