"""Secrets for the broker connection: ``$CREDENTIALS_DIRECTORY`` paths and the password file.

Read at start-up, not at config validation, so ``edge-inspect check-config`` runs outside systemd, and a
missing or unreadable secret is reported naming the config field and the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

from edge_inspect.config.mqtt import CREDENTIALS_VAR, MqttConfig
from edge_inspect.errors import ConfigError

_PREFIX = f"${CREDENTIALS_VAR}/"


def secret_path(path: Path, field: str, environ: Mapping[str, str] | None = None) -> Path:
    """``path`` with a leading ``$CREDENTIALS_DIRECTORY/`` replaced by the variable's value."""
    text = str(path)
    if not text.startswith(_PREFIX):
        return path
    env = os.environ if environ is None else environ
    folder = env.get(CREDENTIALS_VAR)
    if not folder:
        msg = (
            f"{field}: {text} names ${CREDENTIALS_VAR}, which is not set: run under systemd with "
            f"LoadCredential= (see systemd/edge-inspect.service), or give an absolute path"
        )
        raise ConfigError([msg])
    return Path(folder) / text[len(_PREFIX) :]


def read_secret(path: Path, field: str, environ: Mapping[str, str] | None = None) -> str:
    """The text of a one-line secret file, without its trailing newline; never empty."""
    real = secret_path(path, field, environ)
    try:
        text = real.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{field}: cannot read {real}: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{field}: {real} is not UTF-8 text: {exc.reason}"]) from exc
    secret = text.rstrip("\r\n")
    if not secret:
        raise ConfigError([f"{field}: {real} is empty"])
    return secret


def with_password(config: MqttConfig, environ: Mapping[str, str] | None = None) -> MqttConfig:
    """``config`` with ``password`` read from ``password_file`` (when set), ready for the MQTT client."""
    if config.password_file is None:
        return config
    password = read_secret(config.password_file, "mqtt.password_file", environ)
    return config.model_copy(update={"password": SecretStr(password), "password_file": None})
