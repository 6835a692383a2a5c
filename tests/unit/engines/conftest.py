"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest

from edge_inspect.model import ModelPackage, load_package
from tests.helpers.fragile_model import SIZE, write_fragile_package
from tests.helpers.tiny_model import make_tiny_package


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    """The tiny segmentation package, fp32 only, at the fragile model's size (test_openvino has its own)."""
    return load_package(make_tiny_package(tmp_path_factory.mktemp("tiny"), size=SIZE, variants=("fp32",)))


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    """A package whose model fails inside OpenVINO for any pixel >= 1.0 (tests.helpers.fragile_model)."""
    return load_package(write_fragile_package(tmp_path_factory.mktemp("fragile")))
