"""runtime.scheduling: the policy each per-frame thread gives itself, on the real kernel."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from edge_inspect.runtime import sched
from edge_inspect.runtime.sched import apply_to_current_thread, thread_init
from edge_inspect.types import ThreadPolicy

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policies")


def policy_seen_by_a_thread(body: Callable[[], object]) -> tuple[object, int]:
    """Run ``body`` on a fresh thread; its return value and that thread's policy afterwards."""
    seen: dict[str, object] = {}

    def run() -> None:
        seen["returned"] = body()
        seen["policy"] = os.sched_getscheduler(threading.get_native_id())

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    policy = seen["policy"]
    assert isinstance(policy, int)
    return seen["returned"], policy


def test_given_batch_when_a_thread_applies_it_then_that_thread_alone_runs_sched_batch() -> None:
    before = os.sched_getscheduler(threading.get_native_id())

    returned, policy = policy_seen_by_a_thread(thread_init("batch"))

    assert returned is True
    assert policy == os.SCHED_BATCH
    assert os.sched_getscheduler(threading.get_native_id()) == before  # the caller keeps its own


def test_given_default_when_applied_then_the_thread_keeps_the_policy_it_inherited() -> None:
    returned, policy = policy_seen_by_a_thread(thread_init("default"))

    assert returned is True
    assert policy == os.sched_getscheduler(threading.get_native_id())


def test_given_an_os_that_refuses_when_applied_then_false_and_one_warning_for_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a kernel or sandbox that refuses the call cannot be arranged here without privileges
    def refuse(_pid: int, _policy: int, _param: os.sched_param) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    monkeypatch.setattr(sched, "_warned", threading.Lock())
    policy: ThreadPolicy = "batch"
    with capture_logs() as logs:
        assert apply_to_current_thread(policy) is False
        assert apply_to_current_thread(policy) is False

    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert warnings[0]["policy"] == "batch"
    assert "not permitted" in warnings[0]["reason"]


def test_given_an_os_without_sched_batch_when_applied_then_false_and_the_warning_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "SCHED_BATCH")  # as on macOS or Windows
    monkeypatch.setattr(sched, "_warned", threading.Lock())
    with capture_logs() as logs:
        assert apply_to_current_thread("batch") is False
        assert apply_to_current_thread("default") is True  # nothing asked, nothing to refuse

    assert [e["reason"] for e in logs if e["log_level"] == "warning"] == ["this OS has no SCHED_BATCH"]
