"""The missing-extra message names the whole install line, the CPU torch first for training."""

from __future__ import annotations

from edge_inspect.errors import CPU_TORCH, MissingDependencyError


def test_given_the_train_extra_missing_then_the_message_installs_cpu_torch_before_the_extra() -> None:
    message = str(MissingDependencyError("torch", "train", "Training"))

    assert f"{CPU_TORCH} && pip install 'edge-inspect[train]'" in message
    assert "download.pytorch.org/whl/cpu" in message
    assert message.index("torch==2.13.0") < message.index("edge-inspect[train]")


def test_given_another_extra_missing_then_the_message_is_the_plain_extra() -> None:
    message = str(MissingDependencyError("pypylon", "pylon", "A Basler camera"))

    assert message.endswith("Install it with: pip install 'edge-inspect[pylon]'")


def test_given_the_plc_extra_missing_then_the_message_names_it() -> None:
    message = str(MissingDependencyError("pymodbus", "plc", "The PLC handshake (plc.type: modbus)"))

    assert message.endswith("Install it with: pip install 'edge-inspect[plc]'")
