"""Broker secrets: the password file and ``$CREDENTIALS_DIRECTORY`` paths (systemd LoadCredential=)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.errors import ConfigError
from edge_inspect.publish.credentials import read_secret, with_password


def test_the_password_comes_from_the_credentials_directory(tmp_path: Path) -> None:
    # given systemd put the password into $CREDENTIALS_DIRECTORY/mqtt_password, with a trailing newline
    (tmp_path / "mqtt_password").write_text("s3cret\n")
    config = MqttConfig(username="station-1", password_file=Path("$CREDENTIALS_DIRECTORY/mqtt_password"))
    # when the connection settings are prepared
    ready = with_password(config, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    # then the password is the file's line, and the file setting is spent
    assert ready.password is not None
    assert ready.password.get_secret_value() == "s3cret"
    assert ready.password_file is None
    assert "s3cret" not in repr(ready)


def test_without_a_password_file_the_config_is_unchanged() -> None:
    config = MqttConfig(username="u")
    assert with_password(config) is config


def test_an_empty_password_file_is_an_error_naming_it(tmp_path: Path) -> None:
    empty = tmp_path / "pw"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=rf"mqtt.password_file: {empty} is empty"):
        read_secret(empty, "mqtt.password_file")


def test_a_missing_password_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"mqtt.password_file: cannot read .*/nope: No such file"):
        with_password(MqttConfig(username="u", password_file=tmp_path / "nope"))


def test_credentials_directory_unset_says_how_to_fix_it() -> None:
    config = MqttConfig(username="u", password_file=Path("$CREDENTIALS_DIRECTORY/mqtt_password"))
    with pytest.raises(ConfigError, match=r"LoadCredential="):
        with_password(config, environ={})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "u", "password": "x", "password_file": "/p"}, "not both"),
        ({"password_file": "/p"}, "password_file needs username"),
        ({"username": "u", "password_file": "$HOME/pw"}, r"only \$CREDENTIALS_DIRECTORY"),
        ({"tls": {"cert_file": "/c.pem"}}, "cert_file and key_file go together"),
    ],
)
def test_inconsistent_secrets_are_config_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MqttConfig.model_validate(fields)
