"""systemd notification: real datagrams on a real AF_UNIX socket, as systemd would receive them."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_inspect.runtime.notify import SystemdNotifier, socket_address, watchdog_interval_s


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: a bound datagram socket (a path, or an abstract name)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.settimeout(2.0)

    def receive(self) -> str:
        return self.sock.recv(4096).decode()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd_path(tmp_path: Path) -> Iterator[FakeSystemd]:
    listener = FakeSystemd(str(tmp_path / "notify.sock"))
    yield listener
    listener.close()


@pytest.fixture
def systemd_abstract() -> Iterator[FakeSystemd]:
    listener = FakeSystemd(f"@edge-inspect-test-{uuid.uuid4().hex}")
    yield listener
    listener.close()


def test_given_notify_socket_when_ready_watchdog_stopping_then_systemd_receives_each(
    systemd_path: FakeSystemd,
) -> None:
    notifier = SystemdNotifier.from_env({"NOTIFY_SOCKET": systemd_path.address})

    assert notifier.ready("first frame processed")
    assert systemd_path.receive() == "READY=1\nSTATUS=first frame processed"
    assert notifier.watchdog()
    assert systemd_path.receive() == "WATCHDOG=1"
    assert notifier.stopping()
    assert systemd_path.receive() == "STOPPING=1"
    assert notifier.sent == ["READY=1\nSTATUS=first frame processed", "WATCHDOG=1", "STOPPING=1"]


def test_given_an_abstract_socket_name_when_notifying_then_it_is_reached(
    systemd_abstract: FakeSystemd,
) -> None:
    notifier = SystemdNotifier(systemd_abstract.address)

    assert notifier.status("inspecting")
    assert systemd_abstract.receive() == "STATUS=inspecting"


def test_given_no_notify_socket_when_notifying_then_nothing_happens() -> None:
    notifier = SystemdNotifier.from_env({})

    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.watchdog()
    assert notifier.sent == []


def test_given_a_socket_that_went_away_when_notifying_then_it_fails_quietly(tmp_path: Path) -> None:
    notifier = SystemdNotifier(str(tmp_path / "gone.sock"))

    assert not notifier.watchdog()
    assert not notifier.watchdog()  # logged once, never raised


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": str(os.getpid())}, 5.0),
        ({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
    ],
)
def test_watchdog_interval_comes_from_the_environment_when_meant_for_us(
    environ: dict[str, str], expected: float | None
) -> None:
    assert watchdog_interval_s(environ) == expected
