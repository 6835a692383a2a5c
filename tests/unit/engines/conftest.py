"""Fixtures shared by the engine tests."""

from __future__ import annotations

import pytest

from edge_inspect.model import ModelPackage, load_package
from tests.helpers.fragile_model import write_fragile_package


@pytest.fixture(scope="module")
def fragile(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    """A package whose model fails inside OpenVINO for any pixel >= 1.0 (tests.helpers.fragile_model)."""
    return load_package(write_fragile_package(tmp_path_factory.mktemp("fragile")))
