"""`edge-inspect cameras` lists what pylon sees, as an integrator runs it: a real sub-process."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers.daemon import run_cli
from tests.helpers.pylon_emulator import SERIALS, emulator_env, require_emulator


@pytest.fixture(autouse=True)
def emulator() -> None:
    require_emulator()


def test_given_two_emulated_cameras_when_listing_then_a_table_names_serial_model_and_interface() -> None:
    proc = run_cli("cameras", env=emulator_env(2), timeout=60)

    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["SERIAL", "MODEL", "USER", "NAME", "IP", "INTERFACE"]
    rows = [line.split() for line in lines[1:]]
    assert [row[0] for row in rows] == list(SERIALS)
    assert all(row[-1] == "emulation" for row in rows)


def test_given_one_emulated_camera_when_listing_as_json_then_every_field_is_there() -> None:
    proc = run_cli("cameras", "--json", env=emulator_env(1), timeout=60)

    assert proc.returncode == 0, proc.stderr
    cameras = json.loads(proc.stdout)
    assert [c["serial"] for c in cameras] == [SERIALS[0]]
    assert set(cameras[0]) == {"serial", "model", "user_name", "ip_address", "interface", "device_class"}


def test_given_no_camera_when_listing_then_it_says_so_and_exits_0() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYLON_CAMEMU"}

    proc = run_cli("cameras", env=env, timeout=60)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("no cameras found")
