"""TLS to the broker from ``mqtt.tls``: an ``ssl.SSLContext`` and the set-up hook for the paho client.

Files are loaded at start-up, so a missing CA, a certificate that does not match its key or an
unreadable key is a ConfigError naming the field and the file, before any connection is tried.

A TLS handshake that fails later (a wrong CA, an expired or mismatched server certificate) happens
inside paho's reconnect loop, which swallows the reason and retries. The context made here reports
each failed handshake through ``on_failure`` (logged as an error naming the broker and the reason), so
the operator sees why; meanwhile results keep queueing and are sent once the handshake succeeds.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import structlog

from edge_inspect.config.mqtt import MqttConfig, TlsConfig
from edge_inspect.errors import ConfigError
from edge_inspect.publish.credentials import secret_path, with_password

log = structlog.get_logger(__name__)

HandshakeFailure = Callable[[ssl.SSLError], None]
TlsSetup = Callable[[mqtt.Client], None]
_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
FAILURE_COUNTER = "mqtt.tls_handshake_failures"


class HandshakeReporter:
    """Logs failed TLS handshakes: the first of each distinct reason as an error, repeats at debug.

    paho retries every few seconds; an error line per attempt would flood the journal for a fault that
    has one cause. ``failures`` counts every attempt (for metrics and tests).
    """

    def __init__(self, host: str, port: int, count: Callable[[str], None] | None = None) -> None:
        self.host = host
        self.port = port
        self.count = count
        self.failures = 0
        self.last_reason: str | None = None
        self._lock = threading.Lock()

    def __call__(self, error: ssl.SSLError) -> None:
        reason = describe_ssl_error(error)
        with self._lock:
            self.failures += 1
            repeated = reason == self.last_reason
            self.last_reason = reason
        if self.count is not None:
            self.count(FAILURE_COUNTER)
        if repeated:
            log.debug("TLS handshake with broker failed again", host=self.host, port=self.port, reason=reason)
        else:
            log.error(
                "TLS handshake with broker failed; results are kept and sent once it succeeds",
                host=self.host,
                port=self.port,
                reason=reason,
            )


def describe_ssl_error(error: ssl.SSLError) -> str:
    """A one-line reason: OpenSSL's verify message when there is one (``certificate has expired``)."""
    verify = getattr(error, "verify_message", None)
    reason = getattr(error, "reason", None)
    if verify:
        return f"certificate verify failed: {verify}"
    if reason:
        return str(reason).replace("_", " ").lower()
    return str(error)


def build_ssl_context(
    config: TlsConfig,
    *,
    on_failure: HandshakeFailure | None = None,
    environ: Mapping[str, str] | None = None,
) -> ssl.SSLContext:
    """A client context: CA (or the system's trust store), optional client certificate, hostname check."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the chain and the host name
    context.minimum_version = _VERSIONS[config.min_version]
    if config.ciphers is not None:
        try:
            context.set_ciphers(config.ciphers)
        except ssl.SSLError as exc:
            raise ConfigError([f"mqtt.tls.ciphers: {config.ciphers!r} selects no cipher: {exc}"]) from exc
    if config.ca_file is not None:
        ca = _existing(config.ca_file, "mqtt.tls.ca_file", environ)
        try:
            context.load_verify_locations(cafile=str(ca))
        except (ssl.SSLError, ValueError) as exc:
            raise ConfigError([f"mqtt.tls.ca_file: {ca} holds no usable PEM certificate: {exc}"]) from exc
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    if config.cert_file is not None and config.key_file is not None:
        cert = _existing(config.cert_file, "mqtt.tls.cert_file", environ)
        key = _existing(config.key_file, "mqtt.tls.key_file", environ)
        try:
            context.load_cert_chain(certfile=str(cert), keyfile=str(key))
        except ssl.SSLError as exc:
            msg = (
                f"mqtt.tls.cert_file / key_file: {cert} and {key} are not a matching PEM certificate "
                f"and unencrypted private key: {describe_ssl_error(exc)}"
            )
            raise ConfigError([msg]) from exc
    context.check_hostname = not config.insecure
    if on_failure is not None:
        context.sslsocket_class = _reporting_socket_class(on_failure)
    return context


def connection_security(
    config: MqttConfig,
    *,
    count: Callable[[str], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[MqttConfig, TlsSetup | None]:
    """What a client needs to connect: the config with its password read, and the TLS hook (or None).

    Called once at start-up, so every unreadable secret or certificate stops the daemon with a
    ConfigError before it inspects anything; failed handshakes later are logged and counted.
    """
    ready = with_password(config, environ)
    if config.tls is None:
        return ready, None
    reporter = HandshakeReporter(config.host, config.port, count)
    return ready, tls_setup(config.tls, on_failure=reporter, environ=environ)


def tls_setup(
    config: TlsConfig, *, on_failure: HandshakeFailure | None = None, environ: Mapping[str, str] | None = None
) -> TlsSetup:
    """The hook ``MqttPublisher(tls=...)`` calls on its paho client. Files are loaded here, at once."""
    context = build_ssl_context(config, on_failure=on_failure, environ=environ)

    def apply(client: mqtt.Client) -> None:
        client.tls_set_context(context)
        client.tls_insecure_set(config.insecure)

    return apply


def _existing(path: Path, field: str, environ: Mapping[str, str] | None) -> Path:
    real = secret_path(path, field, environ)
    try:
        with real.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError([f"{field}: cannot read {real}: {exc.strerror or exc}"]) from exc
    return real


def _reporting_socket_class(on_failure: HandshakeFailure) -> type[ssl.SSLSocket]:
    """An ``SSLSocket`` whose failed handshakes are reported before paho swallows them."""

    class ReportingSSLSocket(ssl.SSLSocket):
        def do_handshake(self, *args: Any, **kwargs: Any) -> None:
            try:
                super().do_handshake(*args, **kwargs)
            except ssl.SSLError as exc:
                try:
                    on_failure(exc)
                except Exception:  # a reporting bug must not change how the connection fails
                    log.exception("TLS failure report failed")
                raise

    return ReportingSSLSocket
