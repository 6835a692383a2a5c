"""CPU, RSS and load readings from the kernel, and the RSS sampler of the long run."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from edge_inspect.bench.resources import (
    NATIVE_THREADS,
    ResourceSample,
    RssSampler,
    machine,
    process_cpu_s,
    rss_mb,
    sample,
    thread_cpu_s,
    thread_label,
    usage,
)


def test_given_a_proc_status_file_when_read_then_vmrss_is_in_mib(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Name:\tpython\nVmHWM:\t  300000 kB\nVmRSS:\t  204800 kB\nThreads:\t9\n", encoding="ascii"
    )
    assert rss_mb(status) == pytest.approx(200.0)


def test_given_no_proc_file_when_read_then_the_peak_from_getrusage_stands_in(tmp_path: Path) -> None:
    assert rss_mb(tmp_path / "missing") > 1.0


def test_given_two_samples_when_compared_then_cpu_is_percent_of_one_core() -> None:
    start = ResourceSample(at=10.0, cpu_s=5.0, rss_mb=100.0, load1=0.5)
    end = ResourceSample(at=12.0, cpu_s=8.0, rss_mb=110.0, load1=0.7)
    cost = usage(start, end)
    assert cost.cpu_pct == pytest.approx(150.0)  # 3 CPU-seconds in 2 s: one and a half cores
    assert (cost.rss_start_mb, cost.rss_end_mb, cost.load1) == (100.0, 110.0, 0.7)


def test_given_this_process_burning_cpu_when_sampled_then_its_cpu_time_grows() -> None:
    before = sample()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = sample()
    # the sample reads CPU time in 10 ms clock ticks: allow one tick of rounding at each end
    assert after.cpu_s - before.cpu_s >= 0.2 - 0.02 - 1e-9
    assert after.rss_mb > 0


def test_another_process_cpu_time_reads_like_our_own() -> None:
    own = process_cpu_s(os.getpid())
    assert own is not None
    assert own == pytest.approx(sum(os.times()[:2]), abs=0.05)
    assert process_cpu_s(2**22 + 12345) is None  # no such process


def test_machine_reports_the_cores_this_process_may_use() -> None:
    info = machine()
    assert info["cores"] == len(os.sched_getaffinity(0))


def test_given_a_sampler_when_run_briefly_then_it_keeps_timed_samples() -> None:
    values = iter(range(1000))
    sampler = RssSampler(0.01, read=lambda: float(next(values))).start()
    time.sleep(0.1)
    sampler.stop()
    times, mb = sampler.samples()
    assert len(times) >= 3
    assert mb == sorted(mb)
    later_times, _ = sampler.samples(since=times[2])
    assert later_times == times[2:]
    with pytest.raises(ValueError, match="interval"):
        RssSampler(0.0)


def test_a_busy_python_thread_is_reported_under_its_name_while_it_runs() -> None:
    # given a named thread that burns 0.2 s of its own CPU time, then waits to be read
    burnt, release = threading.Event(), threading.Event()

    def burn() -> None:
        deadline = time.thread_time() + 0.2
        while time.thread_time() < deadline:
            pass
        burnt.set()
        release.wait(5.0)

    worker = threading.Thread(target=burn, name="stage-burn")
    worker.start()
    try:
        assert burnt.wait(10.0)
        spent = thread_cpu_s()
    finally:
        release.set()
        worker.join()
    # then its CPU time is found under its name (10 ms clock ticks: allow one at each end)
    assert spent["stage-burn"] >= 0.2 - 0.02 - 1e-9
    assert "MainThread" in spent
    # and a folder that cannot be listed gives no figures rather than an error
    assert thread_cpu_s(Path("/nonexistent/task")) == {}


def test_threads_are_labelled_by_python_name_paho_without_its_client_id_and_the_rest_as_native() -> None:
    assert thread_label("stage-decide") == "stage-decide"
    assert thread_label("paho-mqtt-client-station-7-3f2a") == "paho-mqtt-client"
    assert thread_label(None) == NATIVE_THREADS


def test_per_thread_cpu_over_a_span_counts_threads_born_inside_it_from_zero() -> None:
    start = ResourceSample(10.0, 5.0, 100.0, 0.5, threads={"stage-decide": 1.0, NATIVE_THREADS: 4.0})
    later = {"stage-decide": 1.5, NATIVE_THREADS: 6.0, "new": 0.3}
    end = ResourceSample(12.0, 8.0, 100.0, 0.5, threads=later)
    cost = usage(start, end)
    assert cost.thread_cpu_s == pytest.approx({"stage-decide": 0.5, NATIVE_THREADS: 2.0, "new": 0.3})
