"""Polling until a condition holds, for tests that watch another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(condition: Callable[[], object], timeout: float, period: float = 0.05) -> bool:
    """True once ``condition()`` is truthy (checked every ``period`` s); at ``timeout``, its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return bool(condition())


def wait_or_fail(condition: Callable[[], object], timeout: float, what: str) -> None:
    """:func:`wait_until`, failing the test with "timed out waiting for ``what``" at ``timeout``."""
    if not wait_until(condition, timeout):
        pytest.fail(f"timed out waiting for {what}")
