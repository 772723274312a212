"""The pytest plugin's fixtures: ``captured_events`` collects structlog events of a test."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

import pytest

__all__ = [
    "captured_events",
]


@pytest.fixture
def captured_events() -> Iterator[list[MutableMapping[str, Any]]]:
    """Every structlog event emitted during the test, as a list of dicts.

    Uses ``structlog.testing.capture_logs``: events are captured instead of rendered,
    with their ``event`` name and ``log_level`` keys.
    """
    from structlog.testing import capture_logs

    with capture_logs() as events:
        yield events
