"""Liveness and readiness rules, and the probe that samples the runtime's Stats."""

from __future__ import annotations

from edge_inspect.metrics.health import BacklogLimits, HealthProbe, HealthSample, liveness, readiness
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import Verdict

LIMITS = BacklogLimits(max_backlog=10, max_age_s=60.0)


def sample(**changes: object) -> HealthSample:
    base: dict[str, object] = {
        "frames_done": 5,
        "broker_connected": True,
        "backlog": 0,
        "backlog_age_s": None,
        "crashed_stages": (),
        "stopping": False,
    }
    base.update(changes)
    return HealthSample(**base)  # type: ignore[arg-type]


def failing(report_checks: object) -> list[str]:
    return [c.name for c in report_checks if not c.ok]  # type: ignore[attr-defined]


def test_a_running_connected_station_is_alive_and_ready() -> None:
    assert liveness(sample()).ok
    assert readiness(sample(), LIMITS).ok


def test_not_ready_before_the_first_frame() -> None:
    report = readiness(sample(frames_done=0), LIMITS)
    assert not report.ok
    assert failing(report.checks) == ["first_frame"]


def test_a_crashed_stage_is_neither_alive_nor_ready() -> None:
    s = sample(crashed_stages=("infer",))
    assert not liveness(s).ok
    assert "infer" in liveness(s).checks[0].detail
    assert not readiness(s, LIMITS).ok


def test_broker_away_but_queueing_within_limits_is_ready() -> None:
    report = readiness(sample(broker_connected=False, backlog=10, backlog_age_s=59.0), LIMITS)
    assert report.ok
    assert "within limits" in report.as_json()["checks"]["broker"]["detail"]


def test_broker_away_with_too_many_queued_is_not_ready() -> None:
    report = readiness(sample(broker_connected=False, backlog=11), LIMITS)
    assert failing(report.checks) == ["broker"]
    assert "11 results queued > 10" in report.as_json()["checks"]["broker"]["detail"]


def test_broker_away_with_too_old_a_backlog_is_not_ready() -> None:
    report = readiness(sample(broker_connected=False, backlog=3, backlog_age_s=61.0), LIMITS)
    assert failing(report.checks) == ["broker"]


def test_broker_away_with_unknown_backlog_is_not_ready() -> None:
    assert failing(readiness(sample(broker_connected=False, backlog=None), LIMITS).checks) == ["broker"]


def test_stopping_is_not_ready_but_alive() -> None:
    s = sample(stopping=True)
    assert liveness(s).ok
    assert failing(readiness(s, LIMITS).checks) == ["running"]


def test_report_json_says_ok_or_fail() -> None:
    assert readiness(sample(), LIMITS).as_json()["status"] == "ok"
    assert readiness(sample(frames_done=0), LIMITS).as_json()["status"] == "fail"


def test_probe_prefers_the_outbox_backlog_over_the_mqtt_queue() -> None:
    # given Stats with both the MQTT client's queue and an outbox depth and age
    stats = Stats()
    stats.gauges["mqtt.pending"] = lambda: 3.0
    probe = HealthProbe(stats, broker_connected=lambda: False)
    assert probe.sample().backlog == 3
    assert probe.sample().backlog_age_s is None
    # when an outbox is wired later / then the probe reads it at the next sample
    stats.gauges["outbox.depth"] = lambda: 7.0
    stats.gauges["outbox.oldest_age_s"] = lambda: 12.5
    got = probe.sample()
    assert (got.backlog, got.backlog_age_s) == (7, 12.5)


def test_probe_counts_frames_and_names_crashed_stages() -> None:
    stats = Stats()
    stats.verdict(Verdict.PASS)
    stats.verdict(Verdict.NG)
    stats.count("stage_crash.decide")
    got = HealthProbe(stats, broker_connected=lambda: True, stopping=lambda: True).sample()
    assert got.frames_done == 2
    assert got.crashed_stages == ("decide",)
    assert got.stopping
    assert got.backlog is None


def test_a_failing_backlog_gauge_makes_the_backlog_unknown_not_the_probe_fail() -> None:
    stats = Stats()

    def broken() -> float:
        raise RuntimeError("database is locked")

    stats.gauges["outbox.depth"] = broken
    got = HealthProbe(stats, broker_connected=lambda: False).sample()
    assert got.backlog is None
    assert not readiness(got, LIMITS).ok
