"""Polling until a condition holds, for tests that watch another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float, period: float = 0.05) -> bool:
    """True once ``condition()`` is truthy (checked every ``period`` s); at ``timeout``, its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(period)
    return bool(condition())
