"""The daemon runner's waiting: as long as frames keep coming, and not for ever once they stop."""

from __future__ import annotations

import threading
import time

from edge_inspect.bench.completions import Completions
from edge_inspect.bench.daemon import _join_while_progressing


def test_given_a_run_that_keeps_acknowledging_when_waited_on_then_it_is_waited_for_to_the_end() -> None:
    done = Completions(warmup=0)

    def steady() -> None:
        for _ in range(12):  # 1.2 s in all, longer than the stall limit, but never 0.5 s without a frame
            time.sleep(0.1)
            done.add(1.0)

    thread = threading.Thread(target=steady)
    thread.start()
    _join_while_progressing(thread, done, stall_s=0.8)
    assert not thread.is_alive()
    assert len(done) == 12


def test_given_a_run_that_stops_acknowledging_when_waited_on_then_the_wait_gives_up() -> None:
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(30.0,), daemon=True)
    thread.start()
    started = time.monotonic()
    _join_while_progressing(thread, Completions(warmup=0), stall_s=0.3)
    assert thread.is_alive()
    assert time.monotonic() - started < 5.0
    release.set()
