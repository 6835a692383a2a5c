"""TLS set-up from ``mqtt.tls``: files load at start with errors naming field and file; failed handshakes
are reported with their reason (paho itself would swallow it)."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from edge_inspect.config.mqtt import TlsConfig
from edge_inspect.errors import ConfigError
from edge_inspect.publish.tls import HandshakeReporter, build_ssl_context, describe_ssl_error
from tests.helpers.certs import Pki, make_other_ca, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_server(pki: Pki) -> Iterator[int]:
    """A TLS server on 127.0.0.1 with the test server certificate; it accepts and closes connections."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(1)
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    stop.set()
    thread.join(5)
    listener.close()


def handshake(context: ssl.SSLContext, port: int, host: str = "127.0.0.1") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        sock = context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        sock.do_handshake()
        sock.close()


def test_the_right_ca_completes_a_handshake(pki: Pki, tls_server: int) -> None:
    failures: list[ssl.SSLError] = []
    context = build_ssl_context(TlsConfig(ca_file=pki.ca), on_failure=failures.append)
    handshake(context, tls_server)
    assert failures == []


def test_a_wrong_ca_fails_and_is_reported_with_the_verify_reason(
    pki: Pki, tls_server: int, tmp_path: Path
) -> None:
    # given a station that trusts another CA
    failures: list[ssl.SSLError] = []
    context = build_ssl_context(TlsConfig(ca_file=make_other_ca(tmp_path)), on_failure=failures.append)
    # when it connects / then the handshake fails as before, and the reporter saw why
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(context, tls_server)
    assert len(failures) == 1
    assert describe_ssl_error(failures[0]).startswith("certificate verify failed: ")
    assert "issuer" in describe_ssl_error(failures[0])


def test_a_host_name_mismatch_fails_unless_insecure(pki: Pki, tls_server: int) -> None:
    failures: list[ssl.SSLError] = []
    strict = build_ssl_context(TlsConfig(ca_file=pki.ca), on_failure=failures.append)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(strict, tls_server, host="broker.example.com")
    assert "mismatch" in describe_ssl_error(failures[0]).lower()
    handshake(
        build_ssl_context(TlsConfig(ca_file=pki.ca, insecure=True)), tls_server, host="broker.example.com"
    )


def test_the_reporter_logs_an_error_once_per_reason_and_counts_every_failure() -> None:
    reporter = HandshakeReporter("broker", 8883)
    error = ssl.SSLError(1, "boom")
    with capture_logs() as logs:
        reporter(error)
        reporter(error)
    assert reporter.failures == 2
    assert [entry["log_level"] for entry in logs] == ["error", "debug"]
    assert logs[0]["host"] == "broker"
    assert logs[0]["port"] == 8883


def test_a_missing_ca_file_names_the_field_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(ConfigError, match=rf"mqtt.tls.ca_file: cannot read {missing}"):
        build_ssl_context(TlsConfig(ca_file=missing))


def test_a_ca_file_without_certificates_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"mqtt.tls.ca_file: .*junk.pem holds no usable PEM certificate"):
        build_ssl_context(TlsConfig(ca_file=junk))


def test_a_client_key_that_does_not_match_its_certificate_is_refused(pki: Pki) -> None:
    config = TlsConfig(ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.server_key)
    with pytest.raises(ConfigError, match=r"mqtt.tls.cert_file / key_file: .* are not a matching"):
        build_ssl_context(config)


def test_credential_paths_resolve_under_credentials_directory(pki: Pki) -> None:
    # given the client key delivered by systemd LoadCredential= into $CREDENTIALS_DIRECTORY
    config = TlsConfig.model_validate(
        {
            "ca_file": str(pki.ca),
            "cert_file": str(pki.client_cert),
            "key_file": "$CREDENTIALS_DIRECTORY/client.key",
        }
    )
    # when built with that variable set / then it loads; unset / then the error says what to do
    build_ssl_context(config, environ={"CREDENTIALS_DIRECTORY": str(pki.client_key.parent)})
    with pytest.raises(ConfigError, match=r"mqtt.tls.key_file: .*CREDENTIALS_DIRECTORY, which is not set"):
        build_ssl_context(config, environ={})


def test_a_cipher_list_selecting_nothing_is_refused(pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"mqtt.tls.ciphers"):
        build_ssl_context(TlsConfig(ca_file=pki.ca, ciphers="NO-SUCH-CIPHER"))


def test_minimum_version_is_applied(pki: Pki) -> None:
    assert (
        build_ssl_context(TlsConfig(ca_file=pki.ca, min_version="1.3")).minimum_version
        is ssl.TLSVersion.TLSv1_3
    )
