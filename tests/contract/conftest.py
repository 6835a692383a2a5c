"""The contract's fixtures: one engine per case in CASES, opened once per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.cases import CASES, EngineCase, Opened, open_case


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> EngineCase:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def opened(case: EngineCase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    result = open_case(case, tmp_path_factory.mktemp("engine"))
    yield result
    result.engine.close()
