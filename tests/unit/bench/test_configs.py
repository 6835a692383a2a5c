"""How the bench turns a station config into each mode's config, and keeps the station's state untouched."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspect.bench.configs import (
    BENCH_TOPIC_SUFFIX,
    bench_config,
    naive_engine_config,
    passes_for,
    replay_source,
    samples_path,
)
from edge_inspect.config import AppConfig, build_config
from edge_inspect.config.engines import OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.errors import ConfigError


def station(tmp_path: Path, **sections: object) -> AppConfig:
    data = {
        "station": "line-4",
        "camera": "top",
        "source": {"type": "replay", "path": str(tmp_path / "images"), "ground_truth": None, "fps": 5},
        "model": {"path": str(tmp_path / "model")},
        "mqtt": {"host": "mes.example", "port": 8883, "topic_prefix": "plant/aoi"},
        **sections,
    }
    return build_config(data, source="station.yaml", base_dir=tmp_path)


def test_given_a_station_when_configured_for_the_bench_then_topics_broker_and_session_are_the_benchs(
    tmp_path: Path,
) -> None:
    config = station(tmp_path)
    source = replay_source(config, str(tmp_path / "images"), passes=3)
    bench = bench_config(config, source, tmp_path / "scratch", ("127.0.0.1", 1884))
    assert bench.source == source
    assert bench.mqtt.topic_prefix == "plant/aoi" + BENCH_TOPIC_SUFFIX  # MES never sees bench results
    assert (bench.mqtt.host, bench.mqtt.port) == ("127.0.0.1", 1884)
    assert bench.mqtt.session_expiry_s == 0
    assert bench.mqtt.qos == 1
    assert bench.mqtt.client_id is not None
    assert bench.mqtt.client_id.startswith("edge-inspect-bench-")
    assert bench.model == config.model
    assert bench.engine == config.engine


def test_given_the_config_broker_when_configured_then_host_and_port_stay(tmp_path: Path) -> None:
    config = station(tmp_path, mqtt={"host": "mes.example", "port": 8883, "qos": 2})
    bench = bench_config(config, replay_source(config, "x", passes=1), tmp_path / "s", None)
    assert (bench.mqtt.host, bench.mqtt.port) == ("mes.example", 8883)
    assert bench.mqtt.qos == 2  # QoS 1 is the floor: a frame counts at its acknowledgement


def test_given_durable_state_when_configured_then_it_moves_into_the_scratch_folder(tmp_path: Path) -> None:
    state = tmp_path / "var" / "lib" / "edge-inspect"
    config = station(tmp_path, paths={"state_dir": str(state)}, outbox={"path": str(state / "box.sqlite3")})
    bench = bench_config(config, replay_source(config, "x", passes=1), tmp_path / "scratch", None)
    assert bench.paths.state_dir == tmp_path / "scratch" / "state"
    assert bench.outbox.path == tmp_path / "scratch" / "outbox.sqlite3"
    assert config.paths.state_dir == state  # the station's own config is unchanged


def test_the_replay_is_from_memory_flat_out_or_at_the_asked_rate(tmp_path: Path) -> None:
    config = station(tmp_path)
    flat = replay_source(config, "/data/images", passes=4)
    assert (flat.cache_in_memory, flat.fps, flat.loop, flat.drop_policy) == (True, 0.0, 4, "block")
    assert flat.ground_truth is None  # as the station's replay says
    assert replay_source(config, "/data/images", passes=0, fps=25.0).fps == 25.0


def test_the_naive_loop_gets_one_request_at_a_time_with_every_thread() -> None:
    engine = OpenVINOEngineConfig(type="openvino", num_requests=4, num_streams=2, num_threads=2)
    naive = naive_engine_config(engine)
    assert (naive.performance_hint, naive.num_requests, naive.num_streams) == ("LATENCY", 1, None)
    assert naive.num_threads == 2
    trt = TensorRTEngineConfig(type="tensorrt")
    assert naive_engine_config(trt) is trt


def test_passes_cover_at_least_the_frames_asked() -> None:
    assert passes_for(200, 40) == 5
    assert passes_for(201, 40) == 6
    with pytest.raises(ValueError, match="frames and files"):
        passes_for(10, 0)


def test_given_a_camera_source_and_no_samples_when_resolved_then_the_error_asks_for_samples(
    tmp_path: Path,
) -> None:
    config = station(tmp_path)
    assert samples_path(config, None) == str(tmp_path / "images")
    with pytest.raises(ConfigError, match="--samples"):
        samples_path(config, tmp_path / "nowhere")
    camera = station(tmp_path, source={"type": "pylon", "serial": "40012345"})
    with pytest.raises(ConfigError, match="give it a folder of images with --samples DIR"):
        samples_path(camera, None)
