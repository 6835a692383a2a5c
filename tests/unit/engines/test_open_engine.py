"""open_engine: the plug-in the config names, after resolving a config that stands for another."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from edge_inspect.config.engines import AutoEngineConfig, OpenVINOEngineConfig
from edge_inspect.engines import open_engine
from edge_inspect.engines.openvino import OpenVINOEngine
from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from edge_inspect.types import Engine


@dataclass(frozen=True)
class StandsFor:
    """A config that resolves to ``target`` (as ``type: auto`` does after probing the machine)."""

    target: Any

    def resolve(self) -> Any:
        return self.target


def test_an_openvino_config_opens_the_openvino_engine(tiny: ModelPackage) -> None:
    engine = open_engine(OpenVINOEngineConfig(type="openvino"), tiny)
    try:
        assert isinstance(engine, OpenVINOEngine)
        assert isinstance(engine, Engine)
        assert engine.infer(np.zeros((1, 1, 32, 32), np.float32)).shape == (1, 1, 32, 32)
    finally:
        engine.close()


def test_a_resolvable_config_is_resolved_first(tiny: ModelPackage) -> None:
    concrete = OpenVINOEngineConfig(type="openvino", num_requests=3)
    engine = open_engine(StandsFor(StandsFor(concrete)), tiny, "fp32")
    try:
        assert isinstance(engine, OpenVINOEngine)
        assert engine.runtime.requests == 3
    finally:
        engine.close()


def test_auto_resolves_to_an_engine_this_machine_runs(tiny: ModelPackage) -> None:
    engine = open_engine(AutoEngineConfig(type="auto", backends=("openvino",)), tiny)
    try:
        assert isinstance(engine, OpenVINOEngine)
    finally:
        engine.close()


def test_a_config_that_never_resolves_is_an_error(tiny: ModelPackage) -> None:
    @dataclass(frozen=True)
    class Loop:
        def resolve(self) -> Any:
            return self

    with pytest.raises(EngineError, match="Loop did not resolve to a concrete engine"):
        open_engine(Loop(), tiny)
