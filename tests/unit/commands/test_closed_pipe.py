"""A command whose reader goes away (``edge-inspect config-schema | head``) ends quietly, status 0."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.daemon import ROOT, command


@pytest.mark.parametrize(
    "args", [("config-schema",), ("check-config", "--syntax-only", "config/replay.yaml")]
)
def test_given_a_reader_that_closes_the_pipe_when_a_command_prints_then_no_traceback(
    args: tuple[str, ...],
) -> None:
    for _ in range(5):  # the race between the reader's close and our writes went both ways before
        proc = subprocess.Popen(
            command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, bufsize=0
        )
        assert proc.stdout is not None
        proc.stdout.read(10)
        proc.stdout.close()  # as `head -c 10` does
        _, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err.decode()
        assert b"BrokenPipeError" not in err
        assert proc.returncode == 0
